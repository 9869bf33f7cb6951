package wire

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// uploadReader is the io.Reader a HostBackend reads an uploaded attachment
// from. It pulls chunks from the gRPC stream as it is read (so memory holds
// one chunk, never the file) and checks the declared size and digest.
type uploadReader struct {
	recv   func() (*pb.AttachmentChunk, error)
	buf    []byte
	header StagedHeader
	n      int64
	sum    hash.Hash
	err    error
}

func newUploadReader(recv func() (*pb.AttachmentChunk, error), first []byte, h StagedHeader) *uploadReader {
	r := &uploadReader{recv: recv, buf: first, header: h}
	if h.SHA256 != "" {
		r.sum = sha256.New()
	}
	return r
}

// Read implements io.Reader over the attachment chunk stream.
func (r *uploadReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, err := r.recv()
		if errors.Is(err, io.EOF) {
			r.err = r.finish()
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("receive attachment %q: %w", r.header.Filename, err)
			continue
		}
		if chunk.GetHeader() != nil {
			r.err = &errBadUpload{msg: "header repeated after the first chunk"}
			continue
		}
		r.buf = chunk.GetData()
		r.n += int64(len(r.buf))
		if r.header.Size >= 0 && r.n > r.header.Size {
			r.buf = nil
			r.err = &errBadUpload{msg: fmt.Sprintf("%q is longer than its declared size %d", r.header.Filename, r.header.Size)}
		}
	}
	n := copy(p, r.buf)
	if r.sum != nil {
		r.sum.Write(p[:n])
	}
	r.buf = r.buf[n:]
	return n, nil
}

// finish runs at the end of the stream: the size and digest must match
// what the header announced.
func (r *uploadReader) finish() error {
	if r.header.Size >= 0 && r.n != r.header.Size {
		return &errBadUpload{msg: fmt.Sprintf("%q has %d bytes, declared %d", r.header.Filename, r.n, r.header.Size)}
	}
	if r.sum != nil {
		got := hex.EncodeToString(r.sum.Sum(nil))
		if !strings.EqualFold(got, r.header.SHA256) {
			return &errBadUpload{msg: fmt.Sprintf("%q does not match its declared sha256", r.header.Filename)}
		}
	}
	return io.EOF
}

// downloadReader is the io.ReadCloser the plugin reads a stored attachment
// from (Host.OpenAttachment): one chunk in memory at a time.
type downloadReader struct {
	recv   func() (*pb.AttachmentChunk, error)
	cancel context.CancelFunc
	id     string
	buf    []byte
	err    error
}

// Read implements io.Reader over the attachment chunk stream.
func (r *downloadReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, err := r.recv()
		switch {
		case errors.Is(err, io.EOF):
			r.err = io.EOF
		case err != nil:
			r.err = fromStatus("read attachment "+r.id, err)
		default:
			r.buf = chunk.GetData()
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close ends the stream early if it is not finished.
func (r *downloadReader) Close() error {
	r.cancel()
	if r.err == nil {
		r.err = errors.New("read attachment " + r.id + ": reader closed")
	}
	return nil
}

// sendChunks reads src in ChunkSize pieces and sends each as a chunk, the
// first one carrying header (when not nil). It always sends at least one
// chunk. It returns io.EOF from send unchanged (the receiver has answered
// early) and wraps read errors.
func sendChunks(src io.Reader, header *pb.AttachmentHeader, send func(*pb.AttachmentChunk) error) error {
	first := true
	for {
		// A fresh buffer per chunk: gRPC may keep a sent message after Send
		// returns, so a buffer must not be reused.
		buf := make([]byte, ChunkSize)
		n, rerr := io.ReadFull(src, buf)
		if n > 0 || first {
			chunk := &pb.AttachmentChunk{Data: buf[:n]}
			if first {
				chunk.Header = header
				first = false
			}
			if err := send(chunk); err != nil {
				return err
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return fmt.Errorf("read attachment source: %w", rerr)
		}
	}
}

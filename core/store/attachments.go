package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// Attachment errors.
var (
	// ErrAttachmentTooLarge is returned by WriteAttachment when the stream
	// exceeds the limit; nothing of it is kept.
	ErrAttachmentTooLarge = errors.New("attachment exceeds the size limit")
	// ErrChecksum is returned when the stream does not match its SHA-256.
	ErrChecksum = errors.New("attachment SHA-256 mismatch")
)

// ChunkSize is the size of one stored attachment chunk.
const ChunkSize = 256 << 10

// chunksPerUpdate bounds the bytes of one attachment write (4 MiB).
const chunksPerUpdate = 16

// AttachmentMeta describes a stored (or staged, or rejected) file.
type AttachmentMeta struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	Instance    string `json:"instance,omitempty"`
	Chunks      uint32 `json:"chunks"`
	Complete    bool   `json:"complete"`
	Staged      bool   `json:"staged"`
	Rejected    bool   `json:"rejected,omitempty"`
	// Raw marks a message's raw payload kept in chunks (a large one): it
	// belongs to its comment's raw record, not to its attachments.
	Raw       bool      `json:"raw,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	TicketID  uint64    `json:"ticket_id,omitempty"`
	CommentID uint64    `json:"comment_id,omitempty"`
}

// Attachment returns an attachment's metadata, or ErrNotFound.
func (r *ReadTx) Attachment(id string) (*AttachmentMeta, error) {
	var m AttachmentMeta
	ok, err := r.getJSON(attMetaKey(id), &m)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("attachment %s: %w", id, ErrNotFound)
	}
	return &m, nil
}

// StageRejected records a refused file (name and reason, no bytes) as a
// staged attachment, so that a following Deliver can name it in a note.
func (s *Store) StageRejected(ctx context.Context, m *AttachmentMeta) error {
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	m.Rejected, m.Staged, m.Complete, m.Chunks = true, true, true, 0
	return s.Update(ctx, func(tx *Tx) error {
		m.CreatedAt = tx.now
		tx.set(stagedAtKey(m.CreatedAt, m.ID), nil)
		return tx.setJSON(attMetaKey(m.ID), m)
	})
}

// WriteAttachment streams r into the store as a staged attachment: chunks
// of ChunkSize, committed a few MiB at a time (so a 20 MiB file never sits
// whole in memory), then the metadata. More than limit bytes (limit > 0)
// is ErrAttachmentTooLarge and a SHA256 set in m that does not match is
// ErrChecksum; in both cases the written chunks are deleted. A crash midway
// leaves an incomplete staged attachment that CollectStaged removes. m.ID
// is assigned; Size, SHA256 and Chunks are filled in.
func (s *Store) WriteAttachment(ctx context.Context, m *AttachmentMeta, r io.Reader, limit int64) error {
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	m.Staged, m.Rejected, m.Complete, m.Chunks, m.Size = true, false, false, 0, 0
	if err := s.Update(ctx, func(tx *Tx) error {
		m.CreatedAt = tx.now
		tx.set(stagedAtKey(m.CreatedAt, m.ID), nil)
		return tx.setJSON(attMetaKey(m.ID), m)
	}); err != nil {
		return err
	}
	h := sha256.New()
	var size int64
	var n uint32
	fail := func(err error) error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.deleteAttachment(cctx, m.ID); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	buf := make([]byte, ChunkSize)
	for done := false; !done; {
		var chunks [][]byte
		for len(chunks) < chunksPerUpdate {
			k, err := io.ReadFull(r, buf)
			if k > 0 {
				size += int64(k)
				if limit > 0 && size > limit {
					return fail(ErrAttachmentTooLarge)
				}
				h.Write(buf[:k])
				chunks = append(chunks, append([]byte(nil), buf[:k]...))
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				done = true
				break
			}
			if err != nil {
				return fail(fmt.Errorf("store: read attachment: %w", err))
			}
		}
		if len(chunks) == 0 {
			break
		}
		first := n
		if err := s.Update(ctx, func(tx *Tx) error {
			for i, c := range chunks {
				tx.set(attChunkKey(m.ID, first+uint32(i)), c)
			}
			return nil
		}); err != nil {
			return fail(err)
		}
		n += uint32(len(chunks))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if m.SHA256 != "" && m.SHA256 != sum {
		return fail(ErrChecksum)
	}
	m.SHA256, m.Size, m.Chunks, m.Complete = sum, size, n, true
	if err := s.Update(ctx, func(tx *Tx) error { return tx.setJSON(attMetaKey(m.ID), m) }); err != nil {
		return fail(err)
	}
	return nil
}

func (s *Store) deleteAttachment(ctx context.Context, id string) error {
	for {
		more := false
		err := s.Update(ctx, func(tx *Tx) error {
			pairs, err := tx.r.scan(attChunkPrefix(id), nil, 64, true)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				tx.del(p.Key)
			}
			if more = len(pairs) == 64; more {
				return nil
			}
			m, err := tx.Attachment(id)
			if errors.Is(err, ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			tx.del(attMetaKey(id))
			if m.Staged {
				tx.del(stagedAtKey(m.CreatedAt, id))
			}
			return nil
		})
		if err != nil || !more {
			return err
		}
	}
}

// ClaimStaged turns a complete staged attachment into a permanent one
// belonging to a comment, so CollectStaged no longer removes it. It returns
// ErrNotFound for an unknown, incomplete or already claimed id.
func (tx *Tx) ClaimStaged(id string, ticketID, commentID uint64) (*AttachmentMeta, error) {
	m, err := tx.Attachment(id)
	if err != nil {
		return nil, err
	}
	if !m.Staged || !m.Complete {
		return nil, fmt.Errorf("staged attachment %s: %w", id, ErrNotFound)
	}
	tx.del(stagedAtKey(m.CreatedAt, id))
	if m.Rejected {
		tx.del(attMetaKey(id))
		return m, nil
	}
	m.Staged, m.TicketID, m.CommentID = false, ticketID, commentID
	return m, tx.setJSON(attMetaKey(id), m)
}

// CollectStaged deletes staged attachments (complete or not, rejected or
// not) created before cutoff and never claimed. It returns how many.
func (s *Store) CollectStaged(ctx context.Context, cutoff time.Time) (int, error) {
	var ids []string
	err := s.View(func(r *ReadTx) error {
		pairs, err := r.r.scan([]byte(pStagedAt), nil, 1<<20, true)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if getU64(p.Key[len(pStagedAt):]) >= uint64(cutoff.UnixNano()) {
				break
			}
			ids = append(ids, string(p.Key[len(pStagedAt)+8:]))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.deleteAttachment(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// OpenAttachment returns a complete, non-rejected attachment's metadata
// and a reader streaming its chunks (one chunk in memory at a time).
func (s *Store) OpenAttachment(id string) (*AttachmentMeta, io.ReadCloser, error) {
	var m *AttachmentMeta
	err := s.View(func(r *ReadTx) error {
		var err error
		m, err = r.Attachment(id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !m.Complete || m.Rejected {
		return nil, nil, fmt.Errorf("attachment %s: %w", id, ErrNotFound)
	}
	return m, &chunkReader{s: s, m: m}, nil
}

type chunkReader struct {
	s      *Store
	m      *AttachmentMeta
	next   uint32
	cur    []byte
	closed bool
}

// Read reads the file, one stored chunk at a time.
func (c *chunkReader) Read(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("store: read on closed attachment")
	}
	for len(c.cur) == 0 {
		if c.next >= c.m.Chunks {
			return 0, io.EOF
		}
		err := c.s.View(func(r *ReadTx) error {
			v, ok, err := r.r.get(attChunkKey(c.m.ID, c.next))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("store: attachment %s chunk %d missing", c.m.ID, c.next)
			}
			c.cur = v
			return nil
		})
		if err != nil {
			return 0, err
		}
		c.next++
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Close releases the current chunk.
func (c *chunkReader) Close() error {
	c.closed = true
	c.cur = nil
	return nil
}

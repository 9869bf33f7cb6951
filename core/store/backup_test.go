package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Input that is not a complete backup is refused with ErrBadBackup (never
// a panic, never a huge allocation), and the data directory is left as it
// was found, so that the restore can be retried with the right file.
func TestRestoreRefusesBadInput(t *testing.T) {
	s := openTest(t)
	mustUpdate(t, s, func(tx *Tx) error {
		for range 20 {
			if err := tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusOpen, Channel: "wa"}); err != nil {
				return err
			}
		}
		return nil
	})
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if len(good) < 16 || !bytes.Equal(good[len(good)-8:], make([]byte, 8)) {
		t.Fatalf("backup of %d bytes does not end with the end frame", len(good))
	}
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty file", nil},
		{"text", []byte("this is not a backup at all, not even close")},
		{"huge frame length", append(huge, 1, 2, 3)},
		{"cut inside a header", good[:4]},
		{"cut inside a frame", good[:len(good)/2]},
		{"end frame missing", good[:len(good)-8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, existed := range []bool{false, true} {
				dir := filepath.Join(t.TempDir(), "store")
				if existed {
					if err := os.Mkdir(dir, 0o700); err != nil {
						t.Fatal(err)
					}
				}
				err := Restore(context.Background(), Options{Dir: dir}, bytes.NewReader(tt.in))
				if !errors.Is(err, ErrBadBackup) {
					t.Fatalf("existed=%v: err = %v, want ErrBadBackup", existed, err)
				}
				entries, statErr := os.ReadDir(dir)
				switch {
				case existed && (statErr != nil || len(entries) != 0):
					t.Fatalf("directory not left empty: %v %v", entries, statErr)
				case !existed && !errors.Is(statErr, os.ErrNotExist):
					t.Fatalf("directory created by the failed restore is still there: %v", statErr)
				}
				// The same directory takes the right backup afterwards.
				if err := Restore(context.Background(), Options{Dir: dir}, bytes.NewReader(good)); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
		})
	}
}

// A store never written to backs up to the end frame alone, which restores
// to an empty store; a closed store refuses to back up.
func TestBackupEmptyAndClosedStore(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 8 {
		t.Fatalf("empty store backup is %d bytes", buf.Len())
	}
	dir := t.TempDir()
	if err := Restore(context.Background(), Options{Dir: dir}, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Error(err)
	}
	r.Close()
	s.Close()
	if err := s.Backup(context.Background(), &buf); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("backup of a closed store: %v", err)
	}
}

// FuzzBackupFraming feeds arbitrary input through the frame checker that
// guards Badger's loader: it never panics, never hands out more bytes than
// it read, and calls a stream complete only when it parses as frames
// ending with the end frame.
func FuzzBackupFraming(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Add(binary.LittleEndian.AppendUint64(nil, 3))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 2), 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := &frameReader{r: bytes.NewReader(in), max: 1 << 16}
		out, err := io.ReadAll(fr)
		if !bytes.Equal(out, in[:len(out)]) {
			t.Fatal("output is not a prefix of the input")
		}
		if err == nil && len(out) != len(in) {
			t.Fatalf("clean end after %d of %d bytes", len(out), len(in))
		}
		if fr.complete() {
			if err != nil || len(in) < 8 || !bytes.Equal(in[len(in)-8:], make([]byte, 8)) {
				t.Fatalf("complete, but err=%v and the input does not end with an end frame", err)
			}
		}
	})
}

// CheckedBackup passes a whole backup through unchanged and fails on one
// that is cut short.
func TestCheckedBackup(t *testing.T) {
	s := openTest(t)
	mustUpdate(t, s, func(tx *Tx) error { return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew}) })
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(CheckedBackup(bytes.NewReader(buf.Bytes())))
	if err != nil || !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("whole backup: %v, %d of %d bytes", err, len(got), buf.Len())
	}
	for _, cut := range []int{0, 3, buf.Len() / 2, buf.Len() - 8} {
		if _, err := io.ReadAll(CheckedBackup(bytes.NewReader(buf.Bytes()[:cut]))); !errors.Is(err, ErrBadBackup) {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// damageOptions are small enough for a fixture to fill a WAL well past one
// commit's torn-tail allowance and big enough to keep it in one memtable.
func damageOptions(dir string) Options {
	return Options{Dir: dir, MemTableSize: 4 << 20, MaxBatchBytes: 1 << 20, GCInterval: -1, MinFreeBytes: -1}
}

// copyDir copies a data directory file by file (not the lock file): taken
// while the store is open and idle, the copy is what a kill -9 leaves.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// damageFixture builds a store: tickets in small commits (WAL records) and
// attachments (value-log records). crashed true returns a copy taken while
// the store was open (WAL and value log as a crash leaves them); false the
// directory after a clean Close (memtables flushed to SST tables).
func damageFixture(t *testing.T, crashed bool) (dir string, tickets int) {
	t.Helper()
	src := t.TempDir()
	s, err := Open(damageOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	subject := strings.Repeat("s", 700)
	for i := 0; i < 150; i++ {
		mustUpdate(t, s, func(tx *Tx) error {
			for j := 0; j < 10; j++ {
				if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint(subject, i, j), Status: ticket.StatusOpen, Channel: "c", RequesterID: 1}); err != nil {
					return err
				}
			}
			return nil
		})
		tickets += 10
	}
	for i := 0; i < 6; i++ {
		m := &AttachmentMeta{Filename: fmt.Sprint("f", i)}
		body := bytes.Repeat([]byte{byte('a' + i), 1, 2, 3}, 1<<20) // 4 MiB
		if err := s.WriteAttachment(ctx, m, bytes.NewReader(body), 0); err != nil {
			t.Fatal(err)
		}
	}
	if !crashed {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return src, tickets
	}
	dir = t.TempDir()
	copyDir(t, src, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, tickets
}

// largest returns the largest file of the directory with the extension.
func largest(t *testing.T, dir, ext string) string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	var best string
	var size int64 = -1
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			best, size = p, fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s file in %s", ext, dir)
	}
	return best
}

// writtenEnd is one past the last non-zero byte of the file.
func writtenEnd(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(bytes.TrimRight(b, "\x00")))
}

func flip8(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xA5
	}
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	cases := []struct {
		name    string
		crashed bool
		ext     string
		damage  func(t *testing.T, path string)
	}{
		{"WAL cut", true, ".mem", func(t *testing.T, p string) {
			if err := os.Truncate(p, writtenEnd(t, p)*4/10); err != nil {
				t.Fatal(err)
			}
		}},
		// A cut whose last bytes happen to be zeros (inside a record) must
		// not pass for the zero-filled rest of a preallocated file.
		{"WAL cut after zero bytes", true, ".mem", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			end := writtenEnd(t, p)
			at := int64(-1)
			for i := end * 4 / 10; i < end-1; i++ {
				if b[i] == 0 && b[i-1] == 0 && b[i-2] != 0 {
					at = i + 1 // the file now ends with two zero bytes
					break
				}
			}
			if at < 0 {
				t.Skip("no zero bytes inside the WAL's data to cut after")
			}
			if err := os.Truncate(p, at); err != nil {
				t.Fatal(err)
			}
		}},
		{"WAL flip", true, ".mem", func(t *testing.T, p string) { flip8(t, p, writtenEnd(t, p)*3/10) }},
		{"vlog flip", true, ".vlog", func(t *testing.T, p string) { flip8(t, p, writtenEnd(t, p)/5) }},
		{"vlog cut", true, ".vlog", func(t *testing.T, p string) {
			if err := os.Truncate(p, writtenEnd(t, p)/2+7); err != nil {
				t.Fatal(err)
			}
		}},
		{"SST flip", false, ".sst", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			flip8(t, p, fi.Size()/3)
		}},
		{"SST block flip", false, ".sst", func(t *testing.T, p string) { flip8(t, p, 64) }},
		{"SST truncation", false, ".sst", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"MANIFEST flip", false, "MANIFEST", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			flip8(t, p, fi.Size()/2)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := damageFixture(t, c.crashed)
			target := largest(t, dir, c.ext)
			c.damage(t, target)
			var logs bytes.Buffer
			opts := damageOptions(dir)
			opts.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
			s, err := Open(opts)
			if err == nil {
				s.Close()
				t.Fatalf("a store with a damaged %s opened", filepath.Base(target))
			}
			t.Log(err)
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error does not wrap ErrDamaged: %v", err)
			}
			for _, want := range []string{filepath.Base(target), "patchbay restore"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if !strings.Contains(logs.String(), filepath.Base(target)) {
				t.Errorf("nothing logged about %s: %q", filepath.Base(target), logs.String())
			}
			// CheckFiles (patchbay check) reports it too.
			if _, err := CheckFiles(context.Background(), opts); !errors.Is(err, ErrDamaged) {
				t.Errorf("CheckFiles = %v, want ErrDamaged", err)
			}
		})
	}
}

// TestOpenUndamagedFixtures: the fixtures themselves open with every
// record, and CheckFiles and Verify find nothing, so the refusals above are
// the damage's doing.
func TestOpenUndamagedFixtures(t *testing.T) {
	for _, crashed := range []bool{true, false} {
		dir, n := damageFixture(t, crashed)
		opts := damageOptions(dir)
		if _, err := CheckFiles(context.Background(), opts); err != nil {
			t.Fatalf("crashed=%v: CheckFiles: %v", crashed, err)
		}
		s, err := Open(opts)
		if err != nil {
			t.Fatalf("crashed=%v: %v", crashed, err)
		}
		var got uint64
		if err := s.View(func(r *ReadTx) error {
			var err error
			got, err = r.LastID(SeqTicket)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != uint64(n) {
			t.Errorf("crashed=%v: %d tickets, want %d", crashed, got, n)
		}
		if err := s.Verify(context.Background()); err != nil {
			t.Errorf("crashed=%v: Verify: %v", crashed, err)
		}
		s.Close()
	}
}

// TestOpenTornTail: garbage of less than one commit right after the
// written end of a WAL is the torn write of a crash: the store opens, with
// every acknowledged record, and says so in the log.
func TestOpenTornTail(t *testing.T) {
	dir, n := damageFixture(t, true)
	p := largest(t, dir, ".mem")
	end := writtenEnd(t, p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x5c}, 3000), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs bytes.Buffer
	opts := damageOptions(dir)
	notes, err := CheckFiles(context.Background(), opts)
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], filepath.Base(p)) {
		t.Fatalf("CheckFiles of a torn tail: %q, %v; want one note naming %s", notes, err, filepath.Base(p))
	}
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got uint64
	_ = s.View(func(r *ReadTx) error { got, _ = r.LastID(SeqTicket); return nil })
	if got != uint64(n) {
		t.Errorf("%d tickets after a torn tail, want %d", got, n)
	}
	if !strings.Contains(logs.String(), "torn") || !strings.Contains(logs.String(), filepath.Base(p)) {
		t.Errorf("torn tail not logged: %q", logs.String())
	}
}

// TestOpenRefusesCutSealedValueLog: an older value-log file (one Badger no
// longer appends to, so Open only walks its record headers) cut in the
// middle is refused, naming the file.
func TestOpenRefusesCutSealedValueLog(t *testing.T) {
	dir, _ := damageFixture(t, false)
	s, err := Open(damageOptions(dir)) // a new value-log file: the old one is sealed
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sealed := filepath.Join(dir, "000001.vlog")
	fi, err := os.Stat(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog")); len(vlogs) < 2 {
		t.Fatalf("value-log files %v: want a sealed one and a newer one", vlogs)
	}
	if err := os.Truncate(sealed, fi.Size()/2+13); err != nil {
		t.Fatal(err)
	}
	_, err = Open(damageOptions(dir))
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "000001.vlog") {
		t.Fatalf("open with a cut sealed value log: %v", err)
	}
}

// TestOpenTornManifestTail: a MANIFEST whose last record was cut while it
// was appended (a crash) opens, with a warning naming it, and every record
// is there; a MANIFEST record with a flipped byte is refused
// (TestOpenRefusesDamagedFiles).
func TestOpenTornManifestTail(t *testing.T) {
	dir, n := damageFixture(t, false)
	p := filepath.Join(dir, "MANIFEST")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A record header claiming 30 bytes, and 10 of them.
	if _, err := f.Write(append([]byte{0, 0, 0, 30, 1, 2, 3, 4}, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs bytes.Buffer
	opts := damageOptions(dir)
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got uint64
	_ = s.View(func(r *ReadTx) error { got, _ = r.LastID(SeqTicket); return nil })
	if got != uint64(n) {
		t.Errorf("%d tickets, want %d", got, n)
	}
	if !strings.Contains(logs.String(), "MANIFEST") {
		t.Errorf("the torn MANIFEST record was not logged: %q", logs.String())
	}
}

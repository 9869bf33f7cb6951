package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Damaged data files.
//
// Badger recovers from a crash by replaying its memtable WALs (*.mem) and
// the newest value-log file (*.vlog) up to the first record that does not
// read back whole, and it cuts the file there. That is right for the torn
// tail of a write that was never acknowledged, and silently wrong for a
// file damaged in the middle: every acknowledged commit after the damage is
// dropped. A flipped bit in an SST table or a value-log record is found
// only when it is read (an SST iterator then simply stops, so listings lose
// entries without an error), and a truncated table makes Badger panic while
// it opens. So Open first checks the files itself (verifyFiles) and refuses
// a damaged store with a DamageError naming the file; Badger is configured
// to verify block and value checksums on every read (options.go); CheckFiles
// (patchbay check) reads every record of every file.
//
// Telling damage from a torn tail: WAL and value-log files are created
// larger than their contents (sparse, zero-filled), and Badger zeroes the
// header after every record it appends, so the written part of a file is
// followed by zeros. A record that does not read back while non-zero bytes
// follow it is either the torn last commit of a crash (at most one commit's
// bytes follow it: tornTailMax) or damage (more follows). A file whose
// non-zero bytes reach its very end was cut short: a preallocated file is
// never written to its end, and a value-log file that was sealed is cut
// exactly at its last record.

// ErrDamaged is wrapped by the error of Open and CheckFiles for a store
// whose data files are damaged.
var ErrDamaged = errors.New("store: damaged data file")

// DamageError describes one damaged data file.
type DamageError struct {
	// File is the path of the damaged file.
	File string
	// Offset is the byte offset where the damage was found (-1: unknown).
	Offset int64
	// Reason says what is wrong.
	Reason string
}

// Error names the file, the offset, what is wrong and the way out.
func (e *DamageError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = fmt.Sprintf(" at byte %d", e.Offset)
	}
	return fmt.Sprintf("store: data file %s is damaged%s: %s; the store is not opened, so nothing is served with holes: restore the data directory from a backup (patchbay restore), see \"Damaged store files\" in docs/operations.md", e.File, at, e.Reason)
}

// Unwrap makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// Badger's log-file layout (memtable.go and value.go of badger v4): a
// 20-byte file header (key id, IV), then records of
// meta, userMeta, uvarint klen, uvarint vlen, uvarint expiresAt, key, value,
// crc32-Castagnoli (big endian) of everything before it.
const (
	logHeaderSize = 20
	bitTxn        = 1 << 6
	bitFinTxn     = 1 << 7
	maxKeyLen     = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logScan is the result of reading a WAL or value-log file.
type logScan struct {
	size     int64 // file size
	validEnd int64 // end of the last complete commit (WAL) or record (vlog)
	dataEnd  int64 // one past the last non-zero byte
	records  int
	stop     string // why reading stopped before size ("" at a zero header or EOF)
}

// maxRecordHeader is the longest record header: two bytes and three
// uvarints.
const maxRecordHeader = 2 + 3*binary.MaxVarintLen64

// parseHeader decodes a record header from the start of b: its meta byte,
// key and value lengths and its own length; ok is false when b does not
// hold a whole, well-formed header.
func parseHeader(b []byte) (meta byte, klen, vlen uint64, hlen int, ok bool) {
	if len(b) < 2 {
		return 0, 0, 0, 0, false
	}
	klen, k := binary.Uvarint(b[2:])
	if k <= 0 {
		return 0, 0, 0, 0, false
	}
	vlen, v := binary.Uvarint(b[2+k:])
	if v <= 0 {
		return 0, 0, 0, 0, false
	}
	_, e := binary.Uvarint(b[2+k+v:])
	if e <= 0 {
		return 0, 0, 0, 0, false
	}
	return b[0], klen, vlen, 2 + k + v + e, true
}

// scanLog reads the records of one WAL (wal true: records group into
// transactions ended by a fin record) or value-log file. With verify false
// the values are skipped, not checksummed (a quick structural walk).
func scanLog(path string, wal, verify bool) (logScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return logScan{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return logScan{}, err
	}
	res := logScan{size: fi.Size(), validEnd: logHeaderSize}
	if res.size < logHeaderSize {
		// A file cut inside its header; all zeros is a file whose
		// creation a crash interrupted (Badger rewrites it).
		res.validEnd = 0
		res.stop = "shorter than the file header"
		var err error
		res.dataEnd, err = lastNonZero(f, 0, res.size)
		return res, err
	}
	if !verify && !wal {
		walkLog(f, &res)
		var err error
		res.dataEnd, err = lastNonZero(f, res.validEnd, res.size)
		return res, err
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, logHeaderSize, res.size-logHeaderSize), 256<<10)
	off := int64(logHeaderSize)
	var txnTs uint64
	var buf []byte
	for {
		hdr, perr := br.Peek(maxRecordHeader)
		if len(hdr) == 0 {
			break // EOF at a record boundary
		}
		meta, klen, vlen, hlen, ok := parseHeader(hdr)
		if !ok {
			res.stop = "unreadable record header"
			if perr != nil {
				res.stop = "record header cut short"
			}
			break
		}
		if klen == 0 {
			if meta != 0 || vlen != 0 {
				res.stop = "record without a key"
			}
			break // zeros: the end of the written part
		}
		if klen > maxKeyLen || vlen > uint64(res.size) {
			res.stop = fmt.Sprintf("record header with impossible lengths (key %d, value %d bytes)", klen, vlen)
			break
		}
		n := int(klen + vlen)
		end := off + int64(hlen) + int64(n) + crc32.Size
		if end > res.size {
			res.stop = "record runs past the end of the file"
			break
		}
		sum := crc32.Update(0, castagnoli, hdr[:hlen])
		if _, err := br.Discard(hlen); err != nil {
			res.stop = "record header cut short"
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			res.stop = "record cut short"
			break
		}
		var crc [crc32.Size]byte
		if _, err := io.ReadFull(br, crc[:]); err != nil {
			res.stop = "record cut short"
			break
		}
		if binary.BigEndian.Uint32(crc[:]) != crc32.Update(sum, castagnoli, buf) {
			res.stop = "record checksum mismatch"
			break
		}
		key, val := buf[:klen], buf[klen:]
		off = end
		res.records++
		if !wal {
			res.validEnd = off
			continue
		}
		switch {
		case meta&bitTxn != 0:
			ts := keyTs(key)
			if txnTs == 0 {
				txnTs = ts
			}
			if ts != txnTs {
				res.stop = "transaction without its end record"
			}
		case meta&bitFinTxn != 0:
			ts, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || ts != txnTs {
				res.stop = "transaction end record for another transaction"
			}
			txnTs = 0
			res.validEnd = off
		default:
			if txnTs != 0 {
				res.stop = "record inside a transaction"
			}
			res.validEnd = off
		}
		if res.stop != "" {
			break
		}
	}
	res.dataEnd, err = lastNonZero(f, res.validEnd, res.size)
	return res, err
}

// walkLog follows a value-log file's records by their headers alone, one
// small read per record, without reading or checksumming keys and values:
// the quick structural check of sealed files at every Open.
func walkLog(f *os.File, res *logScan) {
	var hdr [maxRecordHeader]byte
	off := int64(logHeaderSize)
	for off < res.size {
		n, err := f.ReadAt(hdr[:min(int64(len(hdr)), res.size-off)], off)
		if n == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			res.stop = "unreadable record header"
			return
		}
		meta, klen, vlen, hlen, ok := parseHeader(hdr[:n])
		if !ok {
			res.stop = "unreadable record header"
			if int64(n) < int64(len(hdr)) {
				res.stop = "record header cut short"
			}
			return
		}
		if klen == 0 {
			if meta != 0 || vlen != 0 {
				res.stop = "record without a key"
			}
			return
		}
		if klen > maxKeyLen || vlen > uint64(res.size) {
			res.stop = fmt.Sprintf("record header with impossible lengths (key %d, value %d bytes)", klen, vlen)
			return
		}
		end := off + int64(hlen) + int64(klen+vlen) + crc32.Size
		if end > res.size {
			res.stop = "record runs past the end of the file"
			return
		}
		off = end
		res.records++
		res.validEnd = off
	}
}

// keyTs is the version Badger appends to every key (8 bytes, inverted big
// endian).
func keyTs(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return ^binary.BigEndian.Uint64(key[len(key)-8:])
}

// lastNonZero returns one past the last non-zero byte in [from, size), or
// from when there is none.
func lastNonZero(f *os.File, from, size int64) (int64, error) {
	const chunk = 1 << 20
	buf := make([]byte, min(chunk, max(size-from, 0)))
	for end := size; end > from; {
		start := max(end-chunk, from)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return from, nil
}

// judgeLog turns a scan of a WAL or of the newest value-log file into a
// DamageError, a warning (a torn tail Badger will discard) or nothing.
func judgeLog(path string, s logScan, tornTailMax int64) (warning string, err error) {
	if s.dataEnd <= s.validEnd {
		return "", nil
	}
	tail := s.dataEnd - s.validEnd
	why := s.stop
	if why == "" {
		why = "unreadable data"
	}
	// Badger preallocates these files at twice the size they are rotated
	// at, so the written part of a live file is followed by at least a
	// quarter of the file in zeros. A file that ends inside its data, or
	// after only a few zero bytes (a cut that happened to fall on zeros
	// inside a record), was cut short.
	if s.dataEnd >= s.size || s.size-s.dataEnd < s.size/4 {
		return "", &DamageError{File: path, Offset: s.validEnd, Reason: fmt.Sprintf(
			"%s; the file ends inside its data (%d bytes after the last complete record), so it was cut short", why, tail)}
	}
	if tail > tornTailMax {
		return "", &DamageError{File: path, Offset: s.validEnd, Reason: fmt.Sprintf(
			"%s, with %d bytes of written data after it (more than one commit can leave behind in a crash)", why, tail)}
	}
	return fmt.Sprintf("%s: the last %d bytes (from byte %d) do not read back (%s); this is the torn last write of a crash, which was never acknowledged, and is discarded", path, tail, s.validEnd, why), nil
}

// tornTailMax is the most a crash can leave behind in a WAL (one Badger
// transaction: 15% of a memtable, plus per-record overhead) or a value-log
// file (one commit unit of MaxBatchBytes plus the request that overflowed
// it: an attachment write of up to 4 MiB plus a raw payload).
func (o Options) tornTailMax(wal bool) int64 {
	if wal {
		return 2*(o.MemTableSize*15/100) + 64<<10
	}
	return int64(o.MaxBatchBytes) + 8<<20
}

// dataFiles lists a data directory's files with the extension, by file id.
func dataFiles(dir, ext string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		return nil, err
	}
	id := func(p string) uint64 {
		n, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), ext), 10, 64)
		return n
	}
	sort.Slice(paths, func(i, j int) bool { return id(paths[i]) < id(paths[j]) })
	return paths, nil
}

// verifyFiles checks a closed data directory before Badger opens it: the
// MANIFEST's records match their checksums and name only tables that
// exist, every SST table
// opens and every block's checksum matches, every WAL and the newest
// value-log file read back to their written end, and the older value-log
// files are whole record by record (checksummed only with full). It returns
// the damage found (nil: none) and warnings for torn tails Badger will
// discard (a WAL or value-log tail of at most one commit, a MANIFEST's
// last record cut short). A directory without a MANIFEST is new: nothing
// to check.
func verifyFiles(o Options, full bool) (warnings []string, damage []error) {
	manifest := filepath.Join(o.Dir, "MANIFEST")
	if _, err := os.Stat(manifest); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	tables, warn, err := verifyManifest(manifest)
	if err != nil {
		return nil, []error{err}
	}
	if warn != "" {
		warnings = append(warnings, warn)
	}
	for id := range tables {
		p := table.NewFilename(id, o.Dir)
		if _, err := os.Stat(p); err != nil {
			damage = append(damage, &DamageError{File: p, Offset: -1, Reason: "the MANIFEST lists this table but it cannot be read: " + err.Error()})
			continue
		}
		if err := verifyTable(p, o); err != nil {
			damage = append(damage, err)
		}
	}
	wals, err := dataFiles(o.Dir, ".mem")
	if err != nil {
		return nil, append(damage, err)
	}
	for _, p := range wals {
		s, err := scanLog(p, true, true)
		if err != nil {
			damage = append(damage, fmt.Errorf("store: read %s: %w", p, err))
			continue
		}
		if w, err := judgeLog(p, s, o.tornTailMax(true)); err != nil {
			damage = append(damage, err)
		} else if w != "" {
			warnings = append(warnings, w)
		}
	}
	vlogs, err := dataFiles(o.Dir, ".vlog")
	if err != nil {
		return nil, append(damage, err)
	}
	for i, p := range vlogs {
		last := i == len(vlogs)-1
		s, err := scanLog(p, false, full || last)
		if err != nil {
			damage = append(damage, fmt.Errorf("store: read %s: %w", p, err))
			continue
		}
		if !last && s.validEnd < s.size && s.dataEnd > s.validEnd {
			// A sealed file is cut at its last record: anything that does
			// not read back is damage, however short.
			damage = append(damage, &DamageError{File: p, Offset: s.validEnd, Reason: s.stop + " in a value-log file that was complete"})
			continue
		}
		if w, err := judgeLog(p, s, o.tornTailMax(false)); err != nil {
			damage = append(damage, err)
		} else if w != "" {
			warnings = append(warnings, w)
		}
	}
	return warnings, damage
}

// verifyManifest replays the MANIFEST with Badger's own reader and returns
// the ids of the tables it lists. A record that fails its checksum, or
// claims more bytes than the file holds, is damage (Badger refuses those
// too, without naming the file). A last record cut short is what a crash
// while Badger appended it leaves: Badger drops it (the change it described
// had not taken effect: the WAL it flushed is deleted only after), so that
// is a warning.
func verifyManifest(path string) (map[uint64]struct{}, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("store: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	m, end, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(""))
	if err != nil {
		return nil, "", &DamageError{File: path, Offset: -1, Reason: err.Error()}
	}
	warn := ""
	if end != fi.Size() {
		warn = fmt.Sprintf("%s: the last record (from byte %d, %d bytes) is cut short, as a crash while it was appended leaves it; it is dropped", path, end, fi.Size()-end)
	}
	ids := make(map[uint64]struct{}, len(m.Tables))
	for id := range m.Tables {
		ids[id] = struct{}{}
	}
	return ids, warn, nil
}

// verifyTable opens one SST table read-only and verifies the checksum of
// its index and of every block. Badger panics on some damage (a truncated
// table); the panic is recovered here, in the caller's goroutine, and
// reported as damage.
func verifyTable(path string, o Options) (err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return &DamageError{File: path, Offset: -1, Reason: "cannot be read: " + err.Error()}
	}
	if fi.Size() < 8 {
		return &DamageError{File: path, Offset: -1, Reason: fmt.Sprintf("the table is %d bytes long, too short to hold its index", fi.Size())}
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return &DamageError{File: path, Offset: -1, Reason: "cannot be opened: " + err.Error()}
	}
	// OpenTable without verification never closes mf; it is closed here,
	// once, whatever happened.
	defer func() {
		if p := recover(); p != nil {
			msg := strings.TrimSpace(fmt.Sprint(p))
			for _, line := range strings.Split(msg, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "==") {
					msg = line
					break
				}
			}
			err = &DamageError{File: path, Offset: -1, Reason: "the table does not open (" + msg + ")"}
		}
		_ = z.Munmap(mf.Data)
		_ = mf.Fd.Close()
	}()
	opt := o.badgerOptions()
	t, err := table.OpenTable(mf, table.Options{
		ReadOnly:    true,
		ChkMode:     options.NoVerification,
		BlockSize:   opt.BlockSize,
		Compression: opt.Compression,
		TableSize:   uint64(opt.BaseTableSize),
	})
	if err != nil {
		return &DamageError{File: path, Offset: -1, Reason: err.Error()}
	}
	// Not DecrRef: at zero references Badger deletes the file.
	if err := t.VerifyChecksum(); err != nil {
		return &DamageError{File: path, Offset: -1, Reason: err.Error()}
	}
	return nil
}

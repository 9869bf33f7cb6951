package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// logRecord encodes one record as Badger's log files hold it.
func logRecord(meta byte, key, val []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(meta)
	b.WriteByte(0)
	var v [binary.MaxVarintLen64]byte
	b.Write(v[:binary.PutUvarint(v[:], uint64(len(key)))])
	b.Write(v[:binary.PutUvarint(v[:], uint64(len(val)))])
	b.Write(v[:binary.PutUvarint(v[:], 0)])
	b.Write(key)
	b.Write(val)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(b.Bytes(), castagnoli))
	b.Write(crc[:])
	return b.Bytes()
}

// FuzzScanLog feeds arbitrary bytes to the WAL/value-log reader and the
// damage verdict that Open applies to a data directory's files: they must
// never panic, and what they call the valid part must lie inside the file.
func FuzzScanLog(f *testing.F) {
	key := append([]byte("t/\x00\x00\x00\x00\x00\x00\x00\x01"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)
	good := append(make([]byte, logHeaderSize), logRecord(0, key, []byte(`{"id":1}`))...)
	f.Add(good)
	f.Add(append(append([]byte{}, good...), make([]byte, 64)...))
	f.Add(append(append([]byte{}, good...), 0x40, 0x00, 0x90, 0x80, 0x80, 0x80, 0x08))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "000001.vlog")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, wal := range []bool{true, false} {
			for _, verify := range []bool{true, false} {
				s, err := scanLog(p, wal, verify)
				if err != nil {
					t.Fatal(err)
				}
				if s.validEnd > s.size || s.dataEnd > s.size || s.size != int64(len(data)) {
					t.Fatalf("scan %+v of %d bytes", s, len(data))
				}
				_, _ = judgeLog(p, s, 1<<10)
			}
		}
	})
}

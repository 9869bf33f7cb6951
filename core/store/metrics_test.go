package store

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSpaceCollectors(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: -1, MinFreeBytes: 8 << 20, spaceEvery: 10 * time.Millisecond,
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.SpaceCollectors()...)
	read := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
		return out
	}
	got := read()
	if got["patchbay_store_disk_free_bytes"] != 1<<40 || got["patchbay_store_disk_reserve_bytes"] < 8<<20 || got["patchbay_store_writes_refused"] != 0 {
		t.Fatalf("metrics with room: %v", got)
	}
	free.Store(1 << 20)
	deadline := time.Now().Add(10 * time.Second)
	for read()["patchbay_store_writes_refused"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("metrics on a full disk: %v", read())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := read(); got["patchbay_store_disk_free_bytes"] != 1<<20 {
		t.Fatalf("free bytes on a full disk: %v", got)
	}
}

package store

import "github.com/prometheus/client_golang/prometheus"

// SpaceCollectors returns gauges of the data directory's disk, read at
// scrape time from Space: patchbay_store_disk_free_bytes,
// patchbay_store_disk_reserve_bytes (what the store keeps free: writes are
// refused below it) and patchbay_store_writes_refused (1 while they are).
// Register them on the process's registry.
func (s *Store) SpaceCollectors() []prometheus.Collector {
	gauge := func(name, help string, f func(SpaceStatus) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "patchbay", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(s.Space()) })
	}
	return []prometheus.Collector{
		gauge("disk_free_bytes", "Free space on the data directory's disk, as last measured (at most about a second ago).",
			func(st SpaceStatus) float64 { return float64(st.Free) }),
		gauge("disk_reserve_bytes", "Space the store keeps free on the data directory's disk; below it every write is refused.",
			func(st SpaceStatus) float64 { return float64(st.Reserve) }),
		gauge("writes_refused", "1 while writes are refused for lack of disk space, else 0.",
			func(st SpaceStatus) float64 {
				if st.Short() {
					return 1
				}
				return 0
			}),
	}
}

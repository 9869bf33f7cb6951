package store

// WithFreeSpace returns o measuring free space with statfs (tests of other
// packages in this directory's external test package).
func WithFreeSpace(o Options, statfs func(dir string) (uint64, error)) Options {
	o.statfs = statfs
	return o
}

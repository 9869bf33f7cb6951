//go:build !linux

package main

// setNonDumpable does nothing outside Linux; run plugins under another
// user there (docs/operations.md).
func setNonDumpable() error { return nil }

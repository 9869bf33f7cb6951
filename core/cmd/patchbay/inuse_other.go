//go:build !unix

package main

// storeInUse cannot tell on this system; opening the store will (Badger's
// own lock).
func storeInUse(string) (bool, error) { return false, nil }

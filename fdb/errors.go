package fdb

import "errors"

// Sentinel errors. Methods wrap them with the MAC, address or prefix
// concerned; test with errors.Is.
var (
	ErrNotFound = errors.New("fdb: not found")
	ErrExists   = errors.New("fdb: already exists")
	ErrFull     = errors.New("fdb: table is at its limit")
	ErrBadMAC   = errors.New("fdb: invalid MAC address")
	ErrBadAddr  = errors.New("fdb: invalid address")
	// ErrStatic: a static entry holds the MAC, and a control plane's
	// route does not replace it.
	ErrStatic = errors.New("fdb: a static entry holds it")
)

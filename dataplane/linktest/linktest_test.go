package linktest_test

import (
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
)

// The fakes stand in for the dataplane's devices and sockets.
var (
	_ dataplane.Link = (*linktest.Link)(nil)
	_ dataplane.Conn = (*linktest.Conn)(nil)
)

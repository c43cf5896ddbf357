package controltest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vtepd/vtepd/control"
)

// SocketPath returns a socket path in a fresh directory removed when the
// test ends. The directory is made under os.TempDir rather than t.TempDir,
// whose paths carry the test name and can outgrow sun_path's 108 bytes.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vtepd-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "vtepd.sock")
}

// Start serves b on a fresh unix socket and returns the socket's path. The
// server is closed when the test ends, and Serve must then return nil.
func Start(t testing.TB, b control.Backend) string {
	t.Helper()
	path := SocketPath(t)
	s := control.NewServer(b, nil)
	if err := s.Listen(path); err != nil {
		t.Fatalf("Listen(%s): %v", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve after Close: got %v, want nil", err)
		}
	})
	return path
}

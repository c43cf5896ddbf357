//go:build linux

package dataplane_test

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// openDevice creates a TAP device name in ns, with or without offloads,
// closed when the test ends.
func openDevice(t *testing.T, ns *netnstest.NS, name string, offload bool) dataplane.Link {
	t.Helper()
	var l dataplane.Link
	if err := ns.Do(t, func() error {
		var err error
		l, err = dataplane.CreateTAP(dataplane.DeviceConfig{Name: name, MTU: 1500, Offload: offload})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// rxPackets is the kernel's count of frames written into dev in ns (its
// RX: what the device received from vtepd).
func rxPackets(t *testing.T, ns *netnstest.NS, dev string) uint64 {
	t.Helper()
	out := ns.Run(t, "cat", "/sys/class/net/"+dev+"/statistics/rx_packets")
	n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("rx_packets of %s: %v", dev, err)
	}
	return n
}

// TestDeviceConcurrentWrites: a device's queue is written by receive
// workers and by transmit workers (ARP and ICMP answers) at once; every
// frame of every writer goes in whole, with or without offloads.
func TestDeviceConcurrentWrites(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run("offload="+strconv.FormatBool(offload), func(t *testing.T) {
			ns := netnstest.NewNS(t, "dev")
			l := openDevice(t, ns, "vt0", offload)
			before := rxPackets(t, ns, "vt0")
			const writers, frames = 4, 300
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range frames {
						// A frame to a unicast MAC nobody has, of a length
						// of its own, so that a frame torn between writers
						// would differ.
						f := make([]byte, 60+w*7+i%50)
						copy(f, []byte{0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, byte(w), 1, 0x88, 0xb5})
						binary.BigEndian.PutUint32(f[14:], uint32(w<<16|i))
						if _, err := l.Write([][]byte{f}, 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("write: %v", err)
			}
			if got := rxPackets(t, ns, "vt0") - before; got != writers*frames {
				t.Errorf("frames the device took: got %d, want %d", got, writers*frames)
			}
		})
	}
}

// TestDeviceReadAfterClose: a read waiting for a frame returns os.ErrClosed
// once the device is closed, as the forwarding loops expect, with or
// without offloads.
func TestDeviceReadAfterClose(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, offload := range []bool{false, true} {
		t.Run("offload="+strconv.FormatBool(offload), func(t *testing.T) {
			ns := netnstest.NewNS(t, "dev")
			l := openDevice(t, ns, "vt0", offload)
			q := dataplane.Queues(l)[0]
			done := make(chan error, 1)
			go func() {
				bufs := [][]byte{make([]byte, dataplane.Headroom+65536), make([]byte, dataplane.Headroom+65536)}
				sizes := make([]int, len(bufs))
				for {
					if _, err := q.Read(bufs, sizes, dataplane.Headroom); err != nil {
						done <- err
						return
					}
				}
			}()
			time.Sleep(50 * time.Millisecond) // let it wait in the poller
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrClosed) {
					t.Errorf("read of a closed device: got %v, want os.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a read of a closed device did not return")
			}
		})
	}
}

package dataplane

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/fdb"
)

// deletedLink is a device that fails its reads as a deleted TAP does
// (EBADFD, wrapped in a *os.PathError as os.File returns it) once gone is
// closed, or with err while err is set, and blocks otherwise.
type deletedLink struct {
	discard
	gone   chan struct{}
	closed chan struct{}
	err    atomic.Pointer[error] // a passing error to return first
	reads  atomic.Int32          // reads that failed
}

func newDeletedLink() *deletedLink {
	return &deletedLink{gone: make(chan struct{}), closed: make(chan struct{})}
}

func (l *deletedLink) Name() string { return "vx42" }

func (l *deletedLink) Read([][]byte, []int, int) (int, error) {
	if e := l.err.Swap(nil); e != nil {
		l.reads.Add(1)
		return 0, *e
	}
	select {
	case <-l.gone:
		l.reads.Add(1)
		return 0, &os.PathError{Op: "read", Path: "tun", Err: unix.EBADFD}
	case <-l.closed:
		return 0, os.ErrClosed
	}
}

func (l *deletedLink) Close() error { close(l.closed); return nil }

// lossRecorder is an OnDeviceLoss callback that records its calls.
type lossRecorder struct {
	calls atomic.Int32
	errs  chan error
}

func newLossRecorder() *lossRecorder { return &lossRecorder{errs: make(chan error, 4)} }

func (r *lossRecorder) record(err error) { r.calls.Add(1); r.errs <- err }

// wait returns the first reported error, failing t after a while without.
func (r *lossRecorder) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.errs:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("OnDeviceLoss callback: got no call in 5s, want one")
		return nil
	}
}

// lossNetwork is a network of either kind on a fake underlay, as much as
// the device-loss tests need of it.
type lossNetwork interface {
	OnDeviceLoss(func(error))
}

func addLossNetwork(t *testing.T, kind string, link Link) (lossNetwork, func() error) {
	t.Helper()
	local, peer := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	switch kind {
	case "vxlan":
		u, err := NewUnderlay(UnderlayConfig{Local: local}, discard{}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n, err := u.AddNetwork(NetworkConfig{Name: "vx42", VNI: 42, MTU: 1450, Remotes: []netip.Addr{peer}}, link)
		if err != nil {
			t.Fatal(err)
		}
		return n, func() error { return u.RemoveNetwork(42) }
	default:
		u, err := NewIPIPUnderlay(local, discard{}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n, err := u.AddNetwork(IPIPConfig{Name: "vx42", MTU: 1480, PathMTU: 1480, DF: -1,
			Routes: []fdb.Route{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), Via: peer}}}, link)
		if err != nil {
			t.Fatal(err)
		}
		return n, func() error { return u.RemoveNetwork("vx42") }
	}
}

// TestDeviceLossReportedOnce deletes the device under a network of each
// kind: the callback hears of it once, with an error that names the device
// and wraps ErrDeviceLost and the errno, whether it was set before the loss
// or after; the transmit loop stops reading; removing the network then
// reports nothing more.
func TestDeviceLossReportedOnce(t *testing.T) {
	for _, kind := range []string{"vxlan", "ipip"} {
		for _, setFirst := range []bool{true, false} {
			name := kind + ", callback set after the loss"
			if setFirst {
				name = kind + ", callback set before the loss"
			}
			t.Run(name, func(t *testing.T) {
				link := newDeletedLink()
				n, remove := addLossNetwork(t, kind, link)
				rec := newLossRecorder()
				if setFirst {
					n.OnDeviceLoss(rec.record)
				}
				close(link.gone)
				if !setFirst {
					deadline := time.Now().Add(5 * time.Second)
					for link.reads.Load() == 0 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					n.OnDeviceLoss(rec.record)
				}
				err := rec.wait(t)
				if !errors.Is(err, ErrDeviceLost) || !errors.Is(err, unix.EBADFD) {
					t.Errorf("reported error %v: want it to wrap ErrDeviceLost and EBADFD", err)
				}
				if !strings.Contains(err.Error(), "vx42") {
					t.Errorf("reported error %q: want it to name the device vx42", err)
				}
				// The loop ended at the first EBADFD: it does not spin on a
				// device that will never answer again.
				time.Sleep(50 * time.Millisecond)
				if got := link.reads.Load(); got != 1 {
					t.Errorf("reads of the deleted device: got %d, want 1", got)
				}
				if err := remove(); err != nil {
					t.Errorf("removing the network: got %v, want nil", err)
				}
				if got := rec.calls.Load(); got != 1 {
					t.Errorf("OnDeviceLoss calls: got %d, want 1", got)
				}
			})
		}
	}
}

// TestDeviceLossNotOnOtherErrors: a read error that may pass is retried and
// a network stopped on purpose ends its loop, and neither is a lost device.
func TestDeviceLossNotOnOtherErrors(t *testing.T) {
	link := newDeletedLink()
	hiccup := errors.New("device hiccup")
	link.err.Store(&hiccup)
	n, remove := addLossNetwork(t, "vxlan", link)
	rec := newLossRecorder()
	n.OnDeviceLoss(rec.record)
	deadline := time.Now().Add(5 * time.Second)
	for link.reads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := remove(); err != nil {
		t.Fatalf("removing the network: got %v, want nil", err)
	}
	if got := rec.calls.Load(); got != 0 {
		t.Errorf("OnDeviceLoss calls after a passing read error and a stop: got %d, want 0 (%v)", got, <-rec.errs)
	}
}

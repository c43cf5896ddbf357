package node

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
)

func TestTraceEventOfDataplaneEvent(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	e := &dataplane.Event{
		Stage: dataplane.StageDrop, At: dataplane.StageSocketOut, Frame: 7,
		Network: "vx42", VNI: 42, Kind: "vxlan", Bytes: []byte{1, 2, 3},
		Peer: netip.MustParseAddr("10.0.0.2"), PeerPort: 4789,
		Local: netip.MustParseAddr("10.0.0.1"), LocalPort: 40000, UDPPayload: true,
		Lookup: "flood", Remotes: []netip.Addr{netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("10.0.0.3")},
		Drop: "send_error", Time: at.UnixNano(), Route: netip.MustParsePrefix("10.244.1.0/24"), Answer: []byte{4, 5},
	}
	got := traceEvent(e)
	want := control.TraceEvent{
		Frame: 7, Stage: "drop", At: "socket-out", Network: "vx42", VNI: 42, Kind: "vxlan", Bytes: []byte{1, 2, 3},
		Peer: "10.0.0.2", PeerPort: 4789, Local: "10.0.0.1", LocalPort: 40000, UDPPayload: true,
		Lookup: "flood", Remotes: []string{"239.1.1.1", "10.0.0.3"}, Drop: "send_error",
		Route: "10.244.1.0/24", Answer: []byte{4, 5},
	}
	if !got.Time.Equal(at) {
		t.Errorf("time: got %v, want %v", got.Time, at)
	}
	got.Time = time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// Only a drop says where.
	if te := traceEvent(&dataplane.Event{Stage: dataplane.StageDeviceIn}); te.At != "" || te.Peer != "" || te.Local != "" {
		t.Errorf("device-in: got at %q peer %q local %q, want all empty", te.At, te.Peer, te.Local)
	}
}

func TestTraceRefusalsAndRelease(t *testing.T) {
	d := newNode(testConfig(), newFakeHost().host(), zap.NewNop())
	_, err := d.Trace(control.TraceRequest{Match: "icmp and hots 10.1.1.1"})
	if !errors.Is(err, control.ErrInvalid) || !strings.Contains(err.Error(), `"hots"`) {
		t.Errorf("bad match: got %v, want ErrInvalid naming \"hots\"", err)
	}
	_, err = d.Trace(control.TraceRequest{Network: "vx9"})
	if !errors.Is(err, control.ErrNotFound) || !strings.Contains(err.Error(), `network "vx9"`) {
		t.Errorf("unknown network: got %v, want ErrNotFound naming vx9", err)
	}

	// A daemon without networks yet can be traced: networks that come up
	// during the trace are attached as they appear.
	a, err := d.Trace(control.TraceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Trace(control.TraceRequest{Match: "icmp"})
	if err != nil {
		t.Fatal(err)
	}
	d.tracer.Lock()
	tr := d.tracer.tr
	users, subs := tr.users, tr.hub.Subscribers()
	d.tracer.Unlock()
	if users != 2 || subs != 2 {
		t.Errorf("two traces: got %d users and %d hub subscribers, want 2 and 2", users, subs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: got %v, want context.Canceled", err)
	}
	a.Close()
	a.Close()
	d.tracer.Lock()
	users, subs = tr.users, tr.hub.Subscribers()
	d.tracer.Unlock()
	if users != 1 || subs != 1 {
		t.Errorf("after one Close (twice): got %d users and %d subscribers, want 1 and 1", users, subs)
	}
	b.Close()
	d.tracer.Lock()
	held := d.tracer.tr != nil
	d.tracer.Unlock()
	if held || tr.hub.Subscribers() != 0 {
		t.Errorf("after the last Close: daemon still traced %v, %d subscribers; want neither", held, tr.hub.Subscribers())
	}
	select {
	case <-tr.stop:
	default:
		t.Error("after the last Close: the resync loop was not told to stop")
	}
}

package control_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
)

// stagesOf lists events as "frame:stage".
func stagesOf(events []control.TraceEvent) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, fmt.Sprintf("%d:%s", e.Frame, e.Stage))
	}
	return out
}

// waitTracing waits until the backend has n open trace streams.
func waitTracing(t *testing.T, b *controltest.Backend, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.Tracing() != n {
		if time.Now().After(deadline) {
			t.Fatalf("open trace streams: got %d, want %d", b.Tracing(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTraceStreamsInOrderUntilClientLeaves(t *testing.T) {
	b := newBackend()
	b.TraceEvents = controltest.VXLANPing()
	b.TraceLost = 3
	c := control.NewClient(controltest.Start(t, b))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []control.TraceEvent
	err := c.Trace(ctx, control.TraceRequest{Network: "vx42"}, func(e control.TraceEvent) error {
		got = append(got, e)
		if len(got) == len(b.TraceEvents) {
			if b.Tracing() != 1 {
				t.Errorf("open trace streams while tracing: got %d, want 1", b.Tracing())
			}
			cancel() // Ctrl-C
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Trace after cancel: got %v, want context.Canceled", err)
	}
	want := controltest.VXLANPing()
	if !reflect.DeepEqual(stagesOf(got), stagesOf(want)) {
		t.Fatalf("events: got %v, want %v", stagesOf(got), stagesOf(want))
	}
	for i := range want {
		w := want[i]
		w.Lost = 3
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("event %d: got %+v\nwant %+v", i, got[i], w)
		}
	}
	// The server closes the backend's stream when the client leaves, which
	// frees the subscriber in the daemon.
	waitTracing(t, b, 0)
	if c := lastCall(t, b); c != `Trace "vx42" ""` {
		t.Errorf("backend call: got %s, want Trace \"vx42\" \"\"", c)
	}
}

func TestTraceCountsFrames(t *testing.T) {
	ping := controltest.VXLANPing()
	ev := func(frame uint64, stage string, set func(*control.TraceEvent)) control.TraceEvent {
		e := control.TraceEvent{Frame: frame, Stage: stage, Network: "vx42", Kind: control.KindVXLAN, VNI: 42, Time: controltest.PingTime}
		if set != nil {
			set(&e)
		}
		return e
	}
	flood := func(n int) func(*control.TraceEvent) {
		return func(e *control.TraceEvent) {
			e.Lookup = control.LookupFlood
			for i := range n {
				e.Remotes = append(e.Remotes, fmt.Sprintf("10.0.0.%d", i+2))
			}
		}
	}
	drop := func(reason string) func(*control.TraceEvent) {
		return func(e *control.TraceEvent) { e.Drop, e.At = reason, control.StageLearn }
	}
	tests := []struct {
		name   string
		events []control.TraceEvent
		count  int
		want   []string
	}{
		{"one frame of a ping", ping, 1, []string{"1:device-in", "1:lookup", "1:encap", "1:socket-out"}},
		{"both frames of a ping", ping, 2, stagesOf(ping)},
		{"a flood ends after its last copy", []control.TraceEvent{
			ev(1, control.StageDeviceIn, nil), ev(1, control.StageLookup, flood(3)),
			ev(1, control.StageSocketOut, nil), ev(1, control.StageSocketOut, nil), ev(1, control.StageSocketOut, nil),
			ev(2, control.StageDeviceIn, nil),
		}, 1, []string{"1:device-in", "1:lookup", "1:socket-out", "1:socket-out", "1:socket-out"}},
		{"a refused copy is a copy", []control.TraceEvent{
			ev(1, control.StageLookup, flood(2)), ev(1, control.StageDrop, drop(control.DropSendError)),
			ev(1, control.StageSocketOut, nil), ev(2, control.StageDeviceIn, nil),
		}, 1, []string{"1:lookup", "1:drop", "1:socket-out"}},
		{"frames interleave", []control.TraceEvent{
			ev(1, control.StageSocketIn, nil), ev(2, control.StageDeviceIn, nil),
			ev(1, control.StageDecap, nil), ev(2, control.StageLookup, nil), ev(1, control.StageDeviceOut, nil),
			ev(2, control.StageSocketOut, nil),
		}, 1, []string{"1:socket-in", "1:decap", "1:device-out"}},
		{"a full fdb does not end the frame", []control.TraceEvent{
			ev(1, control.StageSocketIn, nil), ev(1, control.StageDrop, drop(control.DropFDBFull)), ev(1, control.StageDeviceOut, nil),
			ev(2, control.StageSocketIn, nil),
		}, 1, []string{"1:socket-in", "1:drop", "1:device-out"}},
		{"an unfinished frame ends after a while", []control.TraceEvent{
			ev(1, control.StageDeviceIn, nil), ev(2, control.StageDeviceIn, nil),
		}, 1, []string{"1:device-in"}},
		{"a suppressed request ends at its lookup", []control.TraceEvent{
			ev(1, control.StageDeviceIn, nil), ev(1, control.StageLookup, func(e *control.TraceEvent) { e.Lookup = control.LookupSuppressed }),
			ev(2, control.StageDeviceOut, nil), ev(1, control.StageSocketOut, nil), // nothing of frame 1 after its end
		}, 1, []string{"1:device-in", "1:lookup"}},
		{"frames of two networks are two frames", []control.TraceEvent{
			ev(1, control.StageDeviceIn, nil),
			{Frame: 1, Stage: control.StageDeviceIn, Network: "ipip0", Kind: control.KindIPIP},
			ev(1, control.StageDeviceOut, nil),
		}, 1, []string{"1:device-in", "1:device-out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend()
			b.TraceEvents = tc.events
			c := control.NewClient(controltest.Start(t, b))
			var got []control.TraceEvent
			err := c.Trace(context.Background(), control.TraceRequest{Count: tc.count}, func(e control.TraceEvent) error {
				got = append(got, e)
				return nil
			})
			if err != nil {
				t.Fatalf("Trace with count %d: got %v, want nil (the end of the stream)", tc.count, err)
			}
			if !reflect.DeepEqual(stagesOf(got), tc.want) {
				t.Errorf("events: got %v, want %v", stagesOf(got), tc.want)
			}
			waitTracing(t, b, 0)
		})
	}
}

func TestTraceFilters(t *testing.T) {
	b := newBackend()
	b.TraceEvents = append(controltest.VXLANPing(), controltest.IPIPPing()...)
	c := control.NewClient(controltest.Start(t, b))
	tests := []struct {
		name string
		req  control.TraceRequest
		want []string
	}{
		{"a network", control.TraceRequest{Network: "ipip0", Count: 1}, []string{"1:device-in", "1:lookup", "1:encap", "1:socket-out"}},
		{"a match on the inner packet, at every stage", control.TraceRequest{Match: "icmp and dst host 10.244.0.5", Count: 1},
			[]string{"2:socket-in", "2:decap", "2:device-out"}},
		{"a match on the inner MAC", control.TraceRequest{Match: "src mac 02:42:00:00:00:02", Count: 1},
			[]string{"2:socket-in", "2:decap", "2:learn", "2:device-out"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []control.TraceEvent
			err := c.Trace(context.Background(), tc.req, func(e control.TraceEvent) error {
				got = append(got, e)
				return nil
			})
			if err != nil || !reflect.DeepEqual(stagesOf(got), tc.want) {
				t.Errorf("got %v, %v; want %v, nil", stagesOf(got), err, tc.want)
			}
		})
	}

	// The client's own error ends the trace and is returned.
	stop := errors.New("enough")
	err := c.Trace(context.Background(), control.TraceRequest{}, func(control.TraceEvent) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Trace when fn fails: got %v, want %v", err, stop)
	}
	waitTracing(t, b, 0)
}

func TestTraceRefusals(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	c := control.NewClient(socket)
	tests := []struct {
		name   string
		req    control.TraceRequest
		status int
		msg    string
	}{
		{"unknown network", control.TraceRequest{Network: "vx9"}, http.StatusNotFound, `network "vx9": no such network`},
		{"bad match names the word", control.TraceRequest{Match: "icmp and hots 10.1.1.1"}, http.StatusBadRequest, `match: "hots" (word 3)`},
		{"bad match value", control.TraceRequest{Match: "port 99999"}, http.StatusBadRequest, `match: "99999" (word 2): port wants a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Trace(context.Background(), tc.req, func(control.TraceEvent) error { return nil })
			var ae *control.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.msg) {
				t.Errorf("got %v, want status %d saying %q", err, tc.status, tc.msg)
			}
		})
	}

	raw := []struct {
		name, method, query string
		status              int
		msg                 string // as it reads in the JSON body
	}{
		{"negative count", http.MethodGet, "count=-1", http.StatusBadRequest, `count: want a number of frames, 0 or more, got \"-1\"`},
		{"count not a number", http.MethodGet, "count=all", http.StatusBadRequest, `count: want a number of frames, 0 or more, got \"all\"`},
		{"unknown parameter", http.MethodGet, "netwrok=vx42", http.StatusBadRequest, "netwrok: unknown query parameter"},
		{"not a GET", http.MethodPost, "", http.StatusMethodNotAllowed, "method POST not allowed on /v1/trace (want GET)"},
	}
	hc := rawClient(socket)
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawDo(t, hc, tc.method, "/v1/trace?"+tc.query, "")
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("got %d %s, want %d saying %q", resp.StatusCode, body, tc.status, tc.msg)
			}
		})
	}
	if n := b.Tracing(); n != 0 {
		t.Errorf("open trace streams after refusals: got %d, want 0", n)
	}
}

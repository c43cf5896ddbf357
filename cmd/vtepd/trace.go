package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
)

// Live tracing (control.Backend's Trace): one dataplane.Hub per daemon,
// attached to the observer point of every network while at least one
// client traces, and detached when the last one leaves, so that forwarding
// without a trace costs one atomic load per stage.

// observable is what has an observer point: a network, or an underlay for
// the drops that happen before a network is known.
type observable interface {
	SetObserver(dataplane.Observer) dataplane.Observer
}

// traceResync is how often a running trace looks for networks added since
// it started (the control API, a reload), to watch them too.
const traceResync = time.Second

// tracer is a daemon's live trace.
type tracer struct {
	d        *daemon
	hub      *dataplane.Hub
	users    int
	attached map[observable]bool
	stop     chan struct{}
}

// tracers holds the tracer of each daemon that has trace clients; the
// lock also guards every tracer's fields. Lock order: tracers, then d.mu.
var tracers = struct {
	sync.Mutex
	m map[*daemon]*tracer
}{m: map[*daemon]*tracer{}}

// Trace implements control.Backend.
func (d *daemon) Trace(req control.TraceRequest) (control.TraceStream, error) {
	f, err := dataplane.ParseFilter(req.Match)
	if err != nil {
		return nil, control.Errorf(control.ErrInvalid, "%v", err)
	}
	d.mu.Lock()
	obs, known := d.observablesLocked(req.Network)
	d.mu.Unlock()
	switch {
	case req.Network != "" && !known:
		return nil, control.Errorf(control.ErrNotFound, "network %q: no such network", req.Network)
	case known && len(obs) == 0:
		return nil, errors.New("trace: this vtepd's dataplane has no observer point to trace with")
	}

	tracers.Lock()
	defer tracers.Unlock()
	tr := tracers.m[d]
	if tr == nil {
		tr = &tracer{d: d, hub: dataplane.NewHub(), attached: map[observable]bool{}, stop: make(chan struct{})}
		tracers.m[d] = tr
		go tr.resync(tr.stop)
	}
	tr.users++
	s := &traceStream{tr: tr, sub: tr.hub.Subscribe(req.Network, f, dataplane.DefaultDepth)}
	tr.attachLocked()
	d.log.Debug("trace subscriber added", zap.String("network", req.Network), zap.Int("subscribers", tr.users))
	return s, nil
}

// observablesLocked returns what the trace of network ("" for all) watches,
// and whether there is anything of that name (or anything at all).
func (d *daemon) observablesLocked(network string) (obs []observable, known bool) {
	add := func(name string, x any) {
		if network != "" && name != network {
			return
		}
		known = true
		if o, ok := x.(observable); ok {
			obs = append(obs, o)
		}
	}
	for _, n := range d.nets {
		add(n.Name(), n)
	}
	for _, n := range d.tnets {
		add(n.Name(), n)
	}
	if network == "" {
		// The underlays' drops (unknown VNI, unknown sender) belong to no
		// network; only a trace of every network sees them.
		if d.underlay != nil {
			if o, ok := any(d.underlay).(observable); ok {
				obs = append(obs, o)
			}
		}
		if d.ipip != nil {
			if o, ok := any(d.ipip).(observable); ok {
				obs = append(obs, o)
			}
		}
	}
	return obs, known
}

// attachLocked points every observer point of the daemon at the hub and
// forgets the ones that are gone. tracers is held.
func (tr *tracer) attachLocked() {
	tr.d.mu.Lock()
	obs, _ := tr.d.observablesLocked("")
	tr.d.mu.Unlock()
	present := make(map[observable]bool, len(obs))
	for _, o := range obs {
		present[o] = true
		if !tr.attached[o] {
			o.SetObserver(tr.hub)
			tr.attached[o] = true
		}
	}
	for o := range tr.attached {
		if !present[o] {
			o.SetObserver(nil)
			delete(tr.attached, o)
		}
	}
}

// resync attaches networks that appear while the trace runs, until stop.
func (tr *tracer) resync(stop chan struct{}) {
	t := time.NewTicker(traceResync)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			tracers.Lock()
			select {
			case <-stop:
			default:
				tr.attachLocked()
			}
			tracers.Unlock()
		}
	}
}

// release drops one client; the last one detaches the hub everywhere.
func (tr *tracer) release() {
	tracers.Lock()
	defer tracers.Unlock()
	if tr.users--; tr.users > 0 {
		return
	}
	close(tr.stop)
	for o := range tr.attached {
		o.SetObserver(nil)
	}
	tr.attached = nil
	delete(tracers.m, tr.d)
	tr.d.log.Debug("last trace subscriber left: observer points detached")
}

// traceStream is one client's trace.
type traceStream struct {
	tr   *tracer
	sub  *dataplane.Subscription
	once sync.Once
}

func (s *traceStream) Next(ctx context.Context) (control.TraceEvent, error) {
	select {
	case e := <-s.sub.Events():
		return traceEvent(e), nil
	case <-ctx.Done():
		return control.TraceEvent{}, ctx.Err()
	}
}

func (s *traceStream) Lost() uint64 { return s.sub.Lost() }

func (s *traceStream) Close() error {
	s.once.Do(func() {
		s.sub.Close()
		s.tr.release()
	})
	return nil
}

// traceEvent is e as the control API sends it.
func traceEvent(e *dataplane.Event) control.TraceEvent {
	te := control.TraceEvent{
		Frame: e.Frame, Stage: e.Stage.String(),
		Network: e.Network, Kind: e.Kind, VNI: e.VNI,
		Time:       time.Unix(0, e.Time),
		UDPPayload: e.UDPPayload,
		Lookup:     e.Lookup, Learn: e.Learn, Drop: e.Drop,
		Bytes: e.Bytes,
	}
	if e.Peer.IsValid() {
		te.Peer, te.PeerPort = e.Peer.String(), e.PeerPort
	}
	if e.Local.IsValid() {
		te.Local, te.LocalPort = e.Local.String(), e.LocalPort
	}
	if e.Stage == dataplane.StageDrop {
		te.At = e.At.String()
	}
	for _, r := range e.Remotes {
		te.Remotes = append(te.Remotes, r.String())
	}
	return te
}

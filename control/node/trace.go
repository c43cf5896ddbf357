package node

import (
	"context"
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

// tracer is a node's live trace.
type tracer struct {
	d        *Node
	hub      *dataplane.Hub
	users    int
	attached map[observable]bool
	stop     chan struct{}
}

// tracerSlot holds a node's tracer while it has trace clients; its lock
// also guards the tracer's fields. Lock order: the slot, then Node.mu.
type tracerSlot struct {
	sync.Mutex
	tr *tracer
}

// Trace implements control.Backend.
func (d *Node) Trace(req control.TraceRequest) (control.TraceStream, error) {
	f, err := dataplane.ParseFilter(req.Match)
	if err != nil {
		return nil, control.Errorf(control.ErrInvalid, "%v", err)
	}
	d.mu.Lock()
	_, known := d.observablesLocked(req.Network)
	d.mu.Unlock()
	if req.Network != "" && !known {
		return nil, control.Errorf(control.ErrNotFound, "network %q: no such network", req.Network)
	}

	d.tracer.Lock()
	defer d.tracer.Unlock()
	tr := d.tracer.tr
	if tr == nil {
		tr = &tracer{d: d, hub: dataplane.NewHub(), attached: map[observable]bool{}, stop: make(chan struct{})}
		d.tracer.tr = tr
		go tr.resync(tr.stop)
	}
	tr.users++
	s := &traceStream{tr: tr, sub: tr.hub.Subscribe(req.Network, f, dataplane.DefaultDepth)}
	tr.attachLocked()
	d.log.Debug("trace subscriber added", zap.String("network", req.Network), zap.Int("subscribers", tr.users))
	return s, nil
}

// Every network and underlay has an observer point.
var (
	_ observable = (*dataplane.Network)(nil)
	_ observable = (*dataplane.IPIPNetwork)(nil)
	_ observable = (*dataplane.Underlay)(nil)
	_ observable = (*dataplane.IPIPUnderlay)(nil)
)

// observablesLocked returns what the trace of network ("" for all) watches,
// and whether there is anything of that name (or anything at all).
func (d *Node) observablesLocked(network string) (obs []observable, known bool) {
	add := func(name string, o observable) {
		if network == "" || name == network {
			known = true
			obs = append(obs, o)
		}
	}
	for _, n := range d.vxlanNets {
		add(n.Name(), n)
	}
	for _, n := range d.ipipNets {
		add(n.Name(), n)
	}
	if network == "" {
		// The underlays' drops (unknown VNI, unknown sender) belong to no
		// network; only a trace of every network sees them.
		if d.underlay != nil {
			obs = append(obs, d.underlay)
		}
		if d.ipip != nil {
			obs = append(obs, d.ipip)
		}
	}
	return obs, known
}

// attachLocked points every observer point of the daemon at the hub and
// forgets the ones that are gone. The tracer slot is held.
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
			tr.d.tracer.Lock()
			select {
			case <-stop:
			default:
				tr.attachLocked()
			}
			tr.d.tracer.Unlock()
		}
	}
}

// release drops one client; the last one detaches the hub everywhere.
func (tr *tracer) release() {
	tr.d.tracer.Lock()
	defer tr.d.tracer.Unlock()
	if tr.users--; tr.users > 0 {
		return
	}
	close(tr.stop)
	for o := range tr.attached {
		o.SetObserver(nil)
	}
	tr.attached = nil
	tr.d.tracer.tr = nil
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
		Bytes: e.Bytes, Answer: e.Answer,
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
	if e.Route.IsValid() {
		te.Route = e.Route.String()
	}
	for _, r := range e.Remotes {
		te.Remotes = append(te.Remotes, r.String())
	}
	return te
}

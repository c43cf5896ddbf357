package dataplane

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vtepd/vtepd/encap"
)

// Hub is an Observer that hands every event to each of its subscribers
// whose network and filter it passes: trace and capture at once, for as
// many clients as ask. A subscriber that reads too slowly loses events,
// counted, rather than slow the forwarding loops down.
type Hub struct {
	mu   sync.Mutex
	subs atomic.Pointer[[]*Subscription] // replaced whole under mu
}

// NewHub returns a hub without subscribers.
func NewHub() *Hub {
	h := &Hub{}
	h.subs.Store(&[]*Subscription{})
	return h
}

// Subscription is one subscriber's queue of events.
type Subscription struct {
	h       *Hub
	network string
	filter  *Filter
	ch      chan *Event
	lost    atomic.Uint64
	once    sync.Once
}

// DefaultDepth is how many events a subscriber may fall behind by before
// it loses events.
const DefaultDepth = 1024

// Subscribe returns a queue of the events of network ("" for every
// network) that f lets through (nil lets everything through), up to depth
// of them waiting (DefaultDepth when depth <= 0). Close ends it.
func (h *Hub) Subscribe(network string, f *Filter, depth int) *Subscription {
	if depth <= 0 {
		depth = DefaultDepth
	}
	s := &Subscription{h: h, network: network, filter: f, ch: make(chan *Event, depth)}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := append(slices.Clone(*h.subs.Load()), s)
	h.subs.Store(&next)
	return s
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int { return len(*h.subs.Load()) }

// Events delivers the subscription's events in the order each forwarding
// loop saw them. An event and its bytes are shared with the other
// subscribers: read them, do not change them. The channel is never closed.
func (s *Subscription) Events() <-chan *Event { return s.ch }

// Lost is how many events were dropped because the queue was full.
func (s *Subscription) Lost() uint64 { return s.lost.Load() }

// Close ends the subscription; events already queued stay readable.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.h
		h.mu.Lock()
		defer h.mu.Unlock()
		next := slices.DeleteFunc(slices.Clone(*h.subs.Load()), func(o *Subscription) bool { return o == s })
		h.subs.Store(&next)
	})
}

// Observe implements Observer: the event is matched against each
// subscriber's network and filter first, and copied once, only if somebody
// wants it.
func (h *Hub) Observe(e *Event) {
	var (
		c       *Event
		v       encap.Inner
		decoded bool
	)
	for _, s := range *h.subs.Load() {
		if s.network != "" && s.network != e.Network {
			continue
		}
		if s.filter != nil && len(s.filter.terms) > 0 {
			if !decoded {
				decodeInner(&v, e)
				decoded = true
			}
			if !s.filter.match(&v) {
				continue
			}
		}
		if c == nil {
			c = clone(e)
		}
		select {
		case s.ch <- c:
		default:
			s.lost.Add(1)
		}
	}
}

func clone(e *Event) *Event {
	c := *e
	c.Bytes = bytes.Clone(e.Bytes)
	c.Remotes = slices.Clone(e.Remotes)
	c.Answer = bytes.Clone(e.Answer)
	return &c
}

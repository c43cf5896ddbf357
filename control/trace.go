package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// The trace stream: GET /v1/trace?network=N&match=EXPR&count=K answers 200
// at once, then one TraceEvent per line (application/x-ndjson) as frames
// pass, until K frames were seen or the client leaves. Capture is the same
// stream: the client writes the pcap files, the daemon does no file I/O.

// traceSettle is how long, once the last counted frame has started, the
// server waits for more of its stages before it ends the trace anyway:
// a frame whose end it cannot recognise (an event lost to a slow reader, a
// TCP super-frame whose segments leave as frames of their own) must not hold
// the trace open forever.
const traceSettle = time.Second

func (s *Server) serveTrace(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{
			Error: fmt.Sprintf("method %s not allowed on %s (want GET)", r.Method, r.URL.Path),
		})
		return
	}
	req, err := traceRequest(r)
	if err != nil {
		writeJSON(w, statusOf(err), errorBody{Error: err.Error()})
		return
	}
	stream, err := s.b.Trace(req)
	if err != nil {
		status := statusOf(err)
		if status == http.StatusInternalServerError {
			s.log.Error("trace refused", zap.String("network", req.Network), zap.Error(err))
		}
		writeJSON(w, status, errorBody{Error: err.Error()})
		return
	}
	defer func() { _ = stream.Close() }()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush() // the client knows the trace runs before any frame passes
	s.log.Info("trace started", zap.String("network", req.Network), zap.String("match", req.Match), zap.Int("count", req.Count))

	ctx := r.Context()
	enc := json.NewEncoder(w)
	lim := newFrameLimit(req.Count)
	sent := 0
	defer func() {
		s.log.Info("trace ended", zap.String("network", req.Network), zap.Int("events", sent),
			zap.Uint64("lost", stream.Lost()))
	}()
	var settle time.Time // once every counted frame has started: when to give up on them
	for !lim.complete() {
		wait, cancel := ctx, context.CancelFunc(nil)
		if lim.allStarted() {
			if settle.IsZero() {
				settle = time.Now().Add(traceSettle)
			}
			wait, cancel = context.WithDeadline(ctx, settle)
		}
		e, err := stream.Next(wait)
		if cancel != nil {
			cancel()
		}
		if err != nil {
			return // the client left, or the counted frames are through
		}
		if !lim.admit(&e) {
			continue
		}
		e.Lost = stream.Lost()
		if err := enc.Encode(&e); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		sent++
	}
}

// traceRequest reads the query of GET /v1/trace.
func traceRequest(r *http.Request) (TraceRequest, error) {
	q, err := query(r, "network", "match", "count")
	if err != nil {
		return TraceRequest{}, err
	}
	req := TraceRequest{Network: q.Get("network"), Match: q.Get("match")}
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return TraceRequest{}, badInput("count: want a number of frames, 0 or more, got %q", c)
		}
		req.Count = n
	}
	return req, nil
}

// frameLimit passes the events of the first max frames (every frame when
// max is 0) and tells when those frames are through: a frame is through
// when it reached its device, was dropped or answered in place, or left as
// every copy its lookup announced (one, or one per flood destination).
type frameLimit struct {
	max    int
	frames map[frameKey]*frameProgress
	open   int // counted frames not through yet
}

type frameKey struct {
	network string
	frame   uint64
}

type frameProgress struct {
	want, outs int
	through    bool
}

func newFrameLimit(max int) *frameLimit {
	return &frameLimit{max: max, frames: map[frameKey]*frameProgress{}}
}

// admit reports whether e belongs to a counted frame, and notes how far
// that frame got.
func (l *frameLimit) admit(e *TraceEvent) bool {
	if l.max <= 0 {
		return true
	}
	k := frameKey{e.Network, e.Frame}
	p := l.frames[k]
	if p == nil {
		if len(l.frames) >= l.max {
			return false
		}
		p = &frameProgress{want: 1}
		l.frames[k] = p
		l.open++
	}
	if p.through {
		return true
	}
	switch e.Stage {
	case StageLookup:
		switch e.Lookup {
		case LookupMiss, LookupFlood:
			p.want = len(e.Remotes)
		case LookupSuppressed: // answered in place: it goes no further
			l.done(p)
		}
	case StageSocketOut:
		l.out(p)
	case StageDeviceOut:
		l.done(p)
	case StageDrop:
		switch e.Drop {
		case DropSendError:
			l.out(p)
		case DropFDBFull: // learning refused; the frame goes on
		default:
			l.done(p)
		}
	}
	return true
}

func (l *frameLimit) out(p *frameProgress) {
	if p.outs++; p.outs >= p.want {
		l.done(p)
	}
}

func (l *frameLimit) done(p *frameProgress) {
	p.through = true
	l.open--
}

// allStarted reports whether every counted frame has been seen.
func (l *frameLimit) allStarted() bool { return l.max > 0 && len(l.frames) >= l.max }

// complete reports whether every counted frame is through.
func (l *frameLimit) complete() bool { return l.allStarted() && l.open == 0 }

// Trace follows frames live: fn gets each event in order, until req.Count
// frames are through (0: no end), ctx ends (the error is then ctx's), or fn
// returns an error, which Trace returns.
func (c *Client) Trace(ctx context.Context, req TraceRequest, fn func(TraceEvent) error) error {
	q := url.Values{}
	if req.Network != "" {
		q.Set("network", req.Network)
	}
	if req.Match != "" {
		q.Set("match", req.Match)
	}
	if req.Count > 0 {
		q.Set("count", strconv.Itoa(req.Count))
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL("/v1/trace", q), nil)
	if err != nil {
		return err
	}
	// The stream lasts as long as the user wants: no overall timeout.
	stream := &http.Client{Transport: c.http.Transport}
	resp, err := stream.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.unreachable(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return answerError(resp, data)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var e TraceEvent
		if err := dec.Decode(&e); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			}
			return fmt.Errorf("trace: reading from vtepd at %s: %w", c.socket, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

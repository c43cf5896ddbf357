package fdb

import (
	"math"
	"time"
)

// MAC flap limiting.
//
// A learnt MAC that keeps appearing behind different remotes is a loop, two
// hosts claiming one address, or somebody spoofing it; following every move
// makes its traffic bounce between endpoints and costs a writer round per
// frame. With Config.MoveLimit set, each learnt MAC may move MoveLimit times
// in a window of MoveWindow that opens at the first move after the previous
// window has closed. A move beyond that is refused: the entry keeps its
// remote and Learn returns LearnFlapHeld, counted in Counters.FlapHeld. Once
// the window has passed, the next move is allowed and opens a new one.
//
// The accounting lives in the entry itself: a move already publishes a new
// entry, which takes over the window start and the count from the one it
// replaces, so the feature adds no map, no lock and no allocation. A held
// MAC is refused on the lock-free path, from the entry it finds.
//
// Static entries never move, so the limit does not concern them; a static
// entry replaced by Add or Replace, or a MAC learnt afresh after ageing or
// a flush, starts with no moves counted.

// DefaultMoveWindow is the window Config.MoveLimit counts moves in when
// Config.MoveWindow is not set.
const DefaultMoveWindow = time.Second

// moveSettings returns the effective move limit and window of cfg: no limit
// (0, 0) when MoveLimit is not positive.
func moveSettings(cfg Config) (limit uint32, window time.Duration) {
	if cfg.MoveLimit <= 0 {
		return 0, 0
	}
	limit = math.MaxUint32
	if uint64(cfg.MoveLimit) < math.MaxUint32 {
		limit = uint32(cfg.MoveLimit)
	}
	window = cfg.MoveWindow
	if window <= 0 {
		window = DefaultMoveWindow
	}
	return limit, window
}

// flapHeld reports whether e, a learnt entry seen from another remote at
// now, must stay: it has used its moves in a window that is still open. A
// now older than the window's start (a batch from another core) counts as
// inside it.
func (t *Table) flapHeld(e *entry, now int64) bool {
	return t.moveLimit > 0 && e.moves >= t.moveLimit && now-e.moveStart < int64(t.moveWindow)
}

// nextMove returns the window start and move count for the entry that
// replaces e when it moves at now.
func (t *Table) nextMove(e *entry, now int64) (start int64, moves uint32) {
	if t.moveLimit == 0 {
		return 0, 0
	}
	if e.moves == 0 || now-e.moveStart >= int64(t.moveWindow) {
		return now, 1
	}
	return e.moveStart, e.moves + 1
}

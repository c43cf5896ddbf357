package fdb

import (
	"cmp"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAgeing is how long a learnt entry lives without being refreshed; it
// matches the kernel vxlan driver's default `ageing 300`.
const DefaultAgeing = 300 * time.Second

// RefreshStep is the least time by which Learn moves a known entry's age
// on. Frames of a busy peer refresh its entry in every receive batch, from
// every receive worker; storing each time would write one cache line from
// every CPU many thousand times a second, and make every other CPU that
// reads the entry, or its shard, miss it. Within a step the entry keeps its
// time, so it may age out up to a step early, as the kernel's bridge and
// vxlan tables, which keep the time in jiffies, do.
const RefreshStep = time.Millisecond

// DefaultLimit is the default maximum number of entries (learnt plus static)
// in one VNI's table.
const DefaultLimit = 16384

// Config holds the per-VNI table settings.
type Config struct {
	// Ageing is how long a learnt entry survives without being refreshed.
	// Zero means DefaultAgeing; a negative value means learnt entries never
	// age (Expire removes nothing).
	Ageing time.Duration
	// Limit is the maximum number of learnt plus static entries. Zero means
	// DefaultLimit; a negative value means no limit, as the kernel's
	// `maxaddress 0`.
	Limit int
	// Learning enables learning from received frames. When false, Learn does
	// nothing and returns LearnDisabled.
	Learning bool
	// MoveLimit is how many times one learnt MAC may move to another remote
	// within MoveWindow; a further move is refused (LearnFlapHeld) and the
	// MAC stays where it is until the window has passed. Zero or negative
	// means no limit, as the kernel's vxlan driver has. See flap.go.
	MoveLimit int
	// MoveWindow is the period MoveLimit counts moves in. Zero or negative
	// means DefaultMoveWindow; it is unused without a MoveLimit.
	MoveWindow time.Duration
}

// LearnResult says what Learn did with a source MAC.
type LearnResult uint8

const (
	// LearnRefreshed: the MAC was known at this remote; its age was renewed.
	LearnRefreshed LearnResult = iota
	// LearnNew: the MAC was not known and is now learnt.
	LearnNew
	// LearnMoved: a learnt MAC was seen from another remote and now points
	// there.
	LearnMoved
	// LearnStatic: the MAC has a static entry at another remote; the entry is
	// kept. The kernel drops such frames.
	LearnStatic
	// LearnFull: the MAC was not known and the table is at its limit; it was
	// not learnt and Counters.Full counts it.
	LearnFull
	// LearnDisabled: learning is off for this table.
	LearnDisabled
	// LearnIgnored: the source MAC is zero or a group address (or the remote
	// is invalid); such sources are never learnt.
	LearnIgnored
	// LearnFlapHeld: a learnt MAC was seen from another remote after it had
	// used up Config.MoveLimit moves in the current window; it stays at its
	// remote and Counters.FlapHeld counts the attempt.
	LearnFlapHeld
	// LearnExtern: the MAC has an entry a control plane installed (EVPN)
	// at another remote; the entry is kept, as the kernel keeps its
	// extern_learn entries, and Counters.ExternKept counts the frame.
	LearnExtern
)

var learnResultNames = [...]string{
	LearnRefreshed: "refreshed",
	LearnNew:       "new",
	LearnMoved:     "moved",
	LearnStatic:    "static",
	LearnFull:      "full",
	LearnDisabled:  "disabled",
	LearnIgnored:   "ignored",
	LearnFlapHeld:  "flap held",
	LearnExtern:    "extern",
}

func (r LearnResult) String() string {
	if int(r) < len(learnResultNames) {
		return learnResultNames[r]
	}
	return fmt.Sprintf("LearnResult(%d)", uint8(r))
}

// Entry is one row of the L2 table, as Entries reports it.
type Entry struct {
	MAC    MAC
	Remote netip.Addr
	Static bool
	// Extern marks an entry a control plane installed (AddExtern): it
	// never ages, learning never moves it, and only DelExtern or Del
	// removes it. iproute2 shows such entries as extern_learn.
	Extern bool
	// Updated is when the entry was added or last refreshed, on the Now clock.
	Updated int64
	// Used is when a lookup last found it, to the second Expire runs at
	// (or when it was added), on the Now clock.
	Used int64
}

// Counters are a table's statistics. All but Entries only grow.
type Counters struct {
	Entries int
	// Learnt counts MACs learnt (LearnNew).
	Learnt uint64
	// Moved counts learnt MACs that moved to another remote.
	Moved uint64
	// Refreshed counts age renewals of known entries. A renewal happens when
	// Learn is given a now at least RefreshStep later than the entry holds,
	// so a MAC seen in every batch counts at most once a RefreshStep.
	Refreshed uint64
	// Full counts new MACs not learnt because the table was at its limit.
	Full uint64
	// Aged counts learnt entries removed by Expire.
	Aged uint64
	// StaticKept counts frames whose source MAC has a static entry at
	// another remote; the static entry was kept.
	StaticKept uint64
	// FlapHeld counts moves refused by Config.MoveLimit (LearnFlapHeld).
	FlapHeld uint64
	// ExternKept counts frames whose source MAC has an extern entry at
	// another remote (LearnExtern); the entry was kept.
	ExternKept uint64
}

// Table is one VNI's L2 forwarding table, MAC -> remote endpoint, plus its
// flood list. It is safe for concurrent use.
//
// The MACs are spread over shards by a seeded hash. Each shard is an
// open-addressing hash table whose slots are atomic pointers to immutable
// entries (only an entry's timestamp changes, atomically). Readers load the
// shard's slot array and probe it without a lock. A shard's writer, under
// the shard's mutex, fills an empty slot for a new MAC, swaps a slot's
// pointer to move or delete an entry, and builds a fresh slot array only
// when the shard grows or fills up with deleted slots. So a new MAC costs
// amortised O(1) and one small allocation, however large the table is,
// rather than a copy of its shard.
type Table struct {
	vni      uint32
	ageing   time.Duration
	limit    int64 // <= 0: no limit
	learning bool
	// moveLimit (0: none) and moveWindow, see flap.go.
	moveLimit  uint32
	moveWindow time.Duration

	seed0, seed1 uint64
	count        atomic.Int64 // live entries, reserved before insertion
	shards       [numShards]shard

	floodMu sync.Mutex
	flood   atomic.Pointer[[]netip.Addr]

	// tick is the Now time of the last Expire (once a second in vtepd): a
	// hit marks its entry used at tick, not at the exact time, so that a
	// lookup costs no clock read and at most one store a second.
	tick atomic.Int64
}

const (
	shardBits  = 6
	numShards  = 1 << shardBits
	shardShift = 64 - shardBits
	// minSlots is the smallest slot array; arrays are powers of two.
	minSlots = 8
)

// shard is padded so that the slot array's pointer, which every lookup
// reads, has a cache line to itself, and the counters the data path bumps
// share none with a neighbouring shard. Shards are 192 bytes; the heap
// need not put the table on a 64-byte boundary, but with tab first, 56
// bytes after it and 40 at the end of each shard, tab's line holds only
// padding besides for any start up to 40 bytes past one (large objects
// start 8 bytes past), and at worst the previous shard's rarely written
// last counters.
type shard struct {
	tab atomic.Pointer[slots]
	_   [56]byte

	mu   sync.Mutex
	live int // entries in tab (writer only)
	used int // non-nil slots in tab, live or deleted (writer only)

	learnt, moved, refreshed, full, aged, staticKept, flapHeld, externKept atomic.Uint64
	_                                                                      [40]byte
}

// entry is immutable except for updated. Moving a MAC publishes a new entry,
// which carries the move accounting of flap.go forward.
type entry struct {
	key    uint64
	remote netip.Addr
	static bool
	extern bool
	// moves is how many moves led here since moveStart, the first move of
	// the current window; both stay zero without a move limit.
	moves     uint32
	moveStart int64
	updated   atomic.Int64
	used      atomic.Int64 // the last tick a lookup hit it (Table.tick)
}

// deleted marks a slot whose entry was removed; probes continue past it. Its
// key has bit 63 set, which no packed 48-bit MAC has, so a probe never
// matches it.
var deleted = &entry{key: 1 << 63}

// slots is a linear-probing array. It always keeps at least a quarter of its
// slots nil, so every probe ends. Once a newer array is published, nothing
// writes to the old one again.
type slots struct {
	mask uint64
	s    []atomic.Pointer[entry]
}

func newSlots(n int) *slots {
	return &slots{mask: uint64(n - 1), s: make([]atomic.Pointer[entry], n)}
}

// find returns the index holding key and its entry, or -1 and nil.
func (sl *slots) find(key, h uint64) (int, *entry) {
	for i := h & sl.mask; ; i = (i + 1) & sl.mask {
		e := sl.s[i].Load()
		if e == nil {
			return -1, nil
		}
		if e.key == key {
			return int(i), e
		}
	}
}

// NewTable returns an empty table for vni. The VNI is kept as given; the
// caller validates its 24-bit range (RFC 7348 section 5).
func NewTable(vni uint32, cfg Config) *Table {
	t := &Table{
		vni:      vni,
		ageing:   cfg.Ageing,
		limit:    int64(cfg.Limit),
		learning: cfg.Learning,
		seed0:    rand.Uint64(),
		seed1:    rand.Uint64() | 1,
	}
	if t.ageing == 0 {
		t.ageing = DefaultAgeing
	}
	if t.limit == 0 {
		t.limit = DefaultLimit
	}
	t.moveLimit, t.moveWindow = moveSettings(cfg)
	for i := range t.shards {
		t.shards[i].tab.Store(newSlots(minSlots))
	}
	empty := []netip.Addr{}
	t.flood.Store(&empty)
	t.tick.Store(Now())
	return t
}

// VNI returns the VXLAN network identifier the table belongs to.
func (t *Table) VNI() uint32 { return t.vni }

// Config returns the table's effective settings, defaults applied.
func (t *Table) Config() Config {
	return Config{Ageing: t.ageing, Limit: int(t.limit), Learning: t.learning,
		MoveLimit: int(t.moveLimit), MoveWindow: t.moveWindow}
}

// hash mixes a MAC key with the table's random seed, so that remote
// senders cannot choose MACs that pile into one shard or probe chain.
func (t *Table) hash(k uint64) uint64 {
	hi, lo := bits.Mul64(k^t.seed0, t.seed1)
	return hi ^ lo
}

func (t *Table) shardOf(h uint64) *shard { return &t.shards[h>>shardShift] }

// Lookup returns the remote endpoint for mac. It takes no lock and
// allocates nothing.
func (t *Table) Lookup(mac MAC) (remote netip.Addr, ok bool) {
	k := mac.key()
	h := t.hash(k)
	if _, e := t.shardOf(h).tab.Load().find(k, h); e != nil {
		if tick := t.tick.Load(); e.used.Load() < tick {
			e.used.Store(tick)
		}
		return e.remote, true
	}
	return netip.Addr{}, false
}

// Get returns mac's entry as Entries reports it, for a slow path (a
// what-if): unlike Lookup, it does not mark the entry used.
func (t *Table) Get(mac MAC) (Entry, bool) {
	k := mac.key()
	h := t.hash(k)
	_, e := t.shardOf(h).tab.Load().find(k, h)
	if e == nil {
		return Entry{}, false
	}
	return Entry{MAC: mac, Remote: e.remote, Static: e.static, Extern: e.extern,
		Updated: e.updated.Load(), Used: e.used.Load()}, true
}

// Learn records that frames from mac arrive from remote (the outer source
// address), at time now on the Now clock. A known MAC at the same remote
// costs a lock-free lookup and at most one atomic store; only new and moved
// MACs take the shard's lock. A 4in6-mapped remote is stored as IPv4.
func (t *Table) Learn(mac MAC, remote netip.Addr, now int64) LearnResult {
	if !t.learning {
		return LearnDisabled
	}
	if mac.IsMulticast() || mac.IsZero() || !remote.IsValid() {
		return LearnIgnored
	}
	remote = remote.Unmap()
	k := mac.key()
	h := t.hash(k)
	s := t.shardOf(h)
	if _, e := s.tab.Load().find(k, h); e != nil {
		if r, done := s.learnKnown(e, remote, now); done {
			return r
		}
		// A held MAC is refused here, without the lock, so a flapping
		// source costs no more than a refresh.
		if t.flapHeld(e, now) {
			s.flapHeld.Add(1)
			return LearnFlapHeld
		}
	} else if t.limit > 0 && t.count.Load() >= t.limit {
		s.full.Add(1)
		return LearnFull
	}
	return t.learnSlow(s, k, h, remote, now)
}

// learnKnown handles a MAC already in the table when no write is needed.
func (s *shard) learnKnown(e *entry, remote netip.Addr, now int64) (LearnResult, bool) {
	if e.remote == remote {
		// Only a time a step later is stored (RefreshStep): batches on
		// other cores may pass an older now, and the age must not go
		// backwards, even when two of them store at once.
		for {
			u := e.updated.Load()
			if now-u < int64(RefreshStep) {
				break
			}
			if e.updated.CompareAndSwap(u, now) {
				s.refreshed.Add(1)
				break
			}
		}
		return LearnRefreshed, true
	}
	if e.static {
		s.staticKept.Add(1)
		return LearnStatic, true
	}
	if e.extern {
		s.externKept.Add(1)
		return LearnExtern, true
	}
	return 0, false
}

// learnSlow is the writer path: a new MAC or a move.
func (t *Table) learnSlow(s *shard, k, h uint64, remote netip.Addr, now int64) LearnResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.tab.Load()
	i, e := sl.find(k, h)
	if e != nil {
		if r, done := s.learnKnown(e, remote, now); done {
			return r
		}
		if t.flapHeld(e, now) {
			s.flapHeld.Add(1)
			return LearnFlapHeld
		}
		ne := newEntry(k, remote, false, now)
		ne.moveStart, ne.moves = t.nextMove(e, now)
		sl.s[i].Store(ne)
		s.moved.Add(1)
		return LearnMoved
	}
	if !t.reserve() {
		s.full.Add(1)
		return LearnFull
	}
	t.insertLocked(s, newEntry(k, remote, false, now), h)
	s.learnt.Add(1)
	return LearnNew
}

func newEntry(k uint64, remote netip.Addr, static bool, now int64) *entry {
	e := &entry{key: k, remote: remote, static: static}
	e.updated.Store(now)
	e.used.Store(now)
	return e
}

// reserve takes one place under the limit, or reports that there is none.
func (t *Table) reserve() bool {
	if t.limit <= 0 {
		t.count.Add(1)
		return true
	}
	for {
		c := t.count.Load()
		if c >= t.limit {
			return false
		}
		if t.count.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// insertLocked stores e, whose key is not in s. Caller holds s.mu.
func (t *Table) insertLocked(s *shard, e *entry, h uint64) {
	sl := s.tab.Load()
	// Keep at least a quarter of the slots nil so probes stay short and end.
	if (s.used+1)*4 > len(sl.s)*3 {
		sl = t.rebuildLocked(s, s.live+1)
	}
	i := h & sl.mask
	for {
		cur := sl.s[i].Load()
		if cur == nil {
			s.used++
			break
		}
		if cur == deleted {
			break
		}
		i = (i + 1) & sl.mask
	}
	sl.s[i].Store(e)
	s.live++
}

// rebuildLocked publishes a fresh slot array holding s's live entries, sized
// for need entries at no more than half load. Caller holds s.mu.
func (t *Table) rebuildLocked(s *shard, need int) *slots {
	n := minSlots
	for n < need*2 {
		n *= 2
	}
	old := s.tab.Load()
	nsl := newSlots(n)
	live := 0
	for i := range old.s {
		e := old.s[i].Load()
		if e == nil || e == deleted {
			continue
		}
		j := t.hash(e.key) & nsl.mask
		for nsl.s[j].Load() != nil {
			j = (j + 1) & nsl.mask
		}
		nsl.s[j].Store(e)
		live++
	}
	s.tab.Store(nsl)
	s.live, s.used = live, live
	return nsl
}

// compactLocked shrinks or cleans a shard after removals, once deleted slots
// outnumber live ones. Caller holds s.mu.
func (t *Table) compactLocked(s *shard) {
	sl := s.tab.Load()
	if len(sl.s) > minSlots && s.used-s.live > s.live {
		t.rebuildLocked(s, s.live)
	}
}

func checkMAC(mac MAC) error {
	if mac.IsZero() || mac.IsMulticast() {
		return fmt.Errorf("%w %s: want a unicast, non-zero address (use the flood list for 00:00:00:00:00:00)", ErrBadMAC, mac)
	}
	return nil
}

func checkRemote(what string, a netip.Addr) (netip.Addr, error) {
	if !a.IsValid() {
		return a, fmt.Errorf("%w: %s is empty", ErrBadAddr, what)
	}
	return a.Unmap(), nil
}

// Add adds an entry, as `bridge fdb add`. A static entry never ages and
// learning never overwrites it. It returns ErrExists if mac has an entry,
// ErrFull if the table is at its limit, ErrBadMAC for a zero or group MAC.
func (t *Table) Add(mac MAC, remote netip.Addr, static bool) error {
	return t.add(mac, remote, kindOf(static), addOnly)
}

// Replace adds an entry or overwrites the existing one for mac, as
// `bridge fdb replace`. Overwriting does not count against the limit.
func (t *Table) Replace(mac MAC, remote netip.Addr, static bool) error {
	return t.add(mac, remote, kindOf(static), replaceAny)
}

// entryKind is what made an entry: learning, a user (static) or a control
// plane (extern).
type entryKind uint8

const (
	kindLearnt entryKind = iota
	kindStatic
	kindExtern
)

func kindOf(static bool) entryKind {
	if static {
		return kindStatic
	}
	return kindLearnt
}

// How add treats an entry already there for the MAC.
const (
	addOnly          = iota // ErrExists
	replaceAny              // overwritten
	replaceNonStatic        // overwritten unless static (ErrStatic)
)

func (t *Table) add(mac MAC, remote netip.Addr, kind entryKind, onExisting int) error {
	if err := checkMAC(mac); err != nil {
		return err
	}
	remote, err := checkRemote("remote", remote)
	if err != nil {
		return fmt.Errorf("fdb entry %s: %w", mac, err)
	}
	k := mac.key()
	h := t.hash(k)
	s := t.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.tab.Load()
	e := newEntry(k, remote, kind == kindStatic, Now())
	e.extern = kind == kindExtern
	if i, old := sl.find(k, h); i >= 0 {
		switch {
		case onExisting == addOnly:
			return fmt.Errorf("fdb entry %s: %w", mac, ErrExists)
		case onExisting == replaceNonStatic && old.static:
			return fmt.Errorf("fdb entry %s: %w", mac, ErrStatic)
		}
		sl.s[i].Store(e)
		return nil
	}
	if !t.reserve() {
		return fmt.Errorf("fdb entry %s: %w (limit %d)", mac, ErrFull, t.limit)
	}
	t.insertLocked(s, e, h)
	return nil
}

// Del removes the entry for mac, learnt or static. It returns ErrNotFound if
// there is none.
func (t *Table) Del(mac MAC) error {
	k := mac.key()
	h := t.hash(k)
	s := t.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.delLocked(s, k, h, func(*entry) bool { return true }) {
		return fmt.Errorf("fdb entry %s: %w", mac, ErrNotFound)
	}
	return nil
}

// delLocked removes the entry for key k if which says so, and reports
// whether it did. Caller holds s.mu.
func (t *Table) delLocked(s *shard, k, h uint64, which func(*entry) bool) bool {
	sl := s.tab.Load()
	i, e := sl.find(k, h)
	if i < 0 || !which(e) {
		return false
	}
	sl.s[i].Store(deleted)
	s.live--
	t.count.Add(-1)
	t.compactLocked(s)
	return true
}

// Flush removes all learnt entries, and the static ones too if includeStatic.
// It returns how many it removed. The flood list is not touched, nor are
// extern entries: they go when the control plane withdraws them.
func (t *Table) Flush(includeStatic bool) int {
	return t.sweep(func(e *entry) bool { return !e.extern && (includeStatic || !e.static) }, nil)
}

// AddExtern installs an entry on a control plane's word (an EVPN type 2
// route), as the kernel's extern_learn entries: it replaces a learnt or
// extern entry for mac, never ages and is never moved by learning. A
// static entry wins: AddExtern leaves it and returns ErrStatic.
func (t *Table) AddExtern(mac MAC, remote netip.Addr) error {
	return t.add(mac, remote, kindExtern, replaceNonStatic)
}

// DelExtern removes mac's extern entry if it still points at remote, and
// reports whether it did: a later route may have moved the MAC since, and
// a static or learnt entry is not the control plane's to remove.
func (t *Table) DelExtern(mac MAC, remote netip.Addr) bool {
	k := mac.key()
	h := t.hash(k)
	s := t.shardOf(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	remote = remote.Unmap()
	return t.delLocked(s, k, h, func(e *entry) bool { return e.extern && e.remote == remote })
}

// Expire removes learnt entries not refreshed for the table's ageing time as
// of now (an entry refreshed at u goes once now-u >= ageing, as the kernel
// does). It returns how many it removed; with a negative ageing, none.
func (t *Table) Expire(now int64) int {
	t.tick.Store(now)
	if t.ageing < 0 {
		return 0
	}
	age := int64(t.ageing)
	return t.sweep(func(e *entry) bool {
		return !e.static && !e.extern && now-e.updated.Load() >= age
	}, func(s *shard, n int) { s.aged.Add(uint64(n)) })
}

// sweep deletes the entries remove selects, one shard lock at a time so the
// data path's writers wait at most one shard's scan.
func (t *Table) sweep(remove func(*entry) bool, counted func(*shard, int)) int {
	total := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		sl := s.tab.Load()
		n := 0
		for j := range sl.s {
			e := sl.s[j].Load()
			if e == nil || e == deleted || !remove(e) {
				continue
			}
			sl.s[j].Store(deleted)
			n++
		}
		if n > 0 {
			s.live -= n
			t.count.Add(int64(-n))
			if counted != nil {
				counted(s, n)
			}
			t.compactLocked(s)
		}
		s.mu.Unlock()
		total += n
	}
	return total
}

// Tick is the time of the last Expire (of NewTable before the first): a
// clock to the second for callers that learn without reading the time.
func (t *Table) Tick() int64 { return t.tick.Load() }

// Len returns the number of entries, learnt and static.
func (t *Table) Len() int { return int(t.count.Load()) }

// Entries returns a copy of the table sorted by MAC, for a stable
// `fdb show`. Flood list addresses are not included; see Flood.
func (t *Table) Entries() []Entry {
	out := make([]Entry, 0, t.Len())
	for i := range t.shards {
		sl := t.shards[i].tab.Load()
		for j := range sl.s {
			e := sl.s[j].Load()
			if e == nil || e == deleted {
				continue
			}
			out = append(out, Entry{
				MAC:     macFromKey(e.key),
				Remote:  e.remote,
				Static:  e.static,
				Extern:  e.extern,
				Updated: e.updated.Load(),
				Used:    e.used.Load(),
			})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Compare(a.MAC.key(), b.MAC.key())
	})
	return out
}

// Counters returns the table's statistics.
func (t *Table) Counters() Counters {
	c := Counters{Entries: t.Len()}
	for i := range t.shards {
		s := &t.shards[i]
		c.Learnt += s.learnt.Load()
		c.Moved += s.moved.Load()
		c.Refreshed += s.refreshed.Load()
		c.Full += s.full.Load()
		c.Aged += s.aged.Load()
		c.StaticKept += s.staticKept.Load()
		c.FlapHeld += s.flapHeld.Load()
		c.ExternKept += s.externKept.Load()
	}
	return c
}

// Flood returns the flood list: the remotes that get a copy of broadcast,
// unknown unicast and multicast frames by head-end replication, as the
// kernel's all-zeros entries (`bridge fdb append 00:00:00:00:00:00 dst IP`).
// The slice is a shared immutable snapshot: callers must not modify it. It
// takes no lock and allocates nothing.
func (t *Table) Flood() []netip.Addr { return *t.flood.Load() }

// AddFlood appends remote to the flood list. It returns ErrExists if remote
// is already there.
func (t *Table) AddFlood(remote netip.Addr) error {
	remote, err := checkRemote("flood remote", remote)
	if err != nil {
		return err
	}
	t.floodMu.Lock()
	defer t.floodMu.Unlock()
	cur := *t.flood.Load()
	if slices.Contains(cur, remote) {
		return fmt.Errorf("flood remote %s: %w", remote, ErrExists)
	}
	next := append(slices.Clip(cur), remote)
	t.flood.Store(&next)
	return nil
}

// DelFlood removes remote from the flood list. It returns ErrNotFound if it
// is not there.
func (t *Table) DelFlood(remote netip.Addr) error {
	remote = remote.Unmap()
	t.floodMu.Lock()
	defer t.floodMu.Unlock()
	cur := *t.flood.Load()
	i := slices.Index(cur, remote)
	if i < 0 {
		return fmt.Errorf("flood remote %s: %w", remote, ErrNotFound)
	}
	next := slices.Delete(slices.Clone(cur), i, i+1)
	t.flood.Store(&next)
	return nil
}

// SetFlood replaces the flood list with remotes, in order. Invalid addresses
// and repeats are dropped; the slice is copied.
func (t *Table) SetFlood(remotes []netip.Addr) {
	next := make([]netip.Addr, 0, len(remotes))
	for _, r := range remotes {
		if !r.IsValid() {
			continue
		}
		r = r.Unmap()
		if !slices.Contains(next, r) {
			next = append(next, r)
		}
	}
	t.floodMu.Lock()
	defer t.floodMu.Unlock()
	t.flood.Store(&next)
}

package fdb

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// DB holds the tables of all VNIs of a daemon, for the control API
// (`fdb show --vni N`). Table lookups are lock-free: the writer publishes a
// new immutable map on each Add or Remove, which are rare.
type DB struct {
	mu     sync.Mutex
	tables atomic.Pointer[map[uint32]*Table]
}

// NewDB returns an empty DB.
func NewDB() *DB {
	db := &DB{}
	m := map[uint32]*Table{}
	db.tables.Store(&m)
	return db
}

// Add registers t under its VNI. It returns ErrExists if the VNI already
// has a table.
func (db *DB) Add(t *Table) error {
	if t == nil {
		return errors.New("fdb: nil table")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := *db.tables.Load()
	if _, ok := cur[t.vni]; ok {
		return fmt.Errorf("vni %d: %w", t.vni, ErrExists)
	}
	next := maps.Clone(cur)
	next[t.vni] = t
	db.tables.Store(&next)
	return nil
}

// Remove drops the table of vni, if any.
func (db *DB) Remove(vni uint32) {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := *db.tables.Load()
	if _, ok := cur[vni]; !ok {
		return
	}
	next := maps.Clone(cur)
	delete(next, vni)
	db.tables.Store(&next)
}

// Table returns the table of vni, or nil.
func (db *DB) Table(vni uint32) *Table { return (*db.tables.Load())[vni] }

// Tables returns all tables sorted by VNI.
func (db *DB) Tables() []*Table {
	m := *db.tables.Load()
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *Table) int { return cmp.Compare(a.vni, b.vni) })
	return out
}

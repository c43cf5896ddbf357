package fdb

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestExtern: an entry a control plane installs replaces what learning
// found, survives learning from another remote, ageing and flush, yields
// to a static entry, and goes only with its own remote's withdrawal.
func TestExtern(t *testing.T) {
	tb := NewTable(42, Config{Learning: true, Ageing: time.Second})
	if r := tb.Learn(macA, ip1, 1); r != LearnNew {
		t.Fatalf("Learn: %v", r)
	}
	if err := tb.AddExtern(macA, ip2); err != nil {
		t.Fatalf("AddExtern over a learnt entry: %v", err)
	}
	checkLookup(t, tb, macA, ip2, true)
	if r := tb.Learn(macA, ip1, 2); r != LearnExtern {
		t.Errorf("Learn from another remote: got %v, want %v", r, LearnExtern)
	}
	checkLookup(t, tb, macA, ip2, true)
	if c := tb.Counters(); c.ExternKept != 1 || c.Moved != 0 {
		t.Errorf("counters: got extern kept %d, moved %d; want 1, 0", c.ExternKept, c.Moved)
	}
	if n := tb.Expire(Now() + int64(time.Hour)); n != 0 {
		t.Errorf("Expire removed %d, want the extern entry kept", n)
	}
	if n := tb.Flush(true); n != 0 {
		t.Errorf("Flush(all) removed %d, want the extern entry kept", n)
	}
	es := tb.Entries()
	if len(es) != 1 || !es[0].Extern || es[0].Static || es[0].Remote != ip2 {
		t.Errorf("Entries: got %+v, want one extern entry at %v", es, ip2)
	}

	// A withdrawal from a remote the MAC has since left removes nothing.
	if err := tb.AddExtern(macA, ip3); err != nil {
		t.Fatal(err)
	}
	if tb.DelExtern(macA, ip2) {
		t.Error("DelExtern with the old remote removed the moved entry")
	}
	checkLookup(t, tb, macA, ip3, true)
	if !tb.DelExtern(macA, ip3) {
		t.Error("DelExtern with its remote did not remove the entry")
	}
	checkLookup(t, tb, macA, netip.Addr{}, false)
	if tb.Len() != 0 {
		t.Errorf("Len after DelExtern: %d", tb.Len())
	}

	// Static entries win, and are not the control plane's to remove.
	if err := tb.Add(macB, ip1, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddExtern(macB, ip2); !errors.Is(err, ErrStatic) {
		t.Errorf("AddExtern over a static entry: got %v, want ErrStatic", err)
	}
	if tb.DelExtern(macB, ip1) {
		t.Error("DelExtern removed a static entry")
	}
	checkLookup(t, tb, macB, ip1, true)
	// Nor learnt ones.
	tb.Learn(macC, ip1, Now())
	if tb.DelExtern(macC, ip1) {
		t.Error("DelExtern removed a learnt entry")
	}
	if err := tb.AddExtern(MAC{0x01, 0, 0x5e, 0, 0, 1}, ip1); !errors.Is(err, ErrBadMAC) {
		t.Errorf("AddExtern of a group MAC: got %v, want ErrBadMAC", err)
	}
}

// TestExternLimit: extern entries count against the table's limit.
func TestExternLimit(t *testing.T) {
	tb := NewTable(1, Config{Limit: 1})
	if err := tb.AddExtern(macA, ip1); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddExtern(macB, ip1); !errors.Is(err, ErrFull) {
		t.Errorf("AddExtern past the limit: got %v, want ErrFull", err)
	}
	if err := tb.AddExtern(macA, ip2); err != nil {
		t.Errorf("AddExtern replacing at the limit: %v", err)
	}
}

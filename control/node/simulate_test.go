package node

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

// sentAfter waits for the wire to carry more than before packets and
// returns the new ones.
func sentAfter(t *testing.T, f *fakeHost, before int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s := f.wire.Sent(); len(s) > before {
			time.Sleep(20 * time.Millisecond) // the rest of a flood
			return f.wire.Sent()[before:]
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing sent")
		}
		time.Sleep(time.Millisecond)
	}
}

// simulate is n's answer to the what-if expr, or the test's end.
func simulate(t *testing.T, n *Node, expr string) control.SimulateResult {
	t.Helper()
	r, err := n.Simulate(control.SimulateRequest{Expr: expr})
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return r
}

// TestSimulateVXLAN: each what-if answer, checked against what forwarding
// then does with the same frame: a hit goes to its entry's remote from the
// source port announced, a miss floods to the list, an empty list drops as
// no_remote, an oversized frame is cut into the fragments announced.
func TestSimulateVXLAN(t *testing.T) {
	vx := vxlanNet("vx42", 42, "10.0.0.2", "10.0.0.3")
	vx.Address = netip.MustParsePrefix("192.168.42.1/24")
	n, f, _ := startNode(t, testConfig(vx))
	known := fdb.MAC{0x02, 0, 0, 0, 0, 0x09}
	if err := n.FDBAdd(42, known, netip.MustParseAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	sim := func(expr string) control.SimulateResult { t.Helper(); return simulate(t, n, expr) }

	hit := sim("dst 02:00:00:00:00:09 vni 42")
	if hit.Lookup != "hit" || hit.Entry != "02:00:00:00:00:09 dst 10.0.0.3, static" || hit.Drop != "" ||
		!strings.HasPrefix(hit.Outer, "VXLAN vni 42, 10.0.0.1:") || !strings.HasSuffix(hit.Outer, " > 10.0.0.3:4789") {
		t.Errorf("hit: %+v", hit)
	}
	// The same frame, forwarded: one packet to 10.0.0.3 from that port.
	src, _ := f.host().DeviceMAC("vx42")
	frame := echoFrame(known, src, netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("192.168.42.1"), hit.Len)
	before := len(f.wire.Sent())
	f.device(t, "vx42").link.Inject(frame)
	sent := sentAfter(t, f, before)
	if len(sent) != 1 || netip.AddrFrom4([4]byte(sent[0][16:20])) != netip.MustParseAddr("10.0.0.3") ||
		!strings.Contains(hit.Outer, ":"+strconv.Itoa(int(binary.BigEndian.Uint16(sent[0][20:22])))+" >") {
		t.Errorf("forwarded: %d packets, first to %v from port %d; the what-if said %s", len(sent),
			netip.AddrFrom4([4]byte(sent[0][16:20])), binary.BigEndian.Uint16(sent[0][20:22]), hit.Outer)
	}

	miss := sim("dst 02:00:00:00:00:77")
	if miss.Lookup != "miss" || strings.Join(miss.Remotes, " ") != "10.0.0.2 10.0.0.3" || miss.Drop != "" {
		t.Errorf("miss: %+v", miss)
	}
	if out := miss.String(); !strings.Contains(out, "lookup: unknown unicast: flood to 10.0.0.2 10.0.0.3") || !strings.Contains(out, "verdict: sent, 2 copies") {
		t.Errorf("miss as printed:\n%s", out)
	}
	if a := sim("arp 192.168.42.2"); a.Lookup != "flood" || len(a.Remotes) != 2 || !strings.Contains(a.Frame, "ARP who-has 192.168.42.2 tell 192.168.42.1") {
		t.Errorf("arp: %+v", a)
	}

	// The largest frame the device takes (MTU 1450 from a 1500 underlay,
	// plus the Ethernet header) makes a 1500-byte outer packet: it fits.
	// Four more bytes (a VLAN tag's room) and it is cut in two.
	if r := sim("dst 02:00:00:00:00:09 len 1464"); r.OuterLen != 1500 || r.Fragments != 0 || r.Drop != "" {
		t.Errorf("len 1464: %+v", r)
	}
	big := sim("dst 02:00:00:00:00:09 len 1468")
	if big.Fragments != 2 || big.Drop != "" {
		t.Errorf("len 1468: %+v, want 2 fragments", big)
	}
	before = len(f.wire.Sent())
	f.device(t, "vx42").link.Inject(echoFrame(known, src, netip.MustParseAddr("192.168.42.1"), netip.MustParseAddr("192.168.42.1"), 1468))
	if got := len(sentAfter(t, f, before)); got != big.Fragments {
		t.Errorf("forwarded the 1468-byte frame as %d packets, the what-if said %d fragments", got, big.Fragments)
	}
	if r := sim("dst 02:00:00:00:00:09 len 1469"); r.Drop != "too_big" || !strings.Contains(r.Why, "device's MTU (1450)") {
		t.Errorf("len 1469: %+v", r)
	}

	// An empty flood list: nowhere to go.
	if err := n.PeerDel(42, netip.MustParseAddr("10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if err := n.PeerDel(42, netip.MustParseAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	if r := sim("dst broadcast"); r.Drop != "no_remote" || !strings.Contains(r.Why, "flood list is empty") {
		t.Errorf("broadcast with no flood list: %+v", r)
	}

	for expr, want := range map[string]string{
		"dst 02:00:00:00:00:09 vni 43": "vni 43: no such network",
		"dst 10.244.1.1 vni 42":        "dst: vx42 is a vxlan network",
		"dst zz":                       `dst: want a MAC`,
		"src 02:00:00:00:00:01":        "dst: required",
		"dst broadcast dst broadcast":  "dst: given twice",
		"dst broadcast ttl 3":          `"ttl": not a word`,
	} {
		if _, err := n.Simulate(control.SimulateRequest{Expr: expr}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", expr, err, want)
		}
	}
}

// TestSimulateIPIP: a packet to a routed block takes its route, one to no
// block is dropped as no_remote, one over the tunnel's MTU as too_big.
func TestSimulateIPIP(t *testing.T) {
	ip := ipipNet("ipip0", "10.244.1.0/24=10.0.0.2")
	n, _, _ := startNode(t, testConfig(ip))
	sim := func(expr string) control.SimulateResult { t.Helper(); return simulate(t, n, expr) }
	if r := sim("dst 10.244.1.7"); r.Lookup != "route" || r.Route != "10.244.1.0/24 via 10.0.0.2" || r.Outer != "IPIP 10.0.0.1 > 10.0.0.2" || r.Drop != "" {
		t.Errorf("routed: %+v", r)
	}
	if r := sim("dst 10.245.0.1"); r.Drop != "no_remote" || !strings.Contains(r.Why, "no route of ipip0 holds 10.245.0.1") {
		t.Errorf("unrouted: %+v", r)
	}
	if r := sim("dst 10.244.1.7 len 1481"); r.Drop != "too_big" || !strings.Contains(r.Why, "over the tunnel's 1480") {
		t.Errorf("too big: %+v", r)
	}
	if _, err := n.Simulate(control.SimulateRequest{Expr: "dst 02:00:00:00:00:09"}); err == nil || !strings.Contains(err.Error(), "network: which one") {
		t.Errorf("a MAC with only an ipip network: %v", err)
	}
}

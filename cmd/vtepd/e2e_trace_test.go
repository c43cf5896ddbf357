//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// TestE2ETrace follows a known ping through two real daemons with vtepctl
// trace: on the sender, the echo request goes device-in, lookup, encap,
// socket-out; the reply comes back socket-in, decap, learn, device-out. Then
// vtepctl capture writes both sides of one frame to pcap files that
// gopacket decodes.
func TestE2ETrace(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 1) // learnt both ways: the traced ping is unicast

	tr := a.startTrace(t, bin, "trace", "--json", "--match", "icmp", "--count", "2")
	pingAll(t, a.ns, b.over, 1)
	select {
	case <-tr.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("vtepctl trace --count 2 did not end after one ping\n%s", tr.Output())
	}
	if err := tr.Stop(); err != nil {
		t.Fatalf("vtepctl trace: %v\n%s", err, tr.Output())
	}
	seen := map[string]bool{}
	var peers []string
	for _, line := range strings.Split(strings.TrimSpace(tr.Output()), "\n") {
		var e struct {
			Stage  string `json:"stage"`
			VNI    uint32 `json:"vni"`
			Peer   string `json:"peer"`
			Lookup string `json:"lookup"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // a status line, not an event
		}
		if e.VNI != 42 {
			t.Errorf("trace event %s: VNI %d, want 42", line, e.VNI)
		}
		seen[e.Stage] = true
		if e.Stage == "lookup" {
			peers = append(peers, e.Lookup+" "+e.Peer)
		}
	}
	for _, st := range []string{"device-in", "lookup", "encap", "socket-out", "socket-in", "decap", "learn", "device-out"} {
		if !seen[st] {
			t.Errorf("trace of a ping: no %s stage, want every stage\n%s", st, tr.Output())
		}
	}
	if len(peers) == 0 || peers[0] != "hit "+b.under {
		t.Errorf("trace lookups: got %q, want first a hit to %s", peers, b.under)
	}

	dir := t.TempDir()
	inner, outer := filepath.Join(dir, "inner.pcap"), filepath.Join(dir, "outer.pcap")
	cp := a.startTrace(t, bin, "capture", "--network", tapName,
		"--inner", inner, "--outer", outer, "--match", "icmp", "--count", "2")
	pingAll(t, a.ns, b.over, 1)
	select {
	case <-cp.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("vtepctl capture --count 2 did not end after one ping\n%s", cp.Output())
	}
	if err := cp.Stop(); err != nil {
		t.Fatalf("vtepctl capture: %v\n%s", err, cp.Output())
	}
	for _, f := range []struct {
		path  string
		first gopacket.Decoder
		vxlan bool
	}{{inner, layers.LayerTypeEthernet, false}, {outer, layers.LayerTypeIPv4, true}} {
		pkts := readPcap(t, f.path, f.first)
		if len(pkts) < 2 {
			t.Fatalf("%s: %d packets, want the echo request and reply", f.path, len(pkts))
		}
		for _, p := range pkts {
			if p.Layer(layers.LayerTypeICMPv4) == nil {
				t.Errorf("%s: packet without the inner ICMP: %v", f.path, p)
			}
			if f.vxlan {
				v, _ := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
				if v == nil || v.VNI != 42 {
					t.Errorf("%s: outer packet without VXLAN VNI 42: %v", f.path, p)
				}
			}
		}
	}

	// explain --network: the packet the daemon would write for such a
	// ping, byte for byte the outer headers of the one it did write.
	var sent gopacket.Packet
	for _, p := range readPcap(t, outer, layers.LayerTypeIPv4) {
		if ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil && ip.SrcIP.String() == a.under {
			sent = p
			break
		}
	}
	if sent == nil {
		t.Fatalf("%s: no packet a sent", outer)
	}
	var ex struct {
		Fields []struct {
			Layer, Name, Value string
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(a.ctl(t, bin, "explain", "--network", tapName, "--to", b.over, "--json")), &ex); err != nil {
		t.Fatal(err)
	}
	field := func(layer, name string) string {
		for _, f := range ex.Fields {
			if strings.HasPrefix(f.Layer, layer) && f.Name == name {
				return f.Value
			}
		}
		return ""
	}
	udp := sent.Layer(layers.LayerTypeUDP).(*layers.UDP)
	innerEth := sent.Layers()[3].(*layers.Ethernet) // IPv4, UDP, VXLAN, then the inner frame
	for _, c := range []struct{ layer, name, want string }{
		{"outer IPv4", "source", a.under},
		{"outer IPv4", "destination", b.under},
		{"UDP", "source port", fmt.Sprint(uint16(udp.SrcPort))},
		{"UDP", "destination port", "4789"},
		{"VXLAN", "VNI", "42"},
		{"inner Ethernet", "destination MAC", innerEth.DstMAC.String()},
		{"inner Ethernet", "source MAC", innerEth.SrcMAC.String()},
	} {
		if got := field(c.layer, c.name); !strings.HasPrefix(got, c.want) {
			t.Errorf("explain --network: %s %s: got %q, want %q as in the packet sent", c.layer, c.name, got, c.want)
		}
	}
}

// startTrace runs vtepctl args (a trace or a capture) against h's daemon
// in the background and returns once the daemon has logged one more
// "trace started" than before: its subscription is in place, so nothing
// sent from then on is missed.
func (h *host) startTrace(t *testing.T, bin binaries, args ...string) *netnstest.Proc {
	t.Helper()
	const started = "trace started"
	before := strings.Count(h.vtepd.Output(), started)
	p := h.ns.Start(t, append([]string{bin.vtepctl, "--control", h.control}, args...)...)
	exited := false
	netnstest.WaitFor(t, 15*time.Second, fmt.Sprintf("vtepd on %s to log %q for vtepctl %s", h.under, started, args[0]), func() bool {
		if strings.Count(h.vtepd.Output(), started) > before {
			return true
		}
		select {
		case <-p.Done():
			exited = true
			return true
		default:
			return false
		}
	})
	if exited {
		t.Fatalf("vtepctl %s exited before vtepd on %s logged %q: %v\n%s", args[0], h.under, started, p.Stop(), p.Output())
	}
	return p
}

func readPcap(t *testing.T, path string, first gopacket.Decoder) []gopacket.Packet {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		out = append(out, gopacket.NewPacket(data, first, gopacket.Default))
	}
	return out
}

// TestE2ETraceOffloads traces a TCP transfer with every offload on: the
// device hands vtepd super-frames of up to 64 KiB, but while someone
// traces, each is cut and followed segment by segment, so the trace shows
// full-sized segments at device-in, none larger than the MTU allows, each
// going on to encap and socket-out.
func TestE2ETraceOffloads(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 1)

	tr := a.startTrace(t, bin, "trace", "--json", "--match", "tcp", "--count", "200")
	transferWith(t, bin, a.ns, b.ns, b.over, 900, 4<<20, 0)
	select {
	case <-tr.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("vtepctl trace --count 200 did not end during a 4 MiB transfer\n%.2000s", tr.Output())
	}
	if err := tr.Stop(); err != nil {
		t.Fatalf("vtepctl trace: %v\n%.2000s", err, tr.Output())
	}
	const maxFrame = 1450 + 14 // the TAP's MTU and its Ethernet header
	full, stages := 0, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(tr.Output()), "\n") {
		var e struct {
			Stage string `json:"stage"`
			Bytes []byte `json:"bytes"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Stage == "" {
			continue
		}
		stages[e.Stage]++
		if e.Stage != "device-in" {
			continue
		}
		if len(e.Bytes) > maxFrame {
			t.Errorf("trace device-in: a %d-byte frame, want segments of at most %d", len(e.Bytes), maxFrame)
		}
		if len(e.Bytes) > 1000 {
			full++
		}
	}
	if full == 0 || stages["encap"] == 0 || stages["socket-out"] == 0 {
		t.Errorf("trace of a TCP transfer: %d full-sized segments at device-in, stages %v; want segments followed to encap and socket-out", full, stages)
	}
}

package control

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vtepd/vtepd/fdb"
)

// What `vtepctl trace --simulate EXPR` asks: a frame (or packet) described
// in a few words, which the daemon runs through its live tables without
// sending it:
//
//	dst MAC|IP|broadcast  where it goes: a MAC for a vxlan network, an IPv4
//	                      address for an ipip one
//	src MAC|IP            its sender (default: the device's own)
//	to IP                 the inner IPv4 destination of a vxlan frame
//	                      (default: the device's own address)
//	vni N                 the vxlan network, instead of --network
//	arp IP                an ARP request for IP (vxlan; dst is broadcast)
//	len N                 its length in bytes, for the MTU (default the
//	                      smallest frame or packet)

// Simulation is a parsed what-if.
type Simulation struct {
	DstMAC, SrcMAC   fdb.MAC
	HasDst, HasSrc   bool
	DstIP, SrcIP     netip.Addr
	To               netip.Addr
	ARP              netip.Addr
	VNI              uint32
	HasVNI           bool
	Len              int
	Broadcast, IsMAC bool
}

// ParseSimulation reads a what-if expression. An error names the word at
// fault, like `dst: want a MAC or an IPv4 address, got "x"`.
func ParseSimulation(expr string) (Simulation, error) {
	var s Simulation
	w := strings.Fields(expr)
	seen := map[string]bool{}
	for len(w) > 0 {
		key := w[0]
		if len(w) < 2 {
			return s, Errorf(ErrInvalid, "%s: needs a value", key)
		}
		val := w[1]
		w = w[2:]
		if seen[key] {
			return s, Errorf(ErrInvalid, "%s: given twice", key)
		}
		seen[key] = true
		switch key {
		case "dst", "src":
			mac, ip, isMAC, err := macOrIP(key, val)
			if err != nil {
				return s, err
			}
			if key == "dst" {
				s.HasDst = true
				switch {
				case val == "broadcast":
					s.Broadcast, s.IsMAC, s.DstMAC = true, true, fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
				case isMAC:
					s.IsMAC, s.DstMAC = true, mac
				default:
					s.DstIP = ip
				}
			} else {
				s.HasSrc = true
				if isMAC {
					s.SrcMAC = mac
				} else {
					s.SrcIP = ip
				}
			}
		case "vni":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil || v > MaxVNI {
				return s, Errorf(ErrInvalid, "vni: want an integer 0..%d, got %q", MaxVNI, val)
			}
			s.VNI, s.HasVNI = uint32(v), true
		case "to":
			a, err := netip.ParseAddr(val)
			if err != nil || !a.Is4() {
				return s, Errorf(ErrInvalid, "to: want an IPv4 address, got %q", val)
			}
			s.To = a
		case "arp":
			a, err := netip.ParseAddr(val)
			if err != nil || !a.Is4() {
				return s, Errorf(ErrInvalid, "arp: want an IPv4 address, got %q", val)
			}
			s.ARP = a
		case "len":
			v, err := strconv.Atoi(val)
			if err != nil || v < 1 || v > 65535 {
				return s, Errorf(ErrInvalid, "len: want a length in bytes 1..65535, got %q", val)
			}
			s.Len = v
		default:
			return s, Errorf(ErrInvalid, "%q: not a word of a what-if (want dst, src, to, vni, arp or len)", key)
		}
	}
	if !s.HasDst && !s.ARP.IsValid() {
		return s, Errorf(ErrInvalid, "dst: required (a MAC, broadcast or an IPv4 address; or arp IP)")
	}
	if s.ARP.IsValid() {
		if s.HasDst && !s.Broadcast {
			return s, Errorf(ErrInvalid, "dst: an ARP request goes to broadcast, got %s", s.DstMAC)
		}
		s.Broadcast, s.IsMAC, s.HasDst, s.DstMAC = true, true, true, fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	return s, nil
}

func macOrIP(key, val string) (fdb.MAC, netip.Addr, bool, error) {
	if val == "broadcast" && key == "dst" {
		return fdb.MAC{}, netip.Addr{}, true, nil
	}
	if m, err := fdb.ParseMAC(val); err == nil {
		return m, netip.Addr{}, true, nil
	}
	if a, err := netip.ParseAddr(val); err == nil && a.Is4() {
		return fdb.MAC{}, a, false, nil
	}
	return fdb.MAC{}, netip.Addr{}, false, Errorf(ErrInvalid, "%s: want a MAC like 02:00:00:00:00:09 or an IPv4 address, got %q", key, val)
}

// SimulateRequest is what POST /v1/simulate takes.
type SimulateRequest struct {
	Network string `json:"network,omitempty"` // "" when the expression has a vni or there is one network
	Expr    string `json:"expr"`
}

// SimulateResult is the daemon's answer: what it would do, step by step.
type SimulateResult struct {
	Network string `json:"network"`
	Kind    string `json:"kind"`
	// Frame is the frame or packet built, as trace prints inner headers.
	Frame string `json:"frame"`
	Len   int    `json:"len"`
	// Lookup: hit, miss, flood, suppressed, route, no route (see
	// dataplane.Verdict).
	Lookup string `json:"lookup,omitempty"`
	// Entry is a hit's: learnt, static or extern_learn, with its remote.
	Entry   string   `json:"entry,omitempty"`
	Route   string   `json:"route,omitempty"`
	Remotes []string `json:"remotes,omitempty"`
	Group   string   `json:"group,omitempty"`
	Answer  string   `json:"answer,omitempty"` // the MAC a suppressed request is answered with
	// Outer, for what leaves: the outer headers' endpoints and ports.
	Outer     string `json:"outer,omitempty"`
	OuterLen  int    `json:"outer_len,omitempty"`
	Fragments int    `json:"fragments,omitempty"`
	// Packet is the outer packet vtepd would write for the first remote,
	// outer IP header first, in hex: what explain --network shows.
	Packet string `json:"packet,omitempty"`
	// Drop is the reason it would be dropped ("" if not), Why in words.
	Drop string `json:"drop,omitempty"`
	Why  string `json:"why,omitempty"`
}

// String is a result as vtepctl prints it.
func (r SimulateResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (%d bytes)\n", r.Network, r.Frame, r.Len)
	switch r.Lookup {
	case LookupHit:
		fmt.Fprintf(&b, "  lookup: hit, %s\n", r.Entry)
	case LookupMiss, LookupFlood:
		what := "unknown unicast"
		if r.Lookup == LookupFlood {
			what = "broadcast or multicast"
		}
		to := strings.Join(r.Remotes, " ")
		if r.Group != "" {
			to = strings.TrimSpace("group " + r.Group + " " + to)
		}
		if to == "" {
			to = "nobody"
		}
		fmt.Fprintf(&b, "  lookup: %s: flood to %s\n", what, to)
	case LookupSuppressed:
		fmt.Fprintf(&b, "  lookup: a neighbour an EVPN peer announced: answered from the device with %s, not sent\n", r.Answer)
	case LookupRoute:
		fmt.Fprintf(&b, "  lookup: route %s\n", r.Route)
	case "no route":
		b.WriteString("  lookup: no route\n")
	}
	if r.Outer != "" && r.Drop == "" {
		fmt.Fprintf(&b, "  encap: %s, %d bytes", r.Outer, r.OuterLen)
		if r.Fragments > 0 {
			fmt.Fprintf(&b, " in %d fragments (df unset)", r.Fragments)
		}
		b.WriteString("\n")
	}
	switch {
	case r.Drop != "":
		fmt.Fprintf(&b, "  verdict: dropped as %s: %s\n", r.Drop, r.Why)
	case r.Lookup == LookupSuppressed:
		b.WriteString("  verdict: answered locally\n")
	default:
		n := len(r.Remotes)
		if r.Group != "" {
			n++
		}
		fmt.Fprintf(&b, "  verdict: sent, %d %s\n", n, plural(n, "copy", "copies"))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

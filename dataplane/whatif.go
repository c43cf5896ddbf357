package dataplane

import (
	"net/netip"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// A what-if: what forwarding would do with a frame read from a network's
// device, worked out from the live tables and settings as forward works it
// out, but sending nothing, counting nothing and marking no entry used. It
// is the slow path of `vtepctl trace --simulate`: each answer is checked
// against forwarding by the tests.

// Verdict is a what-if's answer.
type Verdict struct {
	// Lookup is what the table said, as a trace's lookup says it
	// (LookupHit, LookupFlood, LookupMiss, LookupRoute, LookupSuppressed),
	// or "no route" (a trace's LookupNoRoute), or "" when the frame was
	// dropped before the lookup.
	Lookup string
	// Entry is a hit's FDB entry; Route an IPIP route taken.
	Entry fdb.Entry
	Route fdb.Route
	// Remotes are the endpoints copies would go to, Group the multicast
	// group one would go to.
	Remotes []netip.Addr
	Group   netip.Addr
	// Answer is the MAC a suppressed request is answered with.
	Answer fdb.MAC
	// SourcePort is the outer UDP source port the flow gets (VXLAN).
	SourcePort uint16
	// Outer is the length of each outer packet; Fragments how many
	// fragments each would be cut into (0: it fits).
	Outer, Fragments int
	// Dropped says the frame would be dropped, Drop why.
	Dropped bool
	Drop    Drop
}

// WhatIf is what the network would do with frame read from its device.
func (n *Network) WhatIf(frame []byte) Verdict {
	var v Verdict
	if len(frame) < encap.EthernetHeaderLen {
		v.Dropped, v.Drop = true, DropMalformed
		return v
	}
	if len(frame) > n.maxFrame {
		v.Dropped, v.Drop = true, DropTooBig
		return v
	}
	eth := encap.Ethernet(frame)
	if n.local != nil {
		if mac, ok := n.neighborFor(frame); ok {
			v.Lookup, v.Answer = LookupSuppressed, mac
			return v
		}
	}
	v.SourcePort = n.u.sourcePort(encap.FlowHash(frame))
	v.Outer = len(frame) + n.u.hdrLen
	dst := eth.Dst()
	if dst[0]&1 == 0 {
		if e, ok := n.table.Get(dst); ok {
			v.Lookup, v.Entry, v.Remotes = LookupHit, e, []netip.Addr{e.Remote}
			return n.pathMTU(v, frame)
		}
		v.Lookup = LookupMiss
	} else {
		v.Lookup = LookupFlood
	}
	v.Remotes = append([]netip.Addr(nil), n.table.Flood()...)
	if n.group != nil {
		v.Group = n.cfg.Group
	}
	if len(v.Remotes) == 0 && !v.Group.IsValid() {
		v.Dropped, v.Drop = true, DropNoRemote
		return v
	}
	return n.pathMTU(v, frame)
}

// pathMTU says what the underlay's MTU does to the outer packets: cut into
// fragments, or dropped as too_big where the outer DF bit is set (fragment.go).
func (n *Network) pathMTU(v Verdict, frame []byte) Verdict {
	mtu := n.cfg.PathMTU
	if mtu <= 0 || v.Outer <= mtu || !n.u.cfg.Local.Is4() {
		return v
	}
	tx := vxlanTx{Network: n}
	if tx.outerDF(frame) {
		v.Dropped, v.Drop = true, DropTooBig
		return v
	}
	per := (mtu - encap.IPv4MinHeaderLen) &^ 7
	v.Fragments = (v.Outer - encap.IPv4MinHeaderLen + per - 1) / per
	return v
}

// neighborFor is the MAC an ARP request or neighbour solicitation in frame
// would be answered with from the device (local.go).
func (n *Network) neighborFor(frame []byte) (fdb.MAC, bool) {
	nb := n.neighbors.Load()
	if nb == nil {
		return fdb.MAC{}, false
	}
	var target netip.Addr
	switch encap.Ethernet(frame).EtherType() {
	case encap.EtherTypeARP:
		arp := encap.ARP(frame[encap.EthernetHeaderLen:])
		if !arp.IsValid() || arp.Op() != encap.ARPRequest {
			return fdb.MAC{}, false
		}
		target = arp.TargetIP()
	case encap.EtherTypeIPv6:
		t, _, ok := encap.NeighborSolicitTarget(frame)
		if !ok {
			return fdb.MAC{}, false
		}
		target = t
	default:
		return fdb.MAC{}, false
	}
	mac, ok := (*nb)[target]
	return mac, ok
}

// WhatIf is what the network would do with pkt read from its device.
func (n *IPIPNetwork) WhatIf(pkt []byte) Verdict {
	var v Verdict
	if len(pkt) == 0 {
		v.Dropped, v.Drop = true, DropMalformed
		return v
	}
	if pkt[0]>>4 != encap.IPv4Version {
		v.Dropped, v.Drop = true, DropUnsupported
		return v
	}
	ip := encap.IPv4(pkt)
	if !ip.IsValid() {
		v.Dropped, v.Drop = true, DropMalformed
		return v
	}
	r, ok := n.routes.Match(ip.Dst())
	if !ok {
		v.Lookup, v.Dropped, v.Drop = "no route", true, DropNoRemote
		return v
	}
	v.Lookup, v.Route, v.Remotes = LookupRoute, r, []netip.Addr{r.Via}
	v.Outer = int(ip.TotalLength()) + encap.IPv4MinHeaderLen
	if int(ip.TotalLength()) > n.cfg.PathMTU {
		v.Dropped, v.Drop = true, DropTooBig // answered with ICMP fragmentation needed where DF is set
	}
	return v
}

// Encapsulate returns the outer packet, outer IP header first, that the
// network would write for frame to remote: the same code as forwarding
// writes it, on a copy.
func (n *Network) Encapsulate(frame []byte, remote netip.Addr) []byte {
	buf := make([]byte, Headroom+len(frame))
	copy(buf[Headroom:], frame)
	return n.u.outer(buf, len(frame), n.cfg.VNI, remote, n.u.cfg.TTL)
}

// Encapsulate returns the outer packet the network would write for pkt
// to via, as forwarding writes it.
func (n *IPIPNetwork) Encapsulate(pkt []byte, via netip.Addr) []byte {
	out := make([]byte, encap.IPv4MinHeaderLen+len(pkt))
	copy(out[encap.IPv4MinHeaderLen:], pkt)
	o := encap.OuterIPIP{Src: n.u.local, Dst: via, TTL: n.cfg.TTL, DF: n.cfg.DF}
	if err := encap.EncapIPIP(out, &o); err != nil {
		return nil
	}
	return out
}

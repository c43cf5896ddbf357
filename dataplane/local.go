package dataplane

import (
	"net/netip"
	"sync/atomic"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// A network whose hosts a control plane announces (EVPN) keeps what its
// device shows of the hosts behind it, and answers ARP for the remote
// hosts the control plane told it of, as a switch with ARP suppression
// (the kernel's neigh_suppress) does.

// Local is what a network's device showed of the hosts behind it: the
// source MACs of the frames read from it, and the addresses their ARP and
// neighbour discovery gave. Each is an fdb.Table (the IPv4 and IPv6 ones
// map a MAC to its address), so that a known MAC costs a lock-free lookup
// and an entry ages like a learnt one.
type Local struct {
	MACs       *fdb.Table // every remote is the underlay's own address
	IPv4, IPv6 *fdb.Table
}

func newLocal(vni uint32, cfg fdb.Config) *Local {
	cfg.Learning, cfg.MoveLimit = true, 0
	return &Local{MACs: fdb.NewTable(vni, cfg), IPv4: fdb.NewTable(vni, cfg), IPv6: fdb.NewTable(vni, cfg)}
}

// Expire ages out what the device has not shown for the ageing time.
func (l *Local) Expire(now int64) {
	l.MACs.Expire(now)
	l.IPv4.Expire(now)
	l.IPv6.Expire(now)
}

// Neighbors are remote hosts' addresses, IPv4 and IPv6, and MACs, as a
// control plane heard them (EVPN type 2 routes with an IP).
type Neighbors map[netip.Addr]fdb.MAC

// Local returns what the device showed of its hosts; nil on a network
// that does not track them (NetworkConfig.TrackLocal).
func (n *Network) Local() *Local { return n.local }

// SetNeighbors replaces the addresses ARP requests and neighbour
// solicitations from the device are answered for. The map is the network's from then on: the caller must
// not change it.
func (n *Network) SetNeighbors(m Neighbors) { n.neighbors.Store(&m) }

// neighborState is a network's side of Local and ARP suppression.
type neighborState struct {
	local     *Local
	neighbors atomic.Pointer[Neighbors]
}

// seeLocal notes what the frame read from the device shows of its sender,
// and answers it if it is an ARP request or a neighbour solicitation for a
// neighbour: it reports whether it did, and the frame goes no further.
func (n *vxlanTx) seeLocal(frame []byte, t *observing) bool {
	n.noteLocal(frame)
	eth := encap.Ethernet(frame)
	var target netip.Addr
	var ns encap.IPv6
	switch eth.EtherType() {
	case encap.EtherTypeARP:
		arp := encap.ARP(frame[encap.EthernetHeaderLen:])
		if !arp.IsValid() || arp.Op() != encap.ARPRequest {
			return false
		}
		target = arp.TargetIP()
	case encap.EtherTypeIPv6:
		var ok bool
		if target, ns, ok = encap.NeighborSolicitTarget(frame); !ok {
			return false
		}
	default:
		return false
	}
	nb := n.neighbors.Load()
	if nb == nil {
		return false
	}
	mac, ok := (*nb)[target]
	if !ok {
		n.c.ARPFlooded.Add(1)
		return false
	}
	if n.reply == nil {
		n.reply = make([]byte, max(encap.ARPFrameLen, encap.NAFrameLen))
	}
	var l int
	if ns == nil {
		l = encap.PutARPReply(n.reply, encap.ARP(frame[encap.EthernetHeaderLen:]), mac, target)
	} else {
		l = encap.PutNeighborAdvert(n.reply, ns, eth.Src(), mac, target)
	}
	if t != nil {
		t.suppressed(frame, n.reply[:l])
	}
	n.one[0] = n.reply[:l]
	if _, err := n.queue.Write(n.one, 0); err != nil {
		n.c.drop(n.log, DropLinkWrite, 1, err)
		if t != nil {
			t.drop(DropLinkWrite, StageDeviceOut, n.reply[:l])
		}
	} else {
		n.c.ARPSuppressed.Add(1)
		if t != nil {
			t.deviceOut(n.reply[:l])
		}
	}
	n.one[0] = nil
	return true
}

// noteLocal notes the frame's source MAC, and the address its ARP or
// neighbour discovery gives, in Local: a lookup and at most an atomic
// store for a MAC already known this second.
func (n *Network) noteLocal(frame []byte) {
	eth := encap.Ethernet(frame)
	src := eth.Src()
	now := n.local.MACs.Tick()
	n.local.MACs.Learn(src, n.u.cfg.Local, now)
	if et := eth.EtherType(); et != encap.EtherTypeARP && et != encap.EtherTypeIPv6 {
		return
	}
	if ip, ok := encap.NeighborSource(frame); ok {
		if ip.Is4() {
			n.local.IPv4.Learn(src, ip, now)
		} else if !ip.IsLinkLocalUnicast() {
			n.local.IPv6.Learn(src, ip, now)
		}
	}
}

// NoteLocal notes a host behind the device the control plane knows of
// without a frame: the device's own MAC and address, say. A zero ip
// notes the MAC alone.
func (n *Network) NoteLocal(mac fdb.MAC, ip netip.Addr) {
	if n.local == nil {
		return
	}
	now := n.local.MACs.Tick()
	n.local.MACs.Learn(mac, n.u.cfg.Local, now)
	switch {
	case ip.Is4():
		n.local.IPv4.Learn(mac, ip, now)
	case ip.Is6() && !ip.IsLinkLocalUnicast():
		n.local.IPv6.Learn(mac, ip, now)
	}
}

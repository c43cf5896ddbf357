package dataplane

import (
	"math/rand/v2"

	"github.com/vtepd/vtepd/encap"
)

// An outer packet larger than the underlay's MTU (a device MTU of 9000
// over a 1500-byte underlay, say) would be refused by the raw sender,
// which never fragments (IP_HDRINCL). Linux's vxlan fragments such a
// packet unless told df set, and vtepd does the same: each packet gets an
// IP ID of its own and is cut into fragments that fit, which the
// receiving kernel reassembles before its socket sees the datagram.

// fragmenter is one transmit worker's space for the fragments of one
// packet, and the IDs it gives them.
type fragmenter struct {
	buf   []byte
	sizes []int
	frags [][]byte
	one   [][]byte // a batch of one packet
	id    uint16
}

func newFragmenter() *fragmenter {
	return &fragmenter{buf: make([]byte, 2*maxPacket), sizes: make([]int, 0, 64), frags: make([][]byte, 0, 64),
		one: make([][]byte, 1), id: uint16(rand.Uint32())}
}

// fits reports whether an inner frame of frameLen bytes leaves in one
// outer packet: the GSO trains, which cannot fragment, take only those.
func (n *vxlanTx) fits(frameLen int) bool {
	return n.cfg.PathMTU <= 0 || frameLen+n.u.hdrLen <= n.cfg.PathMTU
}

// oversized reports whether any of pkts exceeds the path MTU over an IPv4
// underlay: the rare case, checked once per batch.
func (n *vxlanTx) oversized(pkts [][]byte) bool {
	if n.cfg.PathMTU <= 0 || !n.u.cfg.Local.Is4() {
		return false
	}
	for _, p := range pkts {
		if len(p) > n.cfg.PathMTU {
			return true
		}
	}
	return false
}

// sendOversized sends pkts one at a time, those that fit as they are,
// the others fragmented or refused by the network's DF.
func (n *vxlanTx) sendOversized(conn Conn, pkts [][]byte) [][]byte {
	if n.frag == nil {
		n.frag = newFragmenter()
	}
	one := n.frag.one
	for _, p := range pkts {
		if len(p) <= n.cfg.PathMTU {
			one[0] = p
			n.sendOn(conn, one)
			continue
		}
		inner := p[n.u.hdrLen:]
		if n.outerDF(inner) {
			n.c.drop(n.log, DropTooBig, 1, nil)
			n.fragNeeded(inner)
			continue
		}
		n.sendFragments(conn, p)
	}
	return pkts[:0]
}

// outerDF is the DF bit the outer header of inner's packet carries.
func (n *vxlanTx) outerDF(inner []byte) bool {
	switch n.cfg.DF {
	case encap.IPIPDFSet:
		return true
	case encap.IPIPDFCopy:
		ip, ok := innerIPv4(inner)
		return ok && ip.DF()
	}
	return false
}

// innerIPv4 is the IPv4 header of an untagged inner Ethernet frame.
func innerIPv4(frame []byte) (encap.IPv4, bool) {
	if len(frame) < encap.EthernetHeaderLen+encap.IPv4MinHeaderLen || encap.Ethernet(frame).EtherType() != encap.EtherTypeIPv4 {
		return nil, false
	}
	ip := encap.IPv4(frame[encap.EthernetHeaderLen:])
	return ip, ip.IsValid()
}

// fragNeeded answers an inner IPv4 packet with DF set that the tunnel
// cannot carry with ICMP "fragmentation needed" (RFC 1191), written into
// the device as an Ethernet frame from the device's own address (which
// has accept_local) or, without one, from the packet's destination, so that
// the sender's kernel learns the path MTU as it would behind a router: the
// underlay's less the VXLAN overhead (outer headers and inner Ethernet).
func (n *vxlanTx) fragNeeded(inner []byte) {
	ip, ok := innerIPv4(inner)
	if !ok || !ip.DF() {
		return
	}
	if n.frag == nil {
		n.frag = newFragmenter()
	}
	b := n.frag.buf
	eth := encap.Ethernet(b)
	eth.SetDst(encap.Ethernet(inner).Src())
	eth.SetSrc(encap.Ethernet(inner).Dst())
	eth.SetEtherType(encap.EtherTypeIPv4)
	src := n.cfg.Address
	if !src.Is4() {
		src = ip.Dst()
	}
	m, err := encap.PutICMPFragNeeded(b[encap.EthernetHeaderLen:], src, inner[encap.EthernetHeaderLen:],
		uint16(n.cfg.PathMTU-n.u.hdrLen-encap.EthernetHeaderLen))
	if err != nil {
		return
	}
	n.one[0] = b[:encap.EthernetHeaderLen+m]
	if _, err := n.queue.Write(n.one, 0); err != nil {
		n.c.drop(n.log, DropLinkWrite, 1, err)
	}
	n.one[0] = nil
}

// sendFragments gives the outer IPv4 packet p an ID, cuts it into
// fragments that fit the path MTU and sends them, counting p as sent when
// every fragment left.
func (n *vxlanTx) sendFragments(conn Conn, p []byte) {
	f := n.frag
	f.id++
	ip := encap.IPv4(p)
	ip.SetID(f.id)
	ip.SetChecksum()
	var err error
	if f.sizes, err = encap.FragmentIPv4(p, n.cfg.PathMTU, f.buf, f.sizes[:0]); err != nil {
		n.c.drop(n.log, DropTooBig, 1, err)
		return
	}
	f.frags = f.frags[:0]
	off := 0
	for _, s := range f.sizes {
		f.frags = append(f.frags, f.buf[off:off+s])
		off += s
	}
	sent, err := conn.WriteBatch(f.frags)
	if sent < len(f.frags) {
		n.c.drop(n.log, DropSend, 1, err)
		return
	}
	n.c.TxPackets.Add(1)
	n.c.TxBytes.Add(uint64(len(p) - n.u.hdrLen))
	f.one[0] = p
	n.countUnderlay(f.one, n.u.hdrLen-encap.VXLANHeaderLen)

}

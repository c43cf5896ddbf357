package encap

import (
	"errors"
	"fmt"
	"net"
)

// Field is one named byte range of a packet, for people reading it: where it
// sits, what it is called and what it says. Explain builds these from the
// same offsets the accessors use, so the explanation cannot drift from the
// code that writes the bytes.
type Field struct {
	Layer string // "outer IPv4", "VXLAN", ...
	Name  string
	Off   int // first byte, from the start of the packet
	Len   int
	Value string
}

// ErrNotExplained is returned for a packet Explain does not walk.
var ErrNotExplained = errors.New("encap: packet not explained: want Ethernet, then IPv4 with UDP (VXLAN) or IPIP")

// Explain names every byte range of an Ethernet frame carrying VXLAN over
// IPv4/UDP or IPIP, down to the inner IPv4 header (and, for VXLAN, the inner
// Ethernet header before it). The payload after the innermost header it
// knows is one last field. It is for explaining, not for the data path: it
// allocates.
func Explain(frame []byte) ([]Field, error) {
	var fs []Field
	off, err := explainEthernet(&fs, "outer Ethernet", frame, 0)
	if err != nil {
		return fs, err
	}
	outer := IPv4(frame[off:])
	if !outer.IsValid() {
		return fs, ErrNotExplained
	}
	explainIPv4(&fs, "outer IPv4", outer, off)
	off += outer.HeaderLen()
	switch outer.Protocol() {
	case ProtocolUDP:
		u := UDP(frame[off:])
		if !u.IsValid() {
			return fs, ErrNotExplained
		}
		fs = append(fs,
			Field{"UDP", "source port", off + udpSrcPort, 2, fmt.Sprintf("%d (a hash of the inner flow, so ECMP can spread flows)", u.SrcPort())},
			Field{"UDP", "destination port", off + udpDstPort, 2, fmt.Sprintf("%d (the VXLAN port, RFC 7348 section 5)", u.DstPort())},
			Field{"UDP", "length", off + udpLength, 2, fmt.Sprintf("%d (UDP header + VXLAN header + inner frame)", u.Length())},
			Field{"UDP", "checksum", off + udpChecksum, 2, udpChecksumNote(u.Checksum())},
		)
		off += UDPHeaderLen
		vx := VXLAN(frame[off:])
		if err := vx.Validate(); err != nil {
			return fs, err
		}
		fs = append(fs,
			Field{"VXLAN", "flags", off + vxlanFlags, 1, fmt.Sprintf("%#02x (I flag: the VNI is valid)", vx.Flags())},
			Field{"VXLAN", "reserved", off + 1, 3, "0 (sent as zero, ignored on receive)"},
			Field{"VXLAN", "VNI", off + vxlanVNI, 3, fmt.Sprintf("%d (24 bits: which virtual network)", vx.VNI())},
			Field{"VXLAN", "reserved", off + 7, 1, "0"},
		)
		off += VXLANHeaderLen
		if off, err = explainEthernet(&fs, "inner Ethernet", frame, off); err != nil {
			return fs, err
		}
	case ProtocolIPIP:
		// RFC 2003: the inner IPv4 packet follows the outer header directly.
	default:
		return fs, ErrNotExplained
	}
	inner := IPv4(frame[off:])
	if !inner.IsValid() {
		return fs, ErrNotExplained
	}
	explainIPv4(&fs, "inner IPv4", inner, off)
	off += inner.HeaderLen()
	if off < len(frame) {
		fs = append(fs, Field{"inner payload", nameOr(ProtocolName(inner.Protocol())), off, len(frame) - off, fmt.Sprintf("%d bytes", len(frame)-off)})
	}
	return fs, nil
}

func explainEthernet(fs *[]Field, layer string, frame []byte, off int) (int, error) {
	e := Ethernet(frame[off:])
	if !e.IsValid() {
		return off, ErrNotExplained
	}
	dst, src := e.Dst(), e.Src()
	*fs = append(*fs,
		Field{layer, "destination MAC", off + ethDst, 6, net.HardwareAddr(dst[:]).String()},
		Field{layer, "source MAC", off + ethSrc, 6, net.HardwareAddr(src[:]).String()},
		Field{layer, "EtherType", off + ethType, 2, fmt.Sprintf("%#04x (%s)", e.EtherType(), nameOr(EtherTypeName(e.EtherType())))},
	)
	if e.EtherType() != EtherTypeIPv4 {
		return off, ErrNotExplained
	}
	return off + EthernetHeaderLen, nil
}

func explainIPv4(fs *[]Field, layer string, ip IPv4, off int) {
	df := "DF clear: routers may fragment"
	if ip.DF() {
		df = "DF set: do not fragment"
	}
	sum := "valid"
	if !ip.IsChecksumValid() {
		sum = "does not verify"
	}
	*fs = append(*fs,
		Field{layer, "version, IHL", off + ipv4VersionIHL, 1, fmt.Sprintf("%d, %d bytes", ip.Version(), ip.HeaderLen())},
		Field{layer, "TOS", off + ipv4TOS, 1, fmt.Sprintf("%#02x", ip.TOS())},
		Field{layer, "total length", off + ipv4TotalLength, 2, fmt.Sprintf("%d", ip.TotalLength())},
		Field{layer, "identification", off + ipv4ID, 2, fmt.Sprintf("%d", ip.ID())},
		Field{layer, "flags, fragment offset", off + ipv4FlagsFragOff, 2, fmt.Sprintf("%s, %d", df, ip.FragmentOffset())},
		Field{layer, "TTL", off + ipv4TTL, 1, fmt.Sprintf("%d", ip.TTL())},
		Field{layer, "protocol", off + ipv4Protocol, 1, fmt.Sprintf("%d (%s)", ip.Protocol(), nameOr(ProtocolName(ip.Protocol())))},
		Field{layer, "header checksum", off + ipv4Checksum, 2, fmt.Sprintf("%#04x (%s)", ip.Checksum(), sum)},
		Field{layer, "source", off + ipv4Src, 4, ip.Src().String()},
		Field{layer, "destination", off + ipv4Dst, 4, ip.Dst().String()},
	)
	if n := ip.HeaderLen() - IPv4MinHeaderLen; n > 0 {
		*fs = append(*fs, Field{layer, "options", off + IPv4MinHeaderLen, n, fmt.Sprintf("%d bytes", n)})
	}
}

func udpChecksumNote(sum uint16) string {
	if sum == 0 {
		return "0 (none: RFC 7348 section 5 allows zero over IPv4)"
	}
	return fmt.Sprintf("%#04x", sum)
}

// nameOr is name, or "other" for a value without one.
func nameOr(name string) string {
	if name == "" {
		return "other"
	}
	return name
}

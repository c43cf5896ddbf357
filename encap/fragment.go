package encap

import (
	"encoding/binary"
	"errors"
)

// ErrFragmentDF: FragmentIPv4 was given a packet with DF set, which no
// router may fragment (RFC 791).
var ErrFragmentDF = errors.New("encap: IPv4 packet with DF set: not to be fragmented")

// FragmentIPv4 cuts the IPv4 packet pkt into fragments of at most mtu
// bytes each, as a router does (RFC 791, "Fragmentation and
// Reassembly"): every fragment carries pkt's header (options included,
// which vtepd's outer headers have none of) with its own total length,
// fragment offset and MF flag, and a fresh header checksum; the payload
// is cut at multiples of 8 bytes. The fragments are written back to back
// into out, their lengths appended to sizes, which is returned. pkt keeps
// its ID, which the receiver reassembles by: the caller gives every packet
// it fragments its own. A packet that fits mtu is one "fragment", itself.
// It never allocates when sizes has room.
func FragmentIPv4(pkt []byte, mtu int, out []byte, sizes []int) ([]int, error) {
	h := IPv4(pkt)
	if !h.IsValid() {
		return sizes, ErrBadIPv4Header
	}
	if h.DF() {
		return sizes, ErrFragmentDF
	}
	hl := h.HeaderLen()
	total := int(h.TotalLength())
	per := (mtu - hl) &^ 7
	if per <= 0 {
		return sizes, ErrShortPacket
	}
	payload := pkt[hl:total]
	baseOff := int(h.FragmentOffset()) // a fragment fragmented again keeps its place
	lastMF := binary.BigEndian.Uint16(pkt[ipv4FlagsFragOff:])&ipv4MFBit != 0
	off := 0
	for w := 0; off < len(payload); {
		n := min(per, len(payload)-off)
		if w+hl+n > len(out) {
			return sizes, ErrGSOOutTooSmall
		}
		f := IPv4(out[w : w+hl+n])
		copy(f, pkt[:hl])
		copy(f[hl:], payload[off:off+n])
		f.SetTotalLength(uint16(hl + n))
		mf := off+n < len(payload) || lastMF
		var flags uint8
		if mf {
			flags = 1 // MF
		}
		f.SetFlagsFragmentOffset(flags, uint16(baseOff+off))
		f.SetChecksum()
		sizes = append(sizes, hl+n)
		w += hl + n
		off += n
	}
	return sizes, nil
}

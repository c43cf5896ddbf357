package encap

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestFragmentIPv4: the fragments fit the MTU, their offsets are the
// payload's, MF is set on all but the last, each header checksum is
// right, and their payloads put back in order are the packet's.
func TestFragmentIPv4(t *testing.T) {
	payload := make([]byte, 8000)
	for i := range payload {
		payload[i] = byte(i * 13)
	}
	pkt := make([]byte, IPv4MinHeaderLen+len(payload))
	h := IPv4(pkt)
	h.SetVersion()
	h.SetHeaderLen(IPv4MinHeaderLen)
	h.SetTotalLength(uint16(len(pkt)))
	h.SetID(0x4242)
	h.SetTTL(64)
	h.SetProtocol(ProtocolUDP)
	h.SetSrc(netip.MustParseAddr("10.0.0.1"))
	h.SetDst(netip.MustParseAddr("10.0.0.2"))
	h.SetChecksum()
	copy(pkt[IPv4MinHeaderLen:], payload)

	out := make([]byte, 2*len(pkt))
	sizes, err := FragmentIPv4(pkt, 1500, out, make([]int, 0, 8))
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 6 {
		t.Errorf("got %d fragments, want 6 (1480 bytes of payload each, the last 600)", len(sizes))
	}
	var joined []byte
	w := 0
	for i, n := range sizes {
		f := IPv4(out[w : w+n])
		w += n
		if n > 1500 || !f.IsChecksumValid() || f.ID() != 0x4242 || int(f.TotalLength()) != n {
			t.Errorf("fragment %d: %d bytes, checksum valid %v, id %#x, total length %d", i, n, f.IsChecksumValid(), f.ID(), f.TotalLength())
		}
		if int(f.FragmentOffset()) != len(joined) {
			t.Errorf("fragment %d: offset %d, want %d", i, f.FragmentOffset(), len(joined))
		}
		if mf := f.IsFragment() && (i < len(sizes)-1); mf != (i < len(sizes)-1) {
			t.Errorf("fragment %d: MF wrong", i)
		}
		joined = append(joined, f[IPv4MinHeaderLen:]...)
	}
	if !bytes.Equal(joined, payload) {
		t.Error("the fragments' payloads do not make up the packet's")
	}

	h.SetDF(true)
	h.SetChecksum()
	if _, err := FragmentIPv4(pkt, 1500, out, nil); err != ErrFragmentDF {
		t.Errorf("DF set: got %v, want ErrFragmentDF", err)
	}
	sz := make([]int, 0, 8)
	h.SetDF(false)
	if n := testing.AllocsPerRun(50, func() { sz, _ = FragmentIPv4(pkt, 1500, out, sz[:0]) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

package encap

import (
	"encoding/binary"
	"testing"
)

// partial leaves in frame's TCP or UDP checksum field what a checksum
// offloading sender leaves: the folded pseudo-header sum.
func partial(frame []byte, l3 int) []byte {
	p, err := parseL4(frame, l3)
	if err != nil {
		panic(err)
	}
	ip := frame[l3:p.end]
	l4 := ip[p.ipHL:]
	field := tcpChecksum
	if p.udp {
		field = udpChecksum
	}
	binary.BigEndian.PutUint16(l4[field:], ^FoldChecksum(addrSum(ip, p.v6)+p.proto()+uint32(len(l4))))
	return frame
}

// checksumOK reports whether frame's TCP or UDP checksum verifies.
func checksumOK(frame []byte, l3 int) bool {
	p, err := parseL4(frame, l3)
	if err != nil {
		panic(err)
	}
	ip := frame[l3:p.end]
	l4 := ip[p.ipHL:]
	return FoldChecksum(Checksum(l4, addrSum(ip, p.v6)+p.proto()+uint32(len(l4)))) == 0
}

// withChecksum gives frame a correct TCP or UDP checksum.
func withChecksum(frame []byte, l3 int) []byte {
	partial(frame, l3)
	FinishPartialChecksum(frame, l3)
	return frame
}

func TestFinishPartialChecksum(t *testing.T) {
	payload := []byte("the quick brown fox jumps over the lazy dog")
	tests := []struct {
		name   string
		frame  func() []byte
		l3     int
		finish bool
	}{
		{"partial TCP over IPv4", func() []byte {
			return partial(tcpFrame(false, payload), EthernetHeaderLen)
		}, EthernetHeaderLen, true},
		{"partial UDP over IPv4", func() []byte {
			return partial(udpFrame4(payload), EthernetHeaderLen)
		}, EthernetHeaderLen, true},
		{"partial TCP over IPv6", func() []byte {
			return partial(tcpFrame(true, payload), EthernetHeaderLen)
		}, EthernetHeaderLen, true},
		{"partial TCP in an IP packet (IPIP)", func() []byte {
			return partial(tcpFrame(false, payload)[EthernetHeaderLen:], 0)
		}, 0, true},
		{"a correct checksum", func() []byte {
			return withChecksum(tcpFrame(false, payload), EthernetHeaderLen)
		}, EthernetHeaderLen, false},
		{"a wrong checksum", func() []byte {
			f := withChecksum(tcpFrame(false, payload), EthernetHeaderLen)
			f[len(f)-1] ^= 0x5a
			return f
		}, EthernetHeaderLen, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.frame()
			before := append([]byte(nil), f...)
			wasOK := checksumOK(f, tc.l3)
			if got := FinishPartialChecksum(f, tc.l3); got != tc.finish {
				t.Fatalf("finished: got %v, want %v", got, tc.finish)
			}
			switch {
			case tc.finish && !checksumOK(f, tc.l3):
				t.Error("the finished checksum does not verify")
			case !tc.finish && string(f) != string(before):
				t.Error("a frame that was not partial changed")
			case !tc.finish && checksumOK(f, tc.l3) != wasOK:
				t.Error("a checksum's verdict changed")
			}
		})
	}
	f := partial(tcpFrame(false, payload), EthernetHeaderLen)
	if n := testing.AllocsPerRun(100, func() { FinishPartialChecksum(f, EthernetHeaderLen) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// tcpFrame is frame4 or frame6 for TCP, with a 20-byte TCP header (data
// offset 5) before payload.
func tcpFrame(v6 bool, payload []byte) []byte {
	pad := append(make([]byte, 12), payload...) // the header's other 12 bytes
	var f []byte
	if v6 {
		f = frame6("fd00::1", "fd00::2", ProtocolTCP, 40000, 80, pad)
	} else {
		f = frame4("10.0.0.1", "10.0.0.2", ProtocolTCP, 40000, 80, pad)
	}
	l3 := IPv4MinHeaderLen
	if v6 {
		l3 = IPv6HeaderLen
	}
	f[EthernetHeaderLen+l3+tcpDataOffset] = 5 << 4
	f[EthernetHeaderLen+l3+tcpFlags] = 0x18 // PSH|ACK
	return f
}

// udpFrame4 is frame4 for UDP, its length field set.
func udpFrame4(payload []byte) []byte {
	f := frame4("10.0.0.1", "10.0.0.2", ProtocolUDP, 5353, 53, payload)
	l4 := f[EthernetHeaderLen+IPv4MinHeaderLen:]
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	return f
}

// FuzzFinishPartialChecksum: any bytes, no crash; a finished checksum
// verifies, and a frame left alone is unchanged.
func FuzzFinishPartialChecksum(f *testing.F) {
	f.Add(partial(tcpFrame(false, []byte("x")), EthernetHeaderLen), true)
	f.Add(partial(udpFrame4([]byte("y")), EthernetHeaderLen)[EthernetHeaderLen:], false)
	f.Fuzz(func(t *testing.T, b []byte, eth bool) {
		l3 := 0
		if eth {
			l3 = EthernetHeaderLen
		}
		before := string(b)
		if FinishPartialChecksum(b, l3) {
			if !checksumOK(b, l3) {
				t.Fatalf("finished % x, and it does not verify", b)
			}
		} else if string(b) != before {
			t.Fatal("not finished, but changed")
		}
	})
}

// TestDescribeSuperFrame: a TCP segment longer than the MTU with its
// checksum left for offload is described as a TSO super-frame, and
// GSOSplit cuts it into segments that fit, each checksum complete.
func TestDescribeSuperFrame(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, v6 := range []bool{false, true} {
		f := partial(tcpFrame(v6, payload), EthernetHeaderLen)
		var h [VirtioNetHdrLen]byte
		if !DescribeSuperFrame(f, EthernetHeaderLen, 1450, h[:]) {
			t.Fatalf("v6 %v: not described", v6)
		}
		out := make([]byte, 2*len(f))
		segs, segLen, lastLen, err := GSOSplit(f, h[:], EthernetHeaderLen, out, 0)
		if err != nil {
			t.Fatal(err)
		}
		if segLen-EthernetHeaderLen > 1450 || segs != 4 {
			t.Errorf("v6 %v: %d segments of %d bytes (the last %d), want 4 that fit 1450", v6, segs, segLen, lastLen)
		}
		for i := range segs {
			l := segLen
			if i == segs-1 {
				l = lastLen
			}
			if !checksumOK(out[i*segLen:i*segLen+l], EthernetHeaderLen) {
				t.Errorf("v6 %v: segment %d's checksum does not verify", v6, i)
			}
		}
		// Within the MTU, or with a checksum finished, it is no super-frame.
		if DescribeSuperFrame(f, EthernetHeaderLen, 9000, h[:]) {
			t.Errorf("v6 %v: described though it fits 9000", v6)
		}
		FinishPartialChecksum(f, EthernetHeaderLen)
		if DescribeSuperFrame(f, EthernetHeaderLen, 1450, h[:]) {
			t.Errorf("v6 %v: described though its checksum is complete", v6)
		}
	}
}

// BenchmarkFinishPartialChecksum is what every received TCP/UDP frame
// pays to be looked at: a complete checksum, left alone.
func BenchmarkFinishPartialChecksum(b *testing.B) {
	f := withChecksum(tcpFrame(false, make([]byte, 1400)), EthernetHeaderLen)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if FinishPartialChecksum(f, EthernetHeaderLen) {
			b.Fatal("finished a complete checksum")
		}
	}
}

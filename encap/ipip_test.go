package encap

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

var (
	ipipSrc = netip.MustParseAddr("10.0.0.1")
	ipipDst = netip.MustParseAddr("10.0.0.2")
)

// innerIPv4 is the golden capture's inner ICMP echo request (DF set, TTL 64,
// TOS 0), 76 bytes.
func innerIPv4(t testing.TB) []byte {
	t.Helper()
	for _, g := range goldenFrames {
		if g.name == "icmp echo request, udpcsum" {
			return clone(Ethernet(g.inner(t)).Payload())
		}
	}
	t.Fatal("golden frame missing")
	return nil
}

// innerIPv6 is a small IPv6 UDP packet (traffic class 0x28, hop limit 33).
func innerIPv6(t testing.TB) []byte {
	t.Helper()
	return unhex(t, "62800000 000c 11 21"+
		" 20010db8000000000000000000000001 20010db8000000000000000000000002"+
		" 1234 5678 000c 0000 01020304")
}

// ipip returns 20 bytes of junk headroom followed by inner.
func ipip(inner []byte) []byte {
	return append(bytes.Repeat([]byte{0xa5}, IPv4MinHeaderLen), inner...)
}

func TestEncapIPIP(t *testing.T) {
	v4 := innerIPv4(t)
	v4noDF := clone(v4)
	IPv4(v4noDF).SetDF(false)
	IPv4(v4noDF).SetTOS(0x48)
	IPv4(v4noDF).SetChecksum()
	v6 := innerIPv6(t)
	tests := []struct {
		name     string
		inner    []byte
		o        OuterIPIP
		proto    uint8
		ttl, tos uint8
		df       bool
	}{
		{"IPv4, inherit TTL, copy DF set", v4, OuterIPIP{DF: IPIPDFCopy, ID: 7}, ProtocolIPIP, 64, 0, true},
		{"IPv4, copy DF clear", v4noDF, OuterIPIP{DF: IPIPDFCopy}, ProtocolIPIP, 64, 0, false},
		{"IPv4, clear DF although inner has it", v4, OuterIPIP{DF: IPIPDFClear}, ProtocolIPIP, 64, 0, false},
		{"IPv4, set DF although inner lacks it", v4noDF, OuterIPIP{DF: IPIPDFSet}, ProtocolIPIP, 64, 0, true},
		{"IPv4, fixed TTL and TOS", v4noDF, OuterIPIP{TTL: 5, TOS: 0x10}, ProtocolIPIP, 5, 0x10, false},
		{"IPv4, inherit TOS", v4noDF, OuterIPIP{TOS: 0x10, InheritTOS: true}, ProtocolIPIP, 64, 0x48, false},
		{"IPv6, inherit hop limit, copy sets DF", v6, OuterIPIP{DF: IPIPDFCopy}, ProtocolIPv6inIPv4, 33, 0, true},
		{"IPv6, inherit traffic class", v6, OuterIPIP{InheritTOS: true}, ProtocolIPv6inIPv4, 33, 0x28, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := ipip(tc.inner)
			o := tc.o
			o.Src, o.Dst = ipipSrc, ipipDst
			if err := EncapIPIP(pkt, &o); err != nil {
				t.Fatalf("EncapIPIP: got error %v, want nil", err)
			}
			ip := IPv4(pkt)
			if !ip.IsValid() || !ip.IsChecksumValid() {
				t.Fatalf("outer header invalid: % x", pkt[:20])
			}
			checks := []struct {
				field     string
				got, want any
			}{
				{"HeaderLen", ip.HeaderLen(), IPv4MinHeaderLen},
				{"TotalLength", int(ip.TotalLength()), len(pkt)},
				{"Protocol", ip.Protocol(), tc.proto},
				{"TTL", ip.TTL(), tc.ttl},
				{"TOS", ip.TOS(), tc.tos},
				{"DF", ip.DF(), tc.df},
				{"MF and offset", ip.IsFragment(), false},
				{"ID", ip.ID(), o.ID},
				{"Src", ip.Src(), ipipSrc},
				{"Dst", ip.Dst(), ipipDst},
				{"inner untouched", string(ip.Payload()), string(tc.inner)},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestEncapIPIPExactBytes(t *testing.T) {
	pkt := ipip(innerIPv4(t))
	o := OuterIPIP{Src: ipipSrc, Dst: ipipDst, DF: IPIPDFCopy, ID: 0x1234}
	if err := EncapIPIP(pkt, &o); err != nil {
		t.Fatalf("EncapIPIP: got error %v, want nil", err)
	}
	// Version 4, IHL 5, TOS 0, length 96, ID 0x1234, DF, TTL 64, protocol 4,
	// checksum from the naive reference.
	want := unhex(t, "45 00 0060 1234 4000 40 04 0000 0a000001 0a000002")
	c := naiveChecksum(want)
	want[10], want[11] = byte(c>>8), byte(c)
	if !bytes.Equal(pkt[:20], want) {
		t.Errorf("outer header: got % x, want % x", pkt[:20], want)
	}
}

func TestEncapIPIPErrors(t *testing.T) {
	v4, v6 := innerIPv4(t), innerIPv6(t)
	tests := []struct {
		name string
		pkt  []byte
		o    OuterIPIP
		want error
	}{
		{"no inner packet", make([]byte, 20), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrShortPacket},
		{"shorter than a header", make([]byte, 19), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrShortPacket},
		{"inner IPv4 truncated", ipip(v4[:60]), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrBadIPv4Header},
		{"inner IPv4 IHL 4", ipip(with(v4, 0, 0x44)), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrBadIPv4Header},
		{"inner version 5", ipip(with(v4, 0, 0x55)), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrBadIPv4Header},
		{"inner IPv6 truncated", ipip(v6[:50]), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrBadIPv6Header},
		{"inner IPv6 header cut", ipip(v6[:39]), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrBadIPv6Header},
		{"IPv6 outer address", ipip(v4), OuterIPIP{Src: netip.MustParseAddr("2001:db8::1"), Dst: ipipDst}, ErrAddressFamily},
		{"missing outer address", ipip(v4), OuterIPIP{Src: ipipSrc}, ErrAddressFamily},
		{"too long", make([]byte, 65536), OuterIPIP{Src: ipipSrc, Dst: ipipDst}, ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := EncapIPIP(tc.pkt, &tc.o); !errors.Is(err, tc.want) {
				t.Errorf("EncapIPIP: got %v, want %v", err, tc.want)
			}
		})
	}
}

// encapped returns inner wrapped by EncapIPIP, then edit applied to the
// outer header, then the checksum refreshed unless keepSum.
func encapped(t *testing.T, inner []byte, edit func(IPv4), keepSum bool) []byte {
	t.Helper()
	pkt := ipip(inner)
	if err := EncapIPIP(pkt, &OuterIPIP{Src: ipipSrc, Dst: ipipDst}); err != nil {
		t.Fatalf("EncapIPIP: %v", err)
	}
	if edit != nil {
		edit(IPv4(pkt))
		if !keepSum {
			IPv4(pkt).SetChecksum()
		}
	}
	return pkt
}

func TestDecapIPIP(t *testing.T) {
	v4, v6 := innerIPv4(t), innerIPv6(t)
	padded4 := append(clone(v4), 0xee, 0xee, 0xee) // inner shorter than the outer payload
	withOptions := func() []byte {
		pkt := encapped(t, v4, nil, false)
		opt := append(append(clone(pkt[:20]), 1, 1, 1, 1), pkt[20:]...)
		ip := IPv4(opt)
		ip.SetHeaderLen(24)
		ip.SetTotalLength(uint16(len(opt)))
		ip.SetChecksum()
		return opt
	}()
	tests := []struct {
		name      string
		pkt       []byte
		wantInner []byte
		wantErr   error
	}{
		{"IPv4 in IPv4", encapped(t, v4, nil, false), v4, nil},
		{"IPv6 in IPv4", encapped(t, v6, nil, false), v6, nil},
		{"inner trimmed to its own length", encapped(t, padded4, nil, false), v4, nil},
		{"outer link padding ignored", append(encapped(t, v4, nil, false), 0, 0, 0, 0), v4, nil},
		{"outer options skipped", withOptions, v4, nil},
		{"empty", nil, nil, ErrShortPacket},
		{"19 bytes", encapped(t, v4, nil, false)[:19], nil, ErrShortPacket},
		{"outer version 6", encapped(t, v4, func(b IPv4) { b[0] = 0x65 }, false), nil, ErrBadIPv4Header},
		{"outer IHL 4", encapped(t, v4, func(b IPv4) { b[0] = 0x44 }, false), nil, ErrBadIPv4Header},
		{"outer total length beyond packet", encapped(t, v4, func(b IPv4) { b.SetTotalLength(b.TotalLength() + 1) }, false), nil, ErrBadIPv4Header},
		{"outer is a first fragment", encapped(t, v4, func(b IPv4) { b.SetFlagsFragmentOffset(IPv4FlagMF, 0) }, false), nil, ErrFragment},
		{"outer is a later fragment", encapped(t, v4, func(b IPv4) { b.SetFlagsFragmentOffset(0, 8) }, false), nil, ErrFragment},
		{"protocol UDP", encapped(t, v4, func(b IPv4) { b.SetProtocol(ProtocolUDP) }, false), nil, ErrIPIPProtocol},
		{"protocol GRE", encapped(t, v4, func(b IPv4) { b.SetProtocol(47) }, false), nil, ErrIPIPProtocol},
		{"bad checksum", encapped(t, v4, func(b IPv4) { b.SetTTL(63) }, true), nil, ErrIPv4Checksum},
		{"inner not IPv4 under protocol 4", encapped(t, v6, func(b IPv4) { b.SetProtocol(ProtocolIPIP) }, false), nil, ErrBadIPv4Header},
		{"inner not IPv6 under protocol 41", encapped(t, v4, func(b IPv4) { b.SetProtocol(ProtocolIPv6inIPv4) }, false), nil, ErrBadIPv6Header},
		{"inner IPv4 cut by outer length", encapped(t, v4, func(b IPv4) { b.SetTotalLength(b.TotalLength() - 1) }, false), nil, ErrBadIPv4Header},
		{"inner IPv6 cut by outer length", encapped(t, v6, func(b IPv4) { b.SetTotalLength(b.TotalLength() - 1) }, false), nil, ErrBadIPv6Header},
		{"no inner packet", encapped(t, v4, func(b IPv4) { b.SetTotalLength(20) }, false), nil, ErrBadIPv4Header},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, inner, err := DecapIPIP(tc.pkt)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if src != ipipSrc {
				t.Errorf("src: got %v, want %v", src, ipipSrc)
			}
			if !bytes.Equal(inner, tc.wantInner) {
				t.Errorf("inner:\n got % x\nwant % x", inner, tc.wantInner)
			}
		})
	}
}

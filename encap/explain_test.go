package encap

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestExplainCoversEveryByte walks the kernel's own VXLAN frames (those
// carrying IPv4 inside): the fields follow one another with no gap or
// overlap, cover the whole frame, and sit at the offsets the views use.
func TestExplainCoversEveryByte(t *testing.T) {
	explained := 0
	for _, g := range goldenFrames {
		if g.innerType != EtherTypeIPv4 {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			frame := g.bytes(t)
			fs, err := Explain(frame)
			if err != nil {
				t.Fatal(err)
			}
			next := 0
			for _, f := range fs {
				if f.Off != next || f.Len <= 0 {
					t.Fatalf("field %s %q at %d+%d, want it to start at %d", f.Layer, f.Name, f.Off, f.Len, next)
				}
				next = f.Off + f.Len
			}
			if next != len(frame) {
				t.Errorf("fields end at %d, frame is %d bytes", next, len(frame))
			}
			vniOff := EthernetHeaderLen + IPv4MinHeaderLen + UDPHeaderLen + vxlanVNI
			found := false
			for _, f := range fs {
				if f.Layer == "VXLAN" && f.Name == "VNI" {
					found = true
					if f.Off != vniOff || f.Len != 3 || !strings.HasPrefix(f.Value, "42 ") {
						t.Errorf("VNI field at %d+%d = %q, want at %d+3 saying 42", f.Off, f.Len, f.Value, vniOff)
					}
				}
				if f.Layer == "outer IPv4" && f.Name == "source" && f.Value != g.src {
					t.Errorf("outer source %q, want %q", f.Value, g.src)
				}
				if f.Layer == "inner IPv4" && f.Name == "destination" && f.Value != g.innerDstIP {
					t.Errorf("inner destination %q, want %q", f.Value, g.innerDstIP)
				}
			}
			if !found {
				t.Error("no VNI field")
			}
		})
		explained++
	}
	if explained == 0 {
		t.Fatal("no golden frame carries IPv4 inside")
	}
}

func TestExplainIPIP(t *testing.T) {
	inner := make([]byte, 28)
	in := IPv4(inner)
	inner[0] = 0x45
	in.SetTotalLength(28)
	in.SetTTL(9)
	in.SetProtocol(ProtocolUDP)
	frame := make([]byte, EthernetHeaderLen+IPv4MinHeaderLen+len(inner))
	Ethernet(frame).SetEtherType(EtherTypeIPv4)
	copy(frame[EthernetHeaderLen+IPv4MinHeaderLen:], inner)
	o := OuterIPIP{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), DF: IPIPDFCopy}
	if err := EncapIPIP(frame[EthernetHeaderLen:], &o); err != nil {
		t.Fatal(err)
	}
	fs, err := Explain(frame)
	if err != nil {
		t.Fatal(err)
	}
	var proto, ttl Field
	for _, f := range fs {
		switch {
		case f.Layer == "outer IPv4" && f.Name == "protocol":
			proto = f
		case f.Layer == "outer IPv4" && f.Name == "TTL":
			ttl = f
		}
	}
	if proto.Off != EthernetHeaderLen+ipv4Protocol || !strings.HasPrefix(proto.Value, "4 ") {
		t.Errorf("outer protocol at %d = %q, want at %d saying 4", proto.Off, proto.Value, EthernetHeaderLen+ipv4Protocol)
	}
	if ttl.Value != "9" {
		t.Errorf("outer TTL %q, want the inherited 9", ttl.Value)
	}
	if last := fs[len(fs)-1]; last.Layer != "inner payload" || last.Off+last.Len != len(frame) {
		t.Errorf("last field %+v, want the inner payload up to byte %d", last, len(frame))
	}
}

func TestExplainRefuses(t *testing.T) {
	arp := make([]byte, 42)
	Ethernet(arp).SetEtherType(EtherTypeARP)
	for name, b := range map[string][]byte{"empty": nil, "ARP": arp, "short IPv4": append(append([]byte{}, arp[:12]...), 0x08, 0x00, 0x45)} {
		t.Run(name, func(t *testing.T) {
			if _, err := Explain(b); !errors.Is(err, ErrNotExplained) {
				t.Errorf("got %v, want ErrNotExplained", err)
			}
		})
	}
}

// FuzzExplain: any bytes are explained or refused, never a panic, and what
// is explained stays inside the frame.
func FuzzExplain(f *testing.F) {
	for _, g := range goldenFrames {
		f.Add(g.bytes(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := Explain(b)
		if err != nil {
			return
		}
		for _, fl := range fs {
			if fl.Off < 0 || fl.Len <= 0 || fl.Off+fl.Len > len(b) {
				t.Fatalf("field %+v outside the %d-byte frame", fl, len(b))
			}
		}
	})
}

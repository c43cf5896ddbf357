package encap

import (
	"bytes"
	"errors"
	"testing"
)

func TestVXLANAccessors(t *testing.T) {
	b := VXLAN(unhex(t, "08000000 00002a00 ffffffffffff02000000000a0806"))
	odd := VXLAN(unhex(t, "ff123456 abcdefff"))
	tests := []struct {
		name      string
		got, want any
	}{
		{"IsValid", b.IsValid(), true},
		{"IsValid 7 bytes", VXLAN(b[:7]).IsValid(), false},
		{"Flags", b.Flags(), uint8(0x08)},
		{"VNI", b.VNI(), uint32(42)},
		{"VNI ignores reserved byte", odd.VNI(), uint32(0xabcdef)},
		{"Flags with reserved bits", odd.Flags(), uint8(0xff)},
		{"Payload", len(b.Payload()), 14},
		{"Payload of bare header", len(VXLAN(b[:8]).Payload()), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestVXLANSetters(t *testing.T) {
	tests := []struct {
		name string
		from string
		set  func(VXLAN)
		want string
	}{
		{"SetVNI keeps reserved byte", "08000000 000000ee", func(b VXLAN) { b.SetVNI(0xabcdef) }, "08000000 abcdefee"},
		{"SetVNI uses 24 bits", "08000000 00000000", func(b VXLAN) { b.SetVNI(0xff000001) }, "08000000 00000100"},
		{"SetFlags", "00000000 00002a00", func(b VXLAN) { b.SetFlags(VXLANFlagI) }, "08000000 00002a00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := VXLAN(unhex(t, tc.from))
			tc.set(b)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Errorf("got % x, want % x", []byte(b), want)
			}
		})
	}
}

func TestPutVXLAN(t *testing.T) {
	tests := []struct {
		name string
		vni  uint32
		want string
	}{
		{"VNI 42", 42, "08000000 00002a00"},
		{"VNI 0", 0, "08000000 00000000"},
		{"max VNI", MaxVNI, "08000000 ffffff00"},
		{"VNI above 24 bits is cut", 0x1000001, "08000000 00000100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xa5}, 10) // junk: reserved bits must be cleared
			PutVXLAN(b, tc.vni)
			if want := unhex(t, tc.want); !bytes.Equal(b[:8], want) {
				t.Errorf("got % x, want % x", b[:8], want)
			}
			if b[8] != 0xa5 || b[9] != 0xa5 {
				t.Errorf("PutVXLAN wrote past 8 bytes: % x", b[8:])
			}
		})
	}
}

func TestDecapVXLAN(t *testing.T) {
	frame := "ffffffffffff02000000000a0806"
	tests := []struct {
		name      string
		payload   string
		wantVNI   uint32
		wantInner int
		wantErr   error
	}{
		{"valid", "08000000 00002a00" + frame, 42, 14, nil},
		{"reserved bits ignored", "ffffffff 00002aff" + frame, 42, 14, nil},
		{"longer inner frame", "08000000 ffffff00" + frame + "00000000", MaxVNI, 18, nil},
		{"empty", "", 0, 0, ErrShortPacket},
		{"7 bytes", "08000000 000000", 0, 0, ErrShortPacket},
		{"I flag clear", "00000000 00002a00" + frame, 0, 0, ErrVXLANFlags},
		{"only reserved flags", "f7000000 00002a00" + frame, 0, 0, ErrVXLANFlags},
		{"no inner frame", "08000000 00002a00", 0, 0, ErrShortFrame},
		{"inner frame 13 bytes", "08000000 00002a00" + frame[:26], 0, 0, ErrShortFrame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := unhex(t, tc.payload)
			vni, inner, err := DecapVXLAN(p)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if VXLAN(p).Validate() != nil && tc.wantErr == ErrShortFrame {
					t.Errorf("Validate: got %v, want nil (header is fine)", VXLAN(p).Validate())
				}
				return
			}
			if vni != tc.wantVNI {
				t.Errorf("VNI: got %d, want %d", vni, tc.wantVNI)
			}
			if len(inner) != tc.wantInner {
				t.Errorf("inner length: got %d, want %d", len(inner), tc.wantInner)
			}
			if &inner[0] != &p[VXLANHeaderLen] {
				t.Errorf("inner is a copy, want a sub-slice of the payload")
			}
		})
	}
}

func TestVXLANValidate(t *testing.T) {
	tests := []struct {
		name string
		hdr  string
		want error
	}{
		{"valid", "08000000 00002a00", nil},
		{"header only is fine", "08000000 00000000", nil},
		{"short", "080000", ErrShortPacket},
		{"I flag clear", "f7ffffff ffffffff", ErrVXLANFlags},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VXLAN(unhex(t, tc.hdr)).Validate(); got != tc.want {
				t.Errorf("Validate: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorTextsNameTheField(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ErrVXLANFlags, "I flag"},
		{ErrBadIPv4Header, "IHL"},
		{ErrBadIPv6Header, "payload length"},
		{ErrShortFrame, "Ethernet header"},
		{ErrIPv4Checksum, "checksum"},
		{ErrIPIPProtocol, "protocol"},
		{ErrTooLong, "65535"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if !bytes.Contains([]byte(tc.err.Error()), []byte(tc.want)) {
				t.Errorf("error %q: want it to mention %q", tc.err, tc.want)
			}
		})
	}
}

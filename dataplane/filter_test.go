package dataplane

import (
	"testing"
)

// FuzzParseFilter: no expression crashes the parser or the matcher; what
// parses prints as an expression that parses again to the same, and
// matches the same frames.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "icmp", "tcp port 80", "not src host 10.1.1.1", "udp dst port 53 and net 10.0.0.0/8",
		"mac 02:00:00:00:00:01", "arp", "ip6 and icmp6", "dst net fd00::/64", "port 70000", "host", "not not arp", "src dst host 1.2.3.4"} {
		f.Add(s, obsPing())
	}
	f.Fuzz(func(t *testing.T, expr string, frame []byte) {
		flt, err := ParseFilter(expr)
		if err != nil {
			if _, ok := err.(*FilterError); !ok {
				t.Fatalf("ParseFilter(%q): error %T, want *FilterError", expr, err)
			}
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil {
			t.Fatalf("ParseFilter(%q) = %q, which does not parse again: %v", expr, flt, err)
		}
		if again.String() != flt.String() {
			t.Fatalf("%q prints as %q, then as %q", expr, flt, again)
		}
		for _, kind := range []string{"vxlan", "ipip"} {
			e := &Event{Stage: StageDeviceIn, Kind: kind, Bytes: frame}
			if flt.Match(e) != again.Match(e) {
				t.Fatalf("%q and %q disagree on a %s frame % x", flt, again, kind, frame)
			}
		}
	})
}

// BenchmarkFilterMatch is the cost a traced frame pays per stage for a
// subscriber's filter: decoding its inner frame and matching three terms.
func BenchmarkFilterMatch(b *testing.B) {
	f, err := ParseFilter("icmp and host 192.168.42.2 and not port 22")
	if err != nil {
		b.Fatal(err)
	}
	e := &Event{Stage: StageDeviceIn, Kind: "vxlan", Bytes: obsPing()}
	b.ReportAllocs()
	b.SetBytes(int64(len(e.Bytes)))
	for b.Loop() {
		if !f.Match(e) {
			b.Fatal("no match")
		}
	}
}

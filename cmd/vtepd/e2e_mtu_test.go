//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestE2EMTUOverUnderlay: two vtepds whose devices have MTU 9000 over a
// 1500-byte veth. By default (df unset, as the kernel's vxlan) an outer
// packet over 1500 bytes leaves in IPv4 fragments, which the receiving
// kernel reassembles: large pings and a checked TCP transfer arrive whole.
// With --df set the outer DF bit is set, such a packet is dropped as
// too_big, and a ping with DF gets ICMP "fragmentation needed" naming the
// MTU the tunnel carries, 1450, which the sender's kernel remembers.
func TestE2EMTUOverUnderlay(t *testing.T) {
	bin := buildBinaries(t)
	t.Run("df unset fragments", func(t *testing.T) {
		a, b := twoHosts(t)
		a.extra = []string{"--mtu", "9000"}
		b.extra = []string{"--mtu", "9000"}
		a.start(t, bin, b.under)
		b.start(t, bin, a.under)
		reasm := mib(t, b.ns, "/proc/net/snmp", "Ip")["ReasmOKs"]
		out := a.ns.Run(t, "ping", "-c", "3", "-i", "0.2", "-s", "8000", "-M", "dont", b.over)
		if !strings.Contains(out, " 3 received") {
			t.Fatalf("ping -s 8000: got\n%s\nwant 3 replies", out)
		}
		if got := mib(t, b.ns, "/proc/net/snmp", "Ip")["ReasmOKs"]; got < reasm+3 {
			t.Errorf("ReasmOKs on %s: %d before, %d after; want the 3 requests reassembled", b.under, reasm, got)
		}
		transfer(t, bin, a.ns, b.ns, b.over, 7)
		transfer(t, bin, b.ns, a.ns, a.over, 8)
		if st := a.stats(t, bin); st.Drops["too_big"] != 0 || st.Drops["send_error"] != 0 {
			t.Errorf("drops on %s: too_big %d, send_error %d; want none", a.under, st.Drops["too_big"], st.Drops["send_error"])
		}
	})
	t.Run("df set answers fragmentation needed", func(t *testing.T) {
		a, b := twoHosts(t)
		a.extra = []string{"--mtu", "9000", "--df", "set"}
		b.extra = []string{"--mtu", "9000", "--df", "set"}
		a.start(t, bin, b.under)
		b.start(t, bin, a.under)
		pingAll(t, a.ns, b.over, 2) // small packets pass
		ip, icmp := probeDF(t, a.ns, b.over, 8000, 0x4d56, 2*time.Second)
		want := layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded)
		if icmp == nil || icmp.TypeCode != want || icmp.Seq != 1450 || ip.SrcIP.String() != a.over {
			t.Errorf("an 8000-byte echo request with DF: got %v from %v, want fragmentation needed, mtu 1450, from the tunnel's own %s", icmp, ip, a.over)
		}
		if st := a.stats(t, bin); st.Drops["too_big"] != 1 {
			t.Errorf("too_big on %s: got %d, want the one request counted", a.under, st.Drops["too_big"])
		}
		if out := a.ns.Run(t, "ip", "route", "get", b.over); !strings.Contains(out, "mtu 1450") {
			t.Errorf("ip route get %s: got %q, want the learnt mtu 1450", b.over, strings.TrimSpace(out))
		}
		// The sender's kernel now sends at most 1450 bytes through vx42,
		// and TCP finds its way at once.
		transfer(t, bin, a.ns, b.ns, b.over, 9)
	})
}

package main

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
	"github.com/vtepd/vtepd/encap"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		kind  string
		lines []*regexp.Regexp // each must match one line of the table
		sum   string
	}{
		{"vxlan", []*regexp.Regexp{
			regexp.MustCompile(`^eth 0-5\s+.*outer Ethernet\s+destination MAC`),
			regexp.MustCompile(`^0\s+45\s+outer IPv4\s+version, IHL`),
			regexp.MustCompile(`^22-23\s+12 b5\s+UDP\s+destination port\s+4789 `),
			regexp.MustCompile(`^28\s+08\s+VXLAN\s+flags\s+0x08 `),
			regexp.MustCompile(`^32-34\s+00 00 2a\s+VXLAN\s+VNI\s+42 `),
			regexp.MustCompile(`^36-41\s+.*inner Ethernet\s+destination MAC`),
			regexp.MustCompile(`^62-65\s+c0 a8 2a 01\s+inner IPv4\s+source\s+192\.168\.42\.1$`),
		}, "= 50 bytes"},
		{"ipip", []*regexp.Regexp{
			regexp.MustCompile(`^9\s+04\s+outer IPv4\s+protocol\s+4 \(IPIP\)`),
			regexp.MustCompile(`^20\s+45\s+inner IPv4\s+version, IHL`),
			regexp.MustCompile(`^36-39\s+0a f4 01 07\s+inner IPv4\s+destination\s+10\.244\.1\.7$`),
		}, "= 20 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"explain", tc.kind}, &out, &errb); code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			lines := strings.Split(out.String(), "\n")
			for _, re := range tc.lines {
				found := false
				for _, l := range lines {
					found = found || re.MatchString(l)
				}
				if !found {
					t.Errorf("no line matches %q in\n%s", re, out.String())
				}
			}
			if !strings.Contains(out.String(), tc.sum) {
				t.Errorf("overhead %q missing from\n%s", tc.sum, out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"explain", "gre"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "explain vxlan or explain ipip") {
		t.Errorf("explain gre: exit %d, stderr %q; want %d naming the choices", code, errb.String(), exitUsage)
	}
}

// TestExplainLive: explain --network asks the daemon's what-if for a ping
// to a MAC its FDB knows (VXLAN) or into its first route (IPIP), prints the
// packet the daemon builds byte by byte, and says why when nothing would
// leave; a network it does not have, a bad --to and an IPIP network with
// no route to take are errors that say so.
func TestExplainLive(t *testing.T) {
	b := newBackend()
	b.Nets = append(b.Nets, control.NetworkInfo{Name: "ipip1", Kind: control.KindIPIP, Local: "10.0.0.1", MTU: 1480})
	// The daemon's packet: outer IPv4 and UDP, VXLAN, then a ping frame.
	inner := samplePing("192.168.42.1", "192.168.42.2")
	frame := make([]byte, encap.EthernetHeaderLen+len(inner))
	encap.Ethernet(frame).SetEtherType(encap.EtherTypeIPv4)
	copy(frame[encap.EthernetHeaderLen:], inner)
	pkt := make([]byte, encap.VXLANIPv4HeadersLen+len(frame))
	copy(pkt[encap.VXLANIPv4HeadersLen:], frame)
	o := encap.OuterIPv4{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 40000,
		DstPort: encap.DefaultVXLANPort, VNI: 42, TTL: encap.DefaultTTL}
	if err := encap.EncapVXLANIPv4(pkt, &o); err != nil {
		t.Fatal(err)
	}
	b.SimResult = control.SimulateResult{Network: "vx42", Kind: "vxlan", Frame: "ping", Len: len(frame),
		Lookup: "hit", Entry: "aa:bb:cc:dd:ee:ff dst 10.0.0.2, learnt", Remotes: []string{"10.0.0.2"}, Packet: hex.EncodeToString(pkt)}
	socket := controltest.Start(t, b)

	code, out, errOut := ctl(socket, "explain", "--network", "vx42")
	if code != exitOK {
		t.Fatalf("explain --network vx42: exit %d, %s", code, errOut)
	}
	if calls := b.Calls(); calls[len(calls)-1] != `Simulate "vx42" "dst aa:bb:cc:dd:ee:ff to 192.168.42.2"` {
		t.Errorf("asked: %q, want a ping to the FDB's MAC and the subnet's neighbour", calls[len(calls)-1])
	}
	for _, re := range []string{
		`(?m)^20-21\s+9c 40\s+UDP\s+source port\s+40000 `,
		`(?m)^32-34\s+00 00 2a\s+VXLAN\s+VNI\s+42 `,
		`(?m)the FDB has aa:bb:cc:dd:ee:ff dst 10\.0\.0\.2, learnt`,
		`(?m)Its MACs, addresses, VNI, ports and remote are the daemon's`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %q in\n%s", re, out)
		}
	}

	if code, _, errOut := ctl(socket, "explain", "--network", "ipip0"); code != exitOK {
		t.Errorf("explain --network ipip0: exit %d, %s", code, errOut)
	} else if calls := b.Calls(); calls[len(calls)-1] != `Simulate "ipip0" "dst 10.244.1.1"` {
		t.Errorf("asked: %q, want a packet into the first route", calls[len(calls)-1])
	}

	// Nothing would leave: the daemon's answer is printed as it is.
	b.SimResult = control.SimulateResult{Network: "ipip0", Kind: "ipip", Frame: "IPv4 10.244.0.1 > 10.245.0.1", Len: 28,
		Lookup: "no route", Drop: "no_remote", Why: "no route of ipip0 holds 10.245.0.1"}
	if code, out, _ := ctl(socket, "explain", "--network", "ipip0", "--to", "10.245.0.1"); code != exitOK || !strings.Contains(out, "no_remote") {
		t.Errorf("a packet that would be dropped: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"explain", "--network", "vx9"}, exitError, "explain: --network vx9: no such network"},
		{[]string{"explain", "--network", "vx42", "--to", "nowhere"}, exitUsage, `explain: --to: want an IPv4 address, got "nowhere"`},
		{[]string{"explain", "--network", "ipip1"}, exitUsage, "explain: ipip1 has no route to take a packet: give --to IP"},
	} {
		code, _, errOut := ctl(socket, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%q: got exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
}

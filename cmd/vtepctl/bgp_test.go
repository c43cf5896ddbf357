package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
)

func bgpBackend() *controltest.Backend {
	b := newBackend()
	b.Speaker = &control.BGPInfo{ASN: 65000, RouterID: "10.0.0.1",
		Neighbors: []control.BGPNeighbor{
			{Address: "10.0.0.2", ASN: 65000, State: "Established", UptimeSeconds: 3725, Received: 4, Accepted: 4, Sent: 3},
			{Address: "10.0.1.1", ASN: 65001, State: "Active", Reason: "hold timer expired"},
		},
		Ignored: map[string]uint64{"vni": 2, "own": 0}}
	b.EVPN = []control.EVPNRoute{
		{Type: 2, RD: "10.0.0.2:1", VNI: 42, MAC: "02:00:00:00:00:09", IP: "192.168.42.9", NextHop: "10.0.0.2", Seq: 2, Peer: "10.0.0.2", Best: true},
		{Type: 3, RD: "10.0.0.1:1", VNI: 42, NextHop: "10.0.0.1", Best: true},
		{Type: 3, RD: "10.0.0.2:1", VNI: 7, NextHop: "10.0.0.2", Peer: "10.0.0.2"},
	}
	return b
}

func TestBGPCommands(t *testing.T) {
	b := bgpBackend()
	socket := controltest.Start(t, b)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bgp", []string{"bgp"}, "" +
			"BGP router identifier 10.0.0.1, local AS number 65000\n\n" +
			"Neighbor                 AS State          Up/Down  Received      Sent\n" +
			"10.0.0.2              65000 Established   01:02:05         4         3\n" +
			"10.0.1.1              65001 Active           never         0         0\n" +
			"  last reset: hold timer expired\n" +
			"\nRoutes ignored: vni 2\n"},
		{"evpn routes of a vni", []string{"evpn", "routes", "--vni", "42"}, "" +
			"> vni 42 rd 10.0.0.2:1 [2]:[02:00:00:00:00:09]:[192.168.42.9] next-hop 10.0.0.2 from 10.0.0.2 seq 2\n" +
			"> vni 42 rd 10.0.0.1:1 [3]:[10.0.0.1] next-hop 10.0.0.1 local\n"},
		{"evpn routes", []string{"evpn"}, "" +
			"> vni 42 rd 10.0.0.2:1 [2]:[02:00:00:00:00:09]:[192.168.42.9] next-hop 10.0.0.2 from 10.0.0.2 seq 2\n" +
			"> vni 42 rd 10.0.0.1:1 [3]:[10.0.0.1] next-hop 10.0.0.1 local\n" +
			"  vni 7 rd 10.0.0.2:1 [3]:[10.0.0.2] next-hop 10.0.0.2 from 10.0.0.2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("got exit %d, stderr %q", code, errOut)
			}
			if out != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		_, out, _ := ctl(socket, "bgp", "neighbors", "--json")
		var info control.BGPInfo
		if err := json.Unmarshal([]byte(out), &info); err != nil || len(info.Neighbors) != 2 || info.Ignored["vni"] != 2 {
			t.Errorf("bgp --json: %v, %+v from\n%s", err, info, out)
		}
		_, out, _ = ctl(socket, "evpn", "routes", "--vni", "7", "--json")
		var rs []control.EVPNRoute
		if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 || rs[0].VNI != 7 {
			t.Errorf("evpn routes --json: %v, %+v from\n%s", err, rs, out)
		}
	})
	for _, tc := range []struct {
		args []string
		call string
	}{
		{[]string{"bgp", "neighbor", "add", "10.0.0.9"}, "BGPNeighborAdd 10.0.0.9 asn 0 port 179 passive false max 0"},
		{[]string{"bgp", "neighbor", "add", "10.0.0.8", "asn", "65002", "passive", "port", "1179", "max-prefixes", "100", "password", "x"},
			"BGPNeighborAdd 10.0.0.8 asn 65002 port 1179 passive true max 100"},
		{[]string{"bgp", "neighbor", "del", "10.0.0.9"}, "BGPNeighborDel 10.0.0.9"},
	} {
		code, out, errOut := ctl(socket, tc.args...)
		calls := b.Calls()
		if code != 0 || out != "" || errOut != "" || len(calls) == 0 || calls[len(calls)-1] != tc.call {
			t.Errorf("%q: exit %d, %q, %q, calls %q; want the last %q", tc.args, code, out, errOut, calls, tc.call)
		}
	}
	if _, out, _ := ctl(socket, "bgp"); !strings.Contains(out, "10.0.0.8              65002 Idle") {
		t.Errorf("the added neighbor does not show:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"bgp", "neighbor", "add"}, 2, "bgp neighbor add: IP: required"},
		{[]string{"bgp", "neighbor", "add", "10.0.0.7", "asn", "0"}, 2, `bgp neighbor add: asn: want an integer 1..4294967295, got "0"`},
		{[]string{"bgp", "neighbor", "add", "10.0.0.7", "hold", "3"}, 2, `bgp neighbor add: "hold" is not a keyword`},
		{[]string{"bgp", "neighbor", "add", "10.0.0.2"}, 1, "bgp neighbor 10.0.0.2: already there"},
		{[]string{"bgp", "neighbor", "del", "10.9.9.9"}, 1, "bgp neighbor 10.9.9.9: no such neighbor"},
		{[]string{"bgp", "peers"}, 2, `bgp: "peers": unknown command`},
		{[]string{"evpn", "routes", "--vni", "x"}, 2, "evpn routes: vni: want an integer"},
	} {
		code, _, errOut := ctl(socket, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%q: got exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
}

// TestBGPWithoutSpeaker: a daemon without BGP says so.
func TestBGPWithoutSpeaker(t *testing.T) {
	socket := controltest.Start(t, newBackend())
	code, _, errOut := ctl(socket, "bgp")
	if code != 1 || !strings.Contains(errOut, "no BGP speaker") {
		t.Errorf("got exit %d, %q; want 1 and no BGP speaker", code, errOut)
	}
}

// TestTraceSimulate: trace --simulate sends the expression and prints the
// daemon's answer; a bad expression is refused by the daemon, naming the
// word; --simulate with --count is a usage error.
func TestTraceSimulate(t *testing.T) {
	b := newBackend()
	b.SimResult = control.SimulateResult{Network: "vx42", Kind: "vxlan", Frame: "02:00:00:00:00:01 > 02:00:00:00:00:09, IPv4 ...", Len: 98,
		Lookup: "hit", Entry: "02:00:00:00:00:09 dst 10.0.0.2, learnt", Remotes: []string{"10.0.0.2"},
		Outer: "VXLAN vni 42, 10.0.0.1:40000 > 10.0.0.2:4789", OuterLen: 148}
	socket := controltest.Start(t, b)
	code, out, errOut := ctl(socket, "trace", "--simulate", "dst 02:00:00:00:00:09 vni 42")
	want := "vx42: 02:00:00:00:00:01 > 02:00:00:00:00:09, IPv4 ... (98 bytes)\n" +
		"  lookup: hit, 02:00:00:00:00:09 dst 10.0.0.2, learnt\n" +
		"  encap: VXLAN vni 42, 10.0.0.1:40000 > 10.0.0.2:4789, 148 bytes\n" +
		"  verdict: sent, 1 copy\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("got %d\n%s%s\nwant\n%s", code, out, errOut, want)
	}
	if calls := b.Calls(); calls[len(calls)-1] != `Simulate "" "dst 02:00:00:00:00:09 vni 42"` {
		t.Errorf("calls: %q", calls)
	}
	if code, _, errOut := ctl(socket, "trace", "--simulate", "dst nowhere"); code != 1 || !strings.Contains(errOut, "dst: want a MAC") {
		t.Errorf("bad expression: %d %q", code, errOut)
	}
	if code, _, errOut := ctl(socket, "trace", "--simulate", "dst broadcast", "--count", "3"); code != 2 || !strings.Contains(errOut, "--simulate follows no traffic") {
		t.Errorf("with --count: %d %q", code, errOut)
	}
}

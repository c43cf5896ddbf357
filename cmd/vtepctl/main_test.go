package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
)

func newBackend() *controltest.Backend {
	return &controltest.Backend{
		Nets: []control.NetworkInfo{
			{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, Local: "10.0.0.1", Port: 4789, MTU: 1450,
				Address: "192.168.42.1/24", Remotes: []string{"10.0.0.2", "10.0.0.3"}, Learning: true, Ageing: "5m0s", Limit: 16384},
			{Name: "vx7", Kind: control.KindVXLAN, VNI: 7, Local: "10.0.0.1", Port: 4789, Ageing: "never", Limit: 10},
			{Name: "ipip0", Kind: control.KindIPIP, Local: "10.0.0.1", MTU: 1480, Address: "10.244.0.1/24",
				Routes: []control.RouteInfo{{Prefix: "10.244.1.0/24", Via: "10.0.0.2"}}},
		},
		Entries: []control.FDBEntry{
			{MAC: "aa:bb:cc:dd:ee:ff", Dst: "10.0.0.2", VNI: 42, Network: "vx42", AgeSeconds: 12.5},
			{MAC: "00:00:00:00:00:00", Dst: "10.0.0.2", VNI: 42, Network: "vx42", Static: true},
			{MAC: "02:00:00:00:00:07", Dst: "10.0.0.3", VNI: 7, Network: "vx7", Static: true},
		},
		Counts: []control.NetworkStats{
			{Name: "underlay", Kind: "underlay", Drops: map[string]uint64{"unknown_vni": 4}},
			{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, RxPackets: 10, RxBytes: 980, TxPackets: 12, TxBytes: 1176,
				Drops: map[string]uint64{"malformed": 2, "fdb_full": 0, "too_big": 1}, FDBEntries: 3, Learnt: 4, Moved: 1, Aged: 2, Flooded: 6,
				Offload: control.OffloadStats{TSOFrames: 5, TSOSegments: 220, GSOSends: 6, GSODatagrams: 230, GROTrains: 7, GRODatagrams: 8, CoalescedWrites: 9, CoalescedFrames: 40}},
			{Name: "ipip0", Kind: control.KindIPIP, RxPackets: 1, RxBytes: 84, TxPackets: 2, TxBytes: 168},
		},
		Routes: map[string][]control.RouteInfo{"ipip0": {{Prefix: "10.244.1.0/24", Via: "10.0.0.2"}}},
		Local:  "10.0.0.1",
		Port:   4789,
	}
}

// ctl runs vtepctl against socket and returns its exit code and output.
func ctl(socket string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"--control", socket}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestShowCommands(t *testing.T) {
	socket := controltest.Start(t, newBackend())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fdb show", []string{"fdb", "show"}, "" +
			"aa:bb:cc:dd:ee:ff dev vx42 dst 10.0.0.2 self\n" +
			"00:00:00:00:00:00 dev vx42 dst 10.0.0.2 self permanent\n" +
			"02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n"},
		{"fdb alone shows", []string{"fdb"}, "" +
			"aa:bb:cc:dd:ee:ff dev vx42 dst 10.0.0.2 self\n" +
			"00:00:00:00:00:00 dev vx42 dst 10.0.0.2 self permanent\n" +
			"02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n"},
		{"fdb show of one vni", []string{"fdb", "show", "--vni", "7"}, "02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n"},
		{"fdb show --vni=", []string{"fdb", "show", "-vni=7"}, "02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n"},
		{"stats", []string{"stats"}, "" +
			"underlay:\n" +
			"    RX: packets 0 bytes 0\n" +
			"    TX: packets 0 bytes 0\n" +
			"    drops: unknown_vni 4\n" +
			"vx42: vxlan vni 42 fdb 3 entries\n" +
			"    RX: packets 10 bytes 980\n" +
			"    TX: packets 12 bytes 1176\n" +
			"    fdb: learnt 4 moved 1 aged 2 flooded 6\n" +
			"    drops: fdb_full 0 malformed 2 too_big 1\n" +
			"    offload: tso 5 frames 220 segments, gso 6 sends 230 datagrams, gro 7 trains 8 datagrams, coalesced 9 writes 40 frames\n" +
			"ipip0: ipip\n" +
			"    RX: packets 1 bytes 84\n" +
			"    TX: packets 2 bytes 168\n" +
			"    drops: none\n"},
		{"route show", []string{"route", "show"}, "10.244.1.0/24 via 10.0.0.2 dev ipip0\n"},
		{"route show of a network", []string{"route", "show", "--network", "ipip0"}, "10.244.1.0/24 via 10.0.0.2 dev ipip0\n"},
		{"network show", []string{"network", "show"}, "" +
			"vx42: vxlan vni 42 local 10.0.0.1 dstport 4789 mtu 1450\n" +
			"    address 192.168.42.1/24\n" +
			"    remotes 10.0.0.2 10.0.0.3\n" +
			"    learning on ageing 5m0s limit 16384\n" +
			"vx7: vxlan vni 7 local 10.0.0.1 dstport 4789\n" +
			"    remotes none\n" +
			"    learning off ageing never limit 10\n" +
			"ipip0: ipip local 10.0.0.1 mtu 1480\n" +
			"    address 10.244.0.1/24\n" +
			"    route 10.244.1.0/24 via 10.0.0.2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("got exit %d, stderr %q, want 0 and nothing", code, errOut)
			}
			if out != tc.want {
				t.Errorf("got output\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

func TestJSONOutputParsesBack(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	want := newBackend()
	tests := []struct {
		name string
		args []string
		into any
		want any
	}{
		{"fdb", []string{"fdb", "show", "--json"}, &[]bridgeEntry{}, &[]bridgeEntry{
			{MAC: "aa:bb:cc:dd:ee:ff", IfName: "vx42", Dst: "10.0.0.2", Flags: []string{"self"}},
			{MAC: "00:00:00:00:00:00", IfName: "vx42", Dst: "10.0.0.2", Flags: []string{"self"}, State: "permanent"},
			{MAC: "02:00:00:00:00:07", IfName: "vx7", Dst: "10.0.0.3", Flags: []string{"self"}, State: "permanent"},
		}},
		{"stats", []string{"stats", "--json"}, &[]control.NetworkStats{}, &want.Counts},
		{"network", []string{"network", "show", "--json"}, &[]control.NetworkInfo{}, &want.Nets},
		{"route", []string{"route", "show", "--json"}, &[]routeLine{},
			&[]routeLine{{Network: "ipip0", Prefix: "10.244.1.0/24", Via: "10.0.0.2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 0 {
				t.Fatalf("got exit %d (%s), want 0", code, errOut)
			}
			if err := json.Unmarshal([]byte(out), tc.into); err != nil {
				t.Fatalf("got output that is not JSON: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(tc.into, tc.want) {
				t.Errorf("got %+v\nwant %+v", tc.into, tc.want)
			}
		})
	}
}

// TestJSONOfNothing: an empty table prints as an empty JSON list, which a
// script can range over, never as null.
func TestJSONOfNothing(t *testing.T) {
	socket := controltest.Start(t, &controltest.Backend{})
	for _, args := range [][]string{
		{"fdb", "show", "--json"}, {"stats", "--json"}, {"network", "show", "--json"}, {"route", "show", "--json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := ctl(socket, args...)
			if code != 0 || out != "[]\n" {
				t.Errorf("got exit %d, output %q (%s), want 0, %q", code, out, errOut, "[]\n")
			}
		})
	}
}

func TestChangesReachTheBackend(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	tests := []struct {
		name string
		args []string
		call string
	}{
		{"fdb add", []string{"fdb", "add", "02:AA:BB:CC:DD:01", "dst", "10.0.0.9", "vni", "42"}, "FDBAdd 42 02:aa:bb:cc:dd:01 10.0.0.9"},
		{"fdb add with keywords swapped", []string{"fdb", "add", "02:aa:bb:cc:dd:02", "vni", "7", "dst", "fd00::2"}, "FDBAdd 7 02:aa:bb:cc:dd:02 fd00::2"},
		{"fdb append to the flood list", []string{"fdb", "append", "00:00:00:00:00:00", "dst", "10.0.0.4", "vni", "42"}, "FDBAdd 42 00:00:00:00:00:00 10.0.0.4"},
		{"fdb del", []string{"fdb", "del", "02:aa:bb:cc:dd:01", "vni", "42"}, "FDBDel 42 02:aa:bb:cc:dd:01 invalid IP"},
		{"fdb del with dst", []string{"fdb", "del", "00:00:00:00:00:00", "vni", "42", "dst", "10.0.0.4"}, "FDBDel 42 00:00:00:00:00:00 10.0.0.4"},
		{"route add", []string{"route", "add", "10.244.2.0/24", "via", "10.0.0.3", "dev", "ipip0"}, `RouteAdd "ipip0" 10.244.2.0/24 10.0.0.3`},
		{"route add without dev", []string{"route", "add", "10.244.3.0/24", "via", "10.0.0.3"}, `RouteAdd "" 10.244.3.0/24 10.0.0.3`},
		{"route del", []string{"route", "del", "10.244.2.0/24", "dev", "ipip0"}, `RouteDel "ipip0" 10.244.2.0/24`},
		{"route del without dev", []string{"route", "del", "10.244.3.0/24"}, `RouteDel "" 10.244.3.0/24`},
		{"network add", []string{"network", "add", "--vni", "43", "--remote", "10.0.0.2", "--addr", "192.168.43.1/24"},
			`NetworkAdd {"name":"vx43","kind":"vxlan","vni":43,"address":"192.168.43.1/24","remotes":["10.0.0.2"],"learning":true,"ageing":"5m0s","limit":16384}`},
		{"network add of ipip", []string{"network", "add", "--mode", "ipip", "--name", "ipip1", "--mtu", "1480",
			"--route", "10.245.0.0/16=10.0.0.3", "--ttl", "inherit"},
			`NetworkAdd {"name":"ipip1","kind":"ipip","mtu":1480,"ttl":"inherit","df":"inherit","routes":[{"prefix":"10.245.0.0/16","via":"10.0.0.3"}]}`},
		{"network del", []string{"network", "del", "ipip1"}, "NetworkDel ipip1"},
		{"peer add", []string{"peer", "add", "10.0.0.9", "vni", "42"}, "PeerAdd 42 10.0.0.9"},
		{"peer add of IPv6", []string{"peer", "append", "fd00::9", "vni", "7"}, "PeerAdd 7 fd00::9"},
		{"peer del", []string{"peer", "del", "fd00::9", "vni", "7"}, "PeerDel 7 fd00::9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 0 || out != "" || errOut != "" {
				t.Fatalf("got exit %d, stdout %q, stderr %q, want 0 and no output", code, out, errOut)
			}
			calls := b.Calls()
			if len(calls) == 0 || calls[len(calls)-1] != tc.call {
				t.Errorf("got backend calls %q, want the last to be %q", calls, tc.call)
			}
		})
	}
	t.Run("the added network and peer show", func(t *testing.T) {
		_, out, _ := ctl(socket, "network", "show")
		want := "" +
			"vx42: vxlan vni 42 local 10.0.0.1 dstport 4789 mtu 1450\n" +
			"    address 192.168.42.1/24\n" +
			"    remotes 10.0.0.2 10.0.0.3 10.0.0.9\n" +
			"    learning on ageing 5m0s limit 16384\n" +
			"vx7: vxlan vni 7 local 10.0.0.1 dstport 4789\n" +
			"    remotes none\n" +
			"    learning off ageing never limit 10\n" +
			"ipip0: ipip local 10.0.0.1 mtu 1480\n" +
			"    address 10.244.0.1/24\n" +
			"    route 10.244.1.0/24 via 10.0.0.2\n" +
			"vx43: vxlan vni 43 local 10.0.0.1 dstport 4789\n" +
			"    address 192.168.43.1/24\n" +
			"    remotes 10.0.0.2\n" +
			"    learning on ageing 5m0s limit 16384\n"
		if out != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	})
	t.Run("the added entry shows", func(t *testing.T) {
		_, out, _ := ctl(socket, "fdb", "show", "--vni", "7")
		if !strings.Contains(out, "02:aa:bb:cc:dd:02 dev vx7 dst fd00::2 self permanent\n") {
			t.Errorf("got\n%s\nwant the added entry among the lines", out)
		}
	})
}

func TestFDBFlush(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	tests := []struct {
		name string
		args []string
		out  string
		call string
	}{
		{"of one network", []string{"fdb", "flush", "--vni", "42"}, "flushed 1 entries\n", "FDBFlush 42"},
		{"of every network", []string{"fdb", "flush"}, "flushed 0 entries\n", "FDBFlush all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 0 || out != tc.out || errOut != "" {
				t.Fatalf("got exit %d, stdout %q, stderr %q, want 0, %q and nothing", code, out, errOut, tc.out)
			}
			calls := b.Calls()
			if calls[len(calls)-1] != tc.call {
				t.Errorf("got backend calls %q, want the last to be %q", calls, tc.call)
			}
		})
	}
	t.Run("the static entries stay", func(t *testing.T) {
		_, out, _ := ctl(socket, "fdb", "show")
		want := "" +
			"00:00:00:00:00:00 dev vx42 dst 10.0.0.2 self permanent\n" +
			"02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n"
		if out != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	})
}

func TestDaemonErrorsExit1(t *testing.T) {
	socket := controltest.Start(t, newBackend())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown vni", []string{"fdb", "show", "--vni", "99"}, "vtepctl: vni 99: no such network: not found\n"},
		{"existing entry", []string{"fdb", "add", "aa:bb:cc:dd:ee:ff", "dst", "10.0.0.5", "vni", "42"},
			"vtepctl: aa:bb:cc:dd:ee:ff dst 10.0.0.2: already exists\n"},
		{"flood entry without dst", []string{"fdb", "del", "00:00:00:00:00:00", "vni", "42"},
			"vtepctl: dst: required to delete a flood-list entry (mac 00:00:00:00:00:00)\n"},
		{"route on a vxlan network", []string{"route", "add", "10.8.0.0/16", "via", "10.0.0.2", "dev", "vx42"},
			"vtepctl: network vx42 is vxlan, routes are for ipip networks: invalid\n"},
		{"network name in use", []string{"network", "add", "--vni", "43", "--name", "vx42"},
			"vtepctl: name: vx42 is already a network: already exists\n"},
		{"network vni in use", []string{"network", "add", "--vni", "42", "--name", "other"},
			"vtepctl: vni: 42 is already used by vx42: already exists\n"},
		{"network unknown", []string{"network", "del", "nope"}, "vtepctl: network nope: not found\n"},
		{"peer present", []string{"peer", "add", "10.0.0.2", "vni", "42"}, "vtepctl: peer 10.0.0.2: already exists\n"},
		{"peer absent", []string{"peer", "del", "10.0.0.99", "vni", "42"}, "vtepctl: peer 10.0.0.99: not found\n"},
		{"peer of unknown vni", []string{"peer", "add", "10.0.0.9", "vni", "99"}, "vtepctl: vni 99: no such network: not found\n"},
		{"flush of unknown vni", []string{"fdb", "flush", "--vni", "99"}, "vtepctl: vni 99: no such network: not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ctl(socket, tc.args...)
			if code != 1 || errOut != tc.want || out != "" {
				t.Errorf("got exit %d, stderr %q, stdout %q; want 1, %q, nothing", code, errOut, out, tc.want)
			}
		})
	}
}

func TestUnreachableExits1(t *testing.T) {
	socket := controltest.SocketPath(t)
	code, out, errOut := ctl(socket, "stats")
	want := "vtepctl: cannot reach vtepd at " + socket + ": dial unix " + socket + ": connect: no such file or directory\n"
	if code != 1 || errOut != want || out != "" {
		t.Errorf("got exit %d, stderr %q; want 1, %q", code, errOut, want)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	tests := []struct {
		name string
		args []string // after --control SOCKET, unless raw
		raw  bool
		want string
	}{
		{"no command", nil, false, `vtepctl: missing command (want fdb, peer, route, network, stats, bgp, evpn, trace, capture, explain or help)`},
		{"unknown command", []string{"bridge"}, false, `vtepctl: "bridge": unknown command (want fdb, peer, route, network, stats, bgp, evpn, trace, capture, explain or help)`},
		{"unknown option", []string{"--colour", "fdb"}, true, `vtepctl: "--colour": unknown option (want --control SOCK)`},
		{"control without value", []string{"--control"}, true, `vtepctl: --control: needs a value (the socket path)`},
		{"unknown fdb command", []string{"fdb", "purge"}, false, `vtepctl: fdb: "purge": unknown command (want show, add, append, replace, del or flush)`},
		{"fdb show bad option", []string{"fdb", "show", "--all"}, false, `vtepctl: fdb show: "--all" is not an option (want dev NAME, vni N, -s or --json)`},
		{"fdb show vni a word", []string{"fdb", "show", "--vni", "x"}, false, `vtepctl: fdb show: vni: want an integer 0..16777215, got "x"`},
		{"fdb show vni without value", []string{"fdb", "show", "--vni"}, false, `vtepctl: fdb show: --vni: needs a value`},
		{"fdb add without MAC", []string{"fdb", "add"}, false, `vtepctl: fdb add: MAC: required`},
		{"fdb add bad MAC", []string{"fdb", "add", "zz", "dst", "10.0.0.2", "vni", "1"}, false,
			`vtepctl: fdb add: MAC: want aa:bb:cc:dd:ee:ff, got "zz"`},
		{"fdb add without dst", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "vni", "1"}, false,
			`vtepctl: fdb add: dst: required (want fdb add MAC dst IP dev NAME|vni N)`},
		{"fdb add bad dst", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "dst", "host", "vni", "1"}, false,
			`vtepctl: fdb add: dst: want an IP address, got "host"`},
		{"fdb add vni too big", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "dst", "10.0.0.2", "vni", "16777216"}, false,
			`vtepctl: fdb add: vni: want an integer 0..16777215, got "16777216"`},
		{"fdb add unknown keyword", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "via", "10.0.0.2"}, false,
			`vtepctl: fdb add: "via" is not a keyword (want dst or vni or dev)`},
		{"fdb add keyword twice", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "vni", "1", "vni", "2"}, false,
			`vtepctl: fdb add: vni: given twice`},
		{"fdb add keyword without value", []string{"fdb", "add", "aa:bb:cc:dd:ee:01", "dst"}, false,
			`vtepctl: fdb add: dst: needs a value`},
		{"fdb del without vni", []string{"fdb", "del", "aa:bb:cc:dd:ee:01"}, false,
			`vtepctl: fdb del: dev or vni: required (want dev NAME or vni N)`},
		{"route add without prefix", []string{"route", "add"}, false,
			`vtepctl: route add: PREFIX: required (want route add PREFIX via IP [dev NETWORK])`},
		{"route add prefix with host bits", []string{"route", "add", "10.1.2.3/16", "via", "10.0.0.2"}, false,
			`vtepctl: route add: PREFIX: want a network prefix like 10.244.1.0/24, got "10.1.2.3/16"`},
		{"route add without via", []string{"route", "add", "10.1.0.0/16", "dev", "ipip0"}, false,
			`vtepctl: route add: via: required (want route add PREFIX via IP [dev NETWORK])`},
		{"route del with via", []string{"route", "del", "10.1.0.0/16", "via", "10.0.0.2"}, false,
			`vtepctl: route del: "via" is not a keyword (want dev)`},
		{"route show bad option", []string{"route", "show", "--dev", "ipip0"}, false,
			`vtepctl: route show: "--dev" is not an option (want --json or --network NETWORK)`},
		{"stats takes no words", []string{"stats", "vx42"}, false, `vtepctl: stats: "vx42" is not an option (want --json)`},
		{"network unknown command", []string{"network", "start"}, false, `vtepctl: network: "start": unknown command (want show, add or del)`},
		{"network add without vni", []string{"network", "add"}, false,
			`vtepctl: network add: --vni: required with --mode vxlan (0..16777215)`},
		{"network add vni a word", []string{"network", "add", "--vni", "x"}, false,
			`vtepctl: network add: --vni: want an integer 0..16777215, got "x"`},
		{"network add with a daemon flag", []string{"network", "add", "--vni", "43", "--local", "10.0.0.1"}, false,
			`vtepctl: network add: --local: belongs to the daemon, not to one network`},
		{"network add with a vxlan ttl", []string{"network", "add", "--vni", "43", "--ttl", "5"}, false,
			`vtepctl: network add: --ttl: only with --mode ipip (the outer TTL of vxlan networks belongs to the daemon)`},
		{"network add ipip without name", []string{"network", "add", "--mode", "ipip"}, false,
			`vtepctl: network add: --name: required with --mode ipip (the TUN device to create)`},
		{"network add with a word", []string{"network", "add", "vx43", "--vni", "43"}, false,
			`vtepctl: network add: unexpected argument "vx43" (settings are flags, like --vni 42)`},
		{"network add remote twice", []string{"network", "add", "--vni", "43", "--remote", "10.0.0.2", "--remote", "10.0.0.2"}, false,
			`vtepctl: network add: --remote: 10.0.0.2 is listed twice`},
		{"network del without name", []string{"network", "del"}, false, `vtepctl: network del: NAME: required (want network del NAME)`},
		{"network del with a flag", []string{"network", "del", "--name", "vx42"}, false,
			`vtepctl: network del: "--name" is not a network name (want network del NAME)`},
		{"network del of two", []string{"network", "del", "vx42", "vx7"}, false,
			`vtepctl: network del: unexpected argument "vx7" (want network del NAME)`},
		{"peer alone", []string{"peer"}, false, `vtepctl: peer: missing command (want add or del)`},
		{"peer show", []string{"peer", "show"}, false, `vtepctl: peer: "show": unknown command (want add or del)`},
		{"peer add without IP", []string{"peer", "add"}, false, `vtepctl: peer add: IP: required (want peer add IP vni N)`},
		{"peer add IP a word", []string{"peer", "add", "host", "vni", "42"}, false, `vtepctl: peer add: IP: want an IP address, got "host"`},
		{"peer add without vni", []string{"peer", "add", "10.0.0.9"}, false, `vtepctl: peer add: vni: required (want peer add IP vni N)`},
		{"peer del without vni", []string{"peer", "del", "10.0.0.9"}, false, `vtepctl: peer del: vni: required (want peer del IP vni N)`},
		{"peer add vni a word", []string{"peer", "add", "10.0.0.9", "vni", "x"}, false,
			`vtepctl: peer add: vni: want an integer 0..16777215, got "x"`},
		{"peer add with dst", []string{"peer", "add", "10.0.0.9", "dst", "10.0.0.8"}, false,
			`vtepctl: peer add: "dst" is not a keyword (want vni)`},
		{"fdb flush vni a word", []string{"fdb", "flush", "--vni", "x"}, false,
			`vtepctl: fdb flush: vni: want an integer 0..16777215, got "x"`},
		{"fdb flush vni empty", []string{"fdb", "flush", "--vni="}, false, `vtepctl: fdb flush: --vni: needs a value`},
		{"fdb flush a word", []string{"fdb", "flush", "42"}, false, `vtepctl: fdb flush: "42" is not an option (want --json or --vni VNI)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(b.Calls())
			var out, errb bytes.Buffer
			args := tc.args
			if !tc.raw {
				args = append([]string{"--control", socket}, args...)
			}
			code := run(args, &out, &errb)
			if code != 2 || errb.String() != tc.want+"\n" || out.Len() != 0 {
				t.Errorf("got exit %d, stderr %q, stdout %q\nwant 2, %q, nothing", code, errb.String(), out.String(), tc.want+"\n")
			}
			if after := len(b.Calls()); after != before {
				t.Errorf("got %d backend calls, want none for a usage error", after-before)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"--control", "/nonexistent.sock", "help"},
		{"--control", "/nonexistent.sock", "network", "add", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != 0 || !strings.HasPrefix(out.String(), "Usage: vtepctl") || errb.Len() != 0 {
				t.Errorf("got exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", code, out.String(), errb.String())
			}
		})
	}
}

// TestUsageNamesEveryNetworkFlag keeps the help of network add in step with
// what ParseNetworkFlags takes: every flag of vtepd's usage that it does not
// refuse as the daemon's is explained, and no flag of the daemon's is.
func TestUsageNamesEveryNetworkFlag(t *testing.T) {
	flags := regexp.MustCompile(`(?m)^  --([a-z-]+)`).FindAllStringSubmatch(control.Usage(), -1)
	if len(flags) < 20 {
		t.Fatalf("got %d flags in vtepd's usage, want its 30 or so: the pattern no longer reads it", len(flags))
	}
	_, addHelp, ok := strings.Cut(usage, "Flags of network add")
	if !ok {
		t.Fatal(`got usage without "Flags of network add"`)
	}
	for _, m := range flags {
		f := m[1]
		t.Run(f, func(t *testing.T) {
			_, err := control.ParseNetworkFlags([]string{"--" + f + "=x"})
			daemons := err != nil && strings.Contains(err.Error(), "belongs to the daemon")
			explained := strings.Contains(addHelp, "  --"+f+" ") || strings.Contains(addHelp, "  --"+f+"=")
			switch {
			case !daemons && !explained:
				t.Errorf("got network add's help without --%s, want every network add flag explained", f)
			case daemons && explained:
				t.Errorf("got network add's help with --%s, want none of the daemon's flags (%v)", f, err)
			}
		})
	}
	for _, cmd := range []string{"network add", "network del NAME", "peer add IP vni N", "peer del IP vni N", "fdb flush [--vni N]"} {
		if !strings.Contains(usage, "  "+cmd) {
			t.Errorf("got usage without %q, want every command listed", cmd)
		}
	}
}

// TestFDBAsBridge: fdb speaks bridge(8)'s words: dev NAME instead of (or
// with) vni N, dev in the output, -s with the used and updated seconds,
// replace, and JSON shaped like bridge -j -s fdb show.
func TestFDBAsBridge(t *testing.T) {
	b := newBackend()
	b.Entries[0].UsedSeconds, b.Entries[0].UpdatedSeconds = 3.4, 12.5
	socket := controltest.Start(t, b)

	if _, out, _ := ctl(socket, "fdb", "show", "dev", "vx7"); out != "02:00:00:00:00:07 dev vx7 dst 10.0.0.3 self permanent\n" {
		t.Errorf("fdb show dev vx7: got %q", out)
	}
	if _, out, _ := ctl(socket, "fdb", "show", "dev", "vx42", "-s"); !strings.HasPrefix(out, "aa:bb:cc:dd:ee:ff dev vx42 dst 10.0.0.2 used 3/13 self\n") {
		t.Errorf("fdb show dev vx42 -s: got %q, want used 3/13 on the learnt entry", out)
	}
	_, out, _ := ctl(socket, "fdb", "show", "-s", "--json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 3 {
		t.Fatalf("fdb show -s --json: %v\n%s", err, out)
	}
	want := map[string]any{"mac": "aa:bb:cc:dd:ee:ff", "ifname": "vx42", "dst": "10.0.0.2", "used": 3.0, "updated": 13.0,
		"flags": []any{"self"}, "state": ""}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("fdb show -s --json, first entry: got %v, want %v", got[0], want)
	}

	for _, tc := range []struct {
		args []string
		call string
	}{
		{[]string{"fdb", "add", "02:00:00:00:00:09", "dst", "10.0.0.4", "dev", "vx42"}, "FDBAdd 42 02:00:00:00:00:09 10.0.0.4"},
		{[]string{"fdb", "replace", "02:00:00:00:00:09", "dst", "10.0.0.5", "dev", "vx42"}, "FDBReplace 42 02:00:00:00:00:09 10.0.0.5"},
		{[]string{"fdb", "append", "00:00:00:00:00:00", "dst", "10.0.0.6", "vni", "7", "dev", "vx7"}, "FDBAdd 7 00:00:00:00:00:00 10.0.0.6"},
		{[]string{"fdb", "del", "02:00:00:00:00:09", "dev", "vx42"}, "FDBDel 42 02:00:00:00:00:09 invalid IP"},
	} {
		if code, _, errOut := ctl(socket, tc.args...); code != 0 || !slices.Contains(b.Calls(), tc.call) {
			t.Errorf("%q: exit %d (%s), calls %q; want %q among them", tc.args, code, errOut, b.Calls(), tc.call)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fdb", "add", "02:00:00:00:00:09", "dst", "10.0.0.4", "dev", "vx42", "vni", "7"}, 2, "fdb add: vni 7: dev vx42 is vni 42"},
		{[]string{"fdb", "add", "02:00:00:00:00:09", "dst", "10.0.0.4", "dev", "nosuch"}, 1, "fdb add: dev nosuch: no such network"},
		{[]string{"fdb", "add", "02:00:00:00:00:09", "dst", "10.0.0.4", "dev", "ipip0"}, 2, "fdb add: dev ipip0: an ipip network, which has no fdb"},
		{[]string{"fdb", "show", "dev", "nosuch"}, 1, "fdb show: dev nosuch: no such network"},
	} {
		if code, _, errOut := ctl(socket, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d saying %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestFlushAndCaptureJSON: the commands that print a summary print it as
// JSON with --json too.
func TestFlushAndCaptureJSON(t *testing.T) {
	socket := controltest.Start(t, traceBackend(controltest.VXLANPing()))
	_, out, _ := ctl(socket, "fdb", "flush", "--json")
	var flushed struct{ Flushed int }
	if err := json.Unmarshal([]byte(out), &flushed); err != nil || flushed.Flushed != 1 {
		t.Errorf("fdb flush --json: got %q (%v), want {\"flushed\": 1}", out, err)
	}
	name := t.TempDir() + "/vx42.pcap"
	_, out, _ = ctl(socket, "capture", "--network", "vx42", "--inner", name, "--count", "2", "--json")
	var sum struct {
		Inner struct {
			Name    string
			Packets int
		}
		Lost uint64
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Inner.Name != name || sum.Inner.Packets != 2 {
		t.Errorf("capture --json: got %q (%v), want the inner file with 2 packets", out, err)
	}
}

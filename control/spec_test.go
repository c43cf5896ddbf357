package control_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
)

func mustNetwork(t *testing.T, args ...string) control.Network {
	t.Helper()
	n, err := control.ParseNetworkFlags(args)
	if err != nil {
		t.Fatalf("ParseNetworkFlags(%q): %v", args, err)
	}
	return n
}

func TestNetworkSpecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		net  func(t *testing.T) control.Network
	}{
		{"minimal vxlan", func(t *testing.T) control.Network { return mustNetwork(t, "--vni", "43") }},
		{"every vxlan field", func(t *testing.T) control.Network {
			return mustNetwork(t, "--vni", "16777215", "--name", "ov1", "--remote", "fd00::2", "--remote", "fd00::3",
				"--addr", "fd01::1/64", "--mtu", "1400", "--learning=false", "--ageing", "0", "--limit", "1",
				"--group", "ff0e::1", "--dev", "eth0")
		}},
		{"vxlan with an odd ageing", func(t *testing.T) control.Network { return mustNetwork(t, "--vni", "0", "--ageing", "1m30.5s") }},
		{"vxlan with mac moves and a flood rate", func(t *testing.T) control.Network {
			return mustNetwork(t, "--vni", "44", "--mac-moves", "3", "--flood-rate", "2147483647")
		}},
		{"minimal ipip", func(t *testing.T) control.Network { return mustNetwork(t, "--mode", "ipip", "--name", "t") }},
		{"every ipip field", func(t *testing.T) control.Network {
			return mustNetwork(t, "--mode", "ipip", "--name", "ipip1", "--addr", "10.245.0.1/24", "--mtu", "1480",
				"--remote", "10.0.0.2", "--ttl", "inherit", "--route", "10.245.1.0/24=10.0.0.2", "--route", "0.0.0.0/0=10.0.0.3")
		}},
		{"ipip ttl 255", func(t *testing.T) control.Network {
			return mustNetwork(t, "--mode", "ipip", "--name", "t", "--ttl", "255")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.net(t)
			data, err := json.Marshal(control.SpecOf(want))
			if err != nil {
				t.Fatal(err)
			}
			var spec control.NetworkSpec
			if err := json.Unmarshal(data, &spec); err != nil {
				t.Fatalf("decoding %s: %v", data, err)
			}
			got, err := spec.Network()
			if err != nil {
				t.Fatalf("got error %v from %s, want none", err, data)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v\nvia %s", got, want, data)
			}
		})
	}
}

func TestNetworkSpecJSON(t *testing.T) {
	tests := []struct {
		name string
		net  control.Network
		want string
	}{
		{"vxlan", control.Network{Name: "vx43", Kind: control.KindVXLAN, VNI: 43, Address: netip.MustParsePrefix("192.168.43.1/24"),
			Remotes: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Learning: true, Ageing: 300 * time.Second, Limit: 16384},
			`{"name":"vx43","kind":"vxlan","vni":43,"address":"192.168.43.1/24","remotes":["10.0.0.2"],"learning":true,"ageing":"5m0s","limit":16384}`},
		{"vxlan with the zero values", control.Network{Name: "vx0", Kind: control.KindVXLAN, Limit: 5},
			`{"name":"vx0","kind":"vxlan","vni":0,"learning":false,"ageing":"0s","limit":5}`},
		{"ipip", control.Network{Name: "ipip1", Kind: control.KindIPIP, MTU: 1480, Remote: netip.MustParseAddr("10.0.0.2"), DF: control.DFInherit,
			Routes: []control.Route{{Prefix: netip.MustParsePrefix("10.245.1.0/24"), Via: netip.MustParseAddr("10.0.0.3")}}},
			`{"name":"ipip1","kind":"ipip","mtu":1480,"remote":"10.0.0.2","ttl":"inherit","df":"inherit","routes":[{"prefix":"10.245.1.0/24","via":"10.0.0.3"}]}`},
		{"ipip with a ttl", control.Network{Name: "t", Kind: control.KindIPIP, TTL: 64}, `{"name":"t","kind":"ipip","ttl":"64"}`},
		{"vxlan with limits on moves and floods", control.Network{Name: "vx9", Kind: control.KindVXLAN, VNI: 9, Limit: 5, MACMoves: 2, FloodRate: 100},
			`{"name":"vx9","kind":"vxlan","vni":9,"learning":false,"ageing":"0s","limit":5,"mac_moves":2,"flood_rate":100}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(control.SpecOf(tc.net))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNetworkSpecDefaults(t *testing.T) {
	tests := []struct {
		name, body string
		want       control.Network
	}{
		{"vxlan from its vni alone", `{"vni":42}`, control.Network{Name: "vx42", Kind: control.KindVXLAN, VNI: 42,
			Learning: true, Ageing: control.DefaultAgeing, Limit: control.DefaultLimit}},
		{"ageing in bare seconds", `{"vni":1,"ageing":"90","learning":false}`, control.Network{Name: "vx1", Kind: control.KindVXLAN, VNI: 1,
			Ageing: 90 * time.Second, Limit: control.DefaultLimit}},
		{"ipip", `{"kind":"ipip","name":"t"}`, control.Network{Name: "t", Kind: control.KindIPIP, TTL: control.DefaultTTL, DF: control.DFInherit}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var spec control.NetworkSpec
			if err := json.Unmarshal([]byte(tc.body), &spec); err != nil {
				t.Fatal(err)
			}
			got, err := spec.Network()
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestNetworkSpecErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"kind unknown", `{"kind":"gre"}`, `kind: want "vxlan" or "ipip", got "gre"`},
		{"no vni", `{"name":"a"}`, "vni: required for a vxlan network (0..16777215)"},
		{"vni too big", `{"vni":16777216}`, "vni: want an integer 0..16777215, got 16777216"},
		{"name too long", `{"vni":1,"name":"abcdefghijklmnop"}`, `name: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"name ..", `{"vni":1,"name":".."}`, `name: want an interface name, got ".."`},
		{"address without length", `{"vni":1,"address":"192.168.1.1"}`,
			`address: want an address with prefix length like 192.168.42.1/24, got "192.168.1.1"`},
		{"mtu too big", `{"vni":1,"mtu":70000}`, "mtu: want an integer 68..65535 (0 = from the underlay), got 70000"},
		{"remote not an address", `{"vni":1,"remotes":["10.0.0.2","peer"]}`, `remotes[1]: want an IP address, got "peer"`},
		{"remotes of two families", `{"vni":1,"remotes":["fd00::2","10.0.0.2"]}`,
			`remotes[1]: want an IPv6 address like remotes[0] (fd00::2), got "10.0.0.2"`},
		{"remote multicast", `{"vni":1,"remotes":["ff0e::1"]}`, `remotes[0]: want a unicast address (a multicast group goes in group), got "ff0e::1"`},
		{"remote twice", `{"vni":1,"remotes":["10.0.0.2","10.0.0.2"]}`, "remotes[1]: 10.0.0.2 is listed twice"},
		{"group not an address", `{"vni":1,"group":"all"}`, `group: want an IP address, got "all"`},
		{"group unicast", `{"vni":1,"group":"10.0.0.9","dev":"eth0"}`, `group: want a multicast address, got "10.0.0.9"`},
		{"group without dev", `{"vni":1,"group":"239.1.1.1"}`, "dev: required with group (the underlay device to join 239.1.1.1 on)"},
		{"dev too long", `{"vni":1,"group":"239.1.1.1","dev":"abcdefghijklmnop"}`, `dev: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"ageing a word", `{"vni":1,"ageing":"soon"}`, `ageing: want a duration like 300s (0 = never age), got "soon"`},
		{"ageing negative", `{"vni":1,"ageing":"-5s"}`, `ageing: want a duration like 300s (0 = never age), got "-5s"`},
		{"limit zero", `{"vni":1,"limit":0}`, "limit: want an integer 1..2147483647, got 0"},
		{"limit too big", `{"vni":1,"limit":2147483648}`, "limit: want an integer 1..2147483647, got 2147483648"},
		{"mac_moves negative", `{"vni":1,"mac_moves":-1}`, "mac_moves: want an integer 0..2147483647 (0 = no limit), got -1"},
		{"flood_rate too big", `{"vni":1,"flood_rate":2147483648}`, "flood_rate: want an integer 0..2147483647 (0 = no limit), got 2147483648"},
		{"mac_moves on ipip", `{"kind":"ipip","name":"t","mac_moves":2}`, "mac_moves: only for vxlan networks, this one is ipip"},
		{"flood_rate on ipip", `{"kind":"ipip","name":"t","flood_rate":2}`, "flood_rate: only for vxlan networks, this one is ipip"},
		{"remote on vxlan", `{"vni":1,"remote":"10.0.0.2"}`, "remote: only for ipip networks, this one is vxlan"},
		{"ttl on vxlan", `{"vni":1,"ttl":"5"}`, "ttl: only for ipip networks, this one is vxlan"},
		{"empty routes on vxlan", `{"vni":1,"routes":[]}`, "routes: only for ipip networks, this one is vxlan"},
		{"ipip without name", `{"kind":"ipip"}`, "name: required for an ipip network (the TUN device to create)"},
		{"vni on ipip", `{"kind":"ipip","name":"t","vni":0}`, "vni: only for vxlan networks, this one is ipip"},
		{"empty remotes on ipip", `{"kind":"ipip","name":"t","remotes":[]}`, "remotes: only for vxlan networks, this one is ipip"},
		{"learning on ipip", `{"kind":"ipip","name":"t","learning":true}`, "learning: only for vxlan networks, this one is ipip"},
		{"limit on ipip", `{"kind":"ipip","name":"t","limit":5}`, "limit: only for vxlan networks, this one is ipip"},
		{"of two vxlan fields on ipip, the first in the spec's order", `{"kind":"ipip","name":"t","flood_rate":2,"remotes":[]}`,
			"remotes: only for vxlan networks, this one is ipip"},
		{"of two ipip fields on vxlan, the first in the spec's order", `{"vni":1,"routes":[],"ttl":"5"}`,
			"ttl: only for ipip networks, this one is vxlan"},
		{"ipip IPv6 address", `{"kind":"ipip","name":"t","address":"fd01::1/64"}`, `address: want an IPv4 prefix (ipip carries IPv4), got "fd01::1/64"`},
		{"ipip remote not an address", `{"kind":"ipip","name":"t","remote":"peer"}`, `remote: want an IP address, got "peer"`},
		{"ipip IPv6 remote", `{"kind":"ipip","name":"t","remote":"fd00::2"}`,
			`remote: want an IPv4 address (ipip runs over IPv4, RFC 2003), got "fd00::2"`},
		{"ttl zero", `{"kind":"ipip","name":"t","ttl":"0"}`, `ttl: want an integer 1..255 or "inherit", got "0"`},
		{"ttl too big", `{"kind":"ipip","name":"t","ttl":"256"}`, `ttl: want an integer 1..255 or "inherit", got "256"`},
		{"route without prefix", `{"kind":"ipip","name":"t","routes":[{"via":"10.0.0.2"}]}`,
			"routes[0].prefix: required (the destination prefix, like 10.244.1.0/24)"},
		{"route prefix a word", `{"kind":"ipip","name":"t","routes":[{"prefix":"net","via":"10.0.0.2"}]}`,
			`routes[0].prefix: want a network prefix like 10.244.1.0/24, got "net"`},
		{"route prefix with host bits", `{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.2.3/16","via":"10.0.0.2"}]}`,
			`routes[0].prefix: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"route without via", `{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.0.0/16"}]}`,
			"routes[0].via: required (the remote endpoint for 10.1.0.0/16)"},
		{"route via a word", `{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.0.0/16","via":"peer"}]}`,
			`routes[0].via: want an IP address, got "peer"`},
		{"route twice", `{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"},{"prefix":"10.1.0.0/16","via":"10.0.0.3"}]}`,
			"routes[1].prefix: 10.1.0.0/16 is already routed by routes[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var spec control.NetworkSpec
			if err := json.Unmarshal([]byte(tc.body), &spec); err != nil {
				t.Fatal(err)
			}
			n, err := spec.Network()
			if err == nil {
				t.Fatalf("got network %+v, want error %q", n, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q\nwant       %q", err, tc.want)
			}
		})
	}
}

func FuzzNetworkSpec(f *testing.F) {
	f.Add([]byte(`{"vni":43,"remotes":["10.0.0.2"],"address":"192.168.43.1/24"}`))
	f.Add([]byte(`{"vni":0,"group":"ff0e::1","dev":"eth0","ageing":"0","learning":false,"limit":1}`))
	f.Add([]byte(`{"kind":"ipip","name":"t","ttl":"inherit","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"}]}`))
	f.Add([]byte(`{"kind":"ipip","name":"t","remote":"10.0.0.2","mtu":1480}`))
	f.Add([]byte(`{"vni":5,"mac_moves":3,"flood_rate":100}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec control.NetworkSpec
		if json.Unmarshal(body, &spec) != nil {
			return
		}
		n, err := spec.Network()
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("got error %q, want one line", msg)
			}
			return
		}
		again, err := control.SpecOf(n).Network()
		if err != nil {
			t.Fatalf("SpecOf(%+v).Network(): got error %v, want none", n, err)
		}
		if !reflect.DeepEqual(again, n) {
			t.Fatalf("got %+v\nwant %+v", again, n)
		}
	})
}

// TestFrontEndsAgree: the same network given as YAML, as vtepd's flags and
// as an API request decodes to the same Network, defaults included, and a
// bad value is the same FieldError in each front end's words.
func TestFrontEndsAgree(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		flags []string
		spec  string
	}{
		{"vxlan defaults", `{vni: 42}`, []string{"--vni", "42"}, `{"vni":42}`},
		{"vxlan every field",
			`{name: ov7, vni: 7, address: 192.168.7.1/24, mtu: 1400, remotes: [10.0.0.2, 10.0.0.3], learning: false, ageing: 90s, limit: 5, mac_moves: 3, flood_rate: 100, df: set}`,
			[]string{"--name", "ov7", "--vni", "7", "--addr", "192.168.7.1/24", "--mtu", "1400", "--remote", "10.0.0.2", "--remote", "10.0.0.3",
				"--learning=false", "--ageing", "90s", "--limit", "5", "--mac-moves", "3", "--flood-rate", "100", "--df", "set"},
			`{"name":"ov7","vni":7,"address":"192.168.7.1/24","mtu":1400,"remotes":["10.0.0.2","10.0.0.3"],"learning":false,"ageing":"90s","limit":5,"mac_moves":3,"flood_rate":100,"df":"set"}`},
		{"ipip", `{kind: ipip, name: t0, remote: 10.0.0.2, ttl: inherit, df: set, routes: [{prefix: 10.244.1.0/24, via: 10.0.0.3}]}`,
			[]string{"--mode", "ipip", "--name", "t0", "--remote", "10.0.0.2", "--ttl", "inherit", "--df", "set", "--route", "10.244.1.0/24=10.0.0.3"},
			`{"kind":"ipip","name":"t0","remote":"10.0.0.2","ttl":"inherit","df":"set","routes":[{"prefix":"10.244.1.0/24","via":"10.0.0.3"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := control.Parse([]byte("underlay: {local: 10.0.0.1}\nnetworks: [" + tc.yaml + "]\n"))
			if err != nil {
				t.Fatalf("yaml: %v", err)
			}
			fromFlags, err := control.ParseNetworkFlags(tc.flags)
			if err != nil {
				t.Fatalf("flags: %v", err)
			}
			var spec control.NetworkSpec
			if err := json.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatal(err)
			}
			fromJSON, err := spec.Network()
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			if !reflect.DeepEqual(c.Networks[0], fromFlags) || !reflect.DeepEqual(fromFlags, fromJSON) {
				t.Errorf("yaml  %+v\nflags %+v\njson  %+v\nwant all three the same", c.Networks[0], fromFlags, fromJSON)
			}
		})
	}

	_, yerr := control.Parse([]byte("underlay: {local: 10.0.0.1}\nnetworks: [{vni: 7, limit: 0}]\n"))
	_, ferr := control.ParseNetworkFlags([]string{"--vni", "7", "--limit", "0"})
	_, jerr := control.NetworkSpec{VNI: ptr(uint32(7)), Limit: ptr(0)}.Network()
	for _, e := range []struct {
		err  error
		want string
	}{
		{yerr, "networks[0].limit: want an integer 1..2147483647, got 0"},
		{ferr, `--limit: want an integer 1..2147483647, got "0"`},
		{jerr, "limit: want an integer 1..2147483647, got 0"},
	} {
		var fe *control.FieldError
		if !errors.As(e.err, &fe) || e.err.Error() != e.want {
			t.Errorf("got %v, want the FieldError %q", e.err, e.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestBGPConfig: the bgp block and its flags, and an evpn network without
// a speaker refused naming the field.
func TestBGPConfig(t *testing.T) {
	c, err := control.Parse([]byte(`underlay: {local: 10.0.0.1}
bgp:
  asn: 65000
  neighbors:
    - {address: 10.0.0.3}
    - {address: 10.0.1.1, asn: 65001, password: s3cret, passive: true, port: 1790}
networks: [{vni: 42, evpn: true}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &control.BGP{ASN: 65000, ListenPort: control.DefaultBGPPort, Neighbors: []control.Neighbor{
		{Address: netip.MustParseAddr("10.0.0.3"), ASN: 65000, Port: 179},
		{Address: netip.MustParseAddr("10.0.1.1"), ASN: 65001, Port: 1790, Password: "s3cret", Passive: true},
	}}
	if !reflect.DeepEqual(c.BGP, want) || !c.Networks[0].EVPN {
		t.Errorf("got %+v, evpn %v; want %+v and evpn", c.BGP, c.Networks[0].EVPN, want)
	}
	f, err := control.ParseFlags([]string{"--local", "10.0.0.1", "--vni", "42", "--evpn", "--bgp-asn", "65000", "--bgp-neighbor", "10.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if f.BGP == nil || f.BGP.ASN != 65000 || len(f.BGP.Neighbors) != 1 || f.BGP.Neighbors[0].ASN != 65000 || !f.Networks[0].EVPN {
		t.Errorf("from flags: got %+v, evpn %v", f.BGP, f.Networks[0].EVPN)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error {
			_, err := control.Parse([]byte("underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42, evpn: true}]\n"))
			return err
		}(),
			"networks[0].evpn: needs a BGP speaker"},
		{func() error {
			_, err := control.ParseFlags([]string{"--local", "10.0.0.1", "--vni", "42", "--evpn"})
			return err
		}(), "--evpn: needs a BGP speaker"},
		{func() error {
			_, err := control.Parse([]byte("underlay: {local: 10.0.0.1}\nbgp: {neighbors: []}\nnetworks: [{vni: 42}]\n"))
			return err
		}(), "bgp.asn: required"},
		{func() error {
			_, err := control.ParseFlags([]string{"--local", "10.0.0.1", "--vni", "42", "--bgp-asn", "x"})
			return err
		}(), `--bgp-asn: want an integer 1..4294967295, got "x"`},
		{func() error {
			_, err := control.ParseFlags([]string{"--mode", "ipip", "--name", "t", "--local", "10.0.0.1", "--evpn"})
			return err
		}(), "--evpn: only with --mode vxlan"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
}

// TestIPIPBGPConfig: an ipip network takes part in BGP from the file
// (bgp, blocks, accept_default), the flags (--bgp-asn with --mode ipip,
// --bgp-block) and the API, with the address's prefix as its block by
// default; the mistakes are named.
func TestIPIPBGPConfig(t *testing.T) {
	c, err := control.Parse([]byte(`underlay: {local: 10.0.0.1}
bgp: {asn: 64512, neighbors: [{address: 10.0.0.2}]}
networks:
  - {name: ipip0, kind: ipip, address: 10.244.1.1/24, bgp: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Networks[0]
	if !n.BGP || !slices.Equal(n.Blocks, []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}) || n.AcceptDefault {
		t.Errorf("file: bgp %v blocks %v accept_default %v; want the address's /24", n.BGP, n.Blocks, n.AcceptDefault)
	}
	c, err = control.Parse([]byte(`underlay: {local: 10.0.0.1}
bgp: {asn: 64512, neighbors: [{address: 10.0.0.2}]}
networks:
  - {name: ipip0, kind: ipip, address: 10.244.1.1/16, blocks: [10.244.1.0/24, 10.244.9.0/24], accept_default: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Networks[0]; !n.BGP || len(n.Blocks) != 2 || !n.AcceptDefault {
		t.Errorf("file with blocks: %+v; want bgp implied, two blocks, accept_default", n)
	}
	f, err := control.ParseFlags([]string{"--mode", "ipip", "--name", "ipip0", "--local", "10.0.0.1", "--addr", "10.244.1.1/16",
		"--bgp-asn", "64512", "--bgp-neighbor", "10.0.0.2", "--bgp-block", "10.244.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Networks[0]; !n.BGP || !slices.Equal(n.Blocks, []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}) {
		t.Errorf("flags: %+v", n)
	}
	on := true
	spec := control.NetworkSpec{Name: "ipip1", Kind: "ipip", Address: "10.244.3.1/24", BGP: &on}
	if n, err := spec.Network(); err != nil || !n.BGP || n.Blocks[0] != netip.MustParsePrefix("10.244.3.0/24") {
		t.Errorf("API: %+v, %v", n, err)
	} else if back := control.SpecOf(n); back.BGP == nil || !*back.BGP || len(back.Blocks) != 1 {
		t.Errorf("SpecOf: %+v", back)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{parseErr("underlay: {local: 10.0.0.1}\nnetworks: [{name: t, kind: ipip, address: 10.244.1.1/24, bgp: true}]\n"),
			"networks[0].bgp: needs a BGP speaker"},
		{parseErr("underlay: {local: 10.0.0.1}\nbgp: {asn: 1}\nnetworks: [{name: t, kind: ipip, bgp: true}]\n"),
			"networks[0].blocks: required with bgp and no address"},
		{parseErr("underlay: {local: 10.0.0.1}\nbgp: {asn: 1}\nnetworks: [{name: t, kind: ipip, blocks: [10.244.1.1/24]}]\n"),
			"networks[0].blocks[0]: want a network prefix like 10.244.1.0/24"},
		{parseErr("underlay: {local: 10.0.0.1}\nbgp: {asn: 1}\nnetworks: [{name: t, kind: ipip, bgp: false, accept_default: true}]\n"),
			"networks[0].accept_default: only with bgp: true"},
		{parseErr("underlay: {local: 10.0.0.1}\nbgp: {asn: 1}\nnetworks: [{vni: 1, blocks: [10.244.1.0/24]}]\n"),
			"networks[0].blocks: only for ipip networks"},
		{parseErr("underlay: {local: 10.0.0.1}\nbgp: {asn: 1}\nnetworks: [{name: a, kind: ipip, address: 10.1.0.1/24, bgp: true}, {name: b, kind: ipip, address: 10.2.0.1/24, bgp: true}]\n"),
			"networks[1].bgp: only one ipip network takes part in BGP; networks[0] already does"},
		{func() error {
			_, err := control.ParseFlags([]string{"--mode", "ipip", "--name", "t", "--local", "10.0.0.1", "--bgp-asn", "1", "--bgp-block", "10.244.1.0"})
			return err
		}(), "--bgp-block: want a network prefix"},
		{func() error {
			_, err := control.ParseFlags([]string{"--local", "10.0.0.1", "--vni", "42", "--bgp-block", "10.244.1.0/24"})
			return err
		}(), "--bgp-block: only with --mode ipip"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
}

func parseErr(yaml string) error {
	_, err := control.Parse([]byte(yaml))
	return err
}

package control

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// useDefaultPortRange points the srcport default at a file that does not
// exist, so expectations do not depend on the host's sysctl.
func useDefaultPortRange(t *testing.T) {
	t.Helper()
	old := portRangeFile
	portRangeFile = filepath.Join(t.TempDir(), "absent")
	t.Cleanup(func() { portRangeFile = old })
}

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// defaults is the Underlay every minimal config gets.
func defaultUnderlay(local string) Underlay {
	return Underlay{Local: addr(local), Port: 4789, SrcPortMin: 32768, SrcPortMax: 60999, TTL: 64, McastTTL: 1, Offload: DefaultOffload, Accept: AcceptAny}
}

func vxlanNet(name string, vni uint32) Network {
	return Network{Name: name, Kind: KindVXLAN, VNI: vni, Learning: true, Ageing: 300 * time.Second, Limit: 16384}
}

func TestParseValid(t *testing.T) {
	useDefaultPortRange(t)
	tests := []struct {
		name string
		yaml string
		want func() *Config
	}{
		{
			name: "minimal vxlan gets every default",
			yaml: "underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42}]\n",
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx42", 42)},
					Control: "/run/vtepd/vtepd.sock", LogLevel: "info"}
			},
		},
		{
			name: "queues and busy polling",
			yaml: "underlay: {local: 10.0.0.1, queues: 4, busy_poll: 50us}\nnetworks: [{vni: 42}]\n",
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.Queues, u.BusyPoll = 4, 50*time.Microsecond
				return &Config{Underlay: u, Networks: []Network{vxlanNet("vx42", 42)},
					Control: "/run/vtepd/vtepd.sock", LogLevel: "info"}
			},
		},
		{
			name: "IPIP received through a fanout group",
			yaml: "underlay: {local: 10.0.0.1, queues: 4, ipip_receive: fanout}\nnetworks: [{vni: 42}]\n",
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.Queues, u.IPIPFanout = 4, true
				return &Config{Underlay: u, Networks: []Network{vxlanNet("vx42", 42)},
					Control: "/run/vtepd/vtepd.sock", LogLevel: "info"}
			},
		},
		{
			name: "IPIP received on the raw socket, said aloud",
			yaml: "underlay: {local: 10.0.0.1, ipip_receive: raw}\nnetworks: [{vni: 42}]\n",
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx42", 42)},
					Control: "/run/vtepd/vtepd.sock", LogLevel: "info"}
			},
		},
		{
			name: "the documented example",
			yaml: `
underlay:
  local: 10.0.0.1
  port: 4789
  srcport: 32768-60999
  ttl: 64
  udpcsum: false
networks:
  - name: vx42
    kind: vxlan
    vni: 42
    address: 192.168.42.1/24
    mtu: 1450
    remotes: [10.0.0.2, 10.0.0.3]
    group: 239.1.1.1
    dev: eth0
    learning: true
    ageing: 300s
    limit: 16384
  - name: ipip0
    kind: ipip
    address: 10.244.0.1/24
    remote: 10.0.0.2
    ttl: 64
    routes:
      - {prefix: 10.244.1.0/24, via: 10.0.0.2}
control: /run/vtepd/vtepd.sock
metrics: 127.0.0.1:9470
log_level: info
`,
			want: func() *Config {
				vx := vxlanNet("vx42", 42)
				vx.Address = prefix("192.168.42.1/24")
				vx.MTU = 1450
				vx.Remotes = []netip.Addr{addr("10.0.0.2"), addr("10.0.0.3")}
				vx.Group = addr("239.1.1.1")
				vx.Dev = "eth0"
				ip := Network{Name: "ipip0", Kind: KindIPIP, DF: DFInherit, Address: prefix("10.244.0.1/24"),
					Remote: addr("10.0.0.2"), TTL: 64,
					Routes: []Route{{Prefix: prefix("10.244.1.0/24"), Via: addr("10.0.0.2")}}}
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vx, ip},
					Control: "/run/vtepd/vtepd.sock", Metrics: "127.0.0.1:9470", LogLevel: "info"}
			},
		},
		{
			name: "IPv6 underlay, custom ports, ttl, checksums, no learning, ageing off",
			yaml: `
underlay: {local: "fd00::1", port: 8472, srcport: 1000-2000, ttl: 8, udpcsum: true}
networks:
  - vni: 0
    remotes: ["fd00::2"]
    learning: false
    ageing: 0
    limit: 1
    mtu: 0
    address: fd42::1/64
control: /tmp/v.sock
log_level: debug
`,
			want: func() *Config {
				n := vxlanNet("vx0", 0)
				n.Remotes = []netip.Addr{addr("fd00::2")}
				n.Learning, n.Ageing, n.Limit = false, 0, 1
				n.Address = prefix("fd42::1/64")
				return &Config{
					Underlay: Underlay{Local: addr("fd00::1"), Port: 8472, SrcPortMin: 1000, SrcPortMax: 2000, TTL: 8, McastTTL: 1, UDPCsum: true, Offload: DefaultOffload, Accept: AcceptAny},
					Networks: []Network{n}, Control: "/tmp/v.sock", LogLevel: "debug"}
			},
		},
		{
			name: "ageing as bare seconds, largest vni, single-port srcport",
			yaml: "underlay: {local: 10.0.0.1, srcport: 5000-5000}\nnetworks: [{vni: 16777215, ageing: 30}]\n",
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.SrcPortMin, u.SrcPortMax = 5000, 5000
				n := vxlanNet("vx16777215", 16777215)
				n.Ageing = 30 * time.Second
				return &Config{Underlay: u, Networks: []Network{n}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "ipip with ttl inherit and defaults",
			yaml: "underlay: {local: 10.0.0.1}\nnetworks: [{kind: ipip, name: tun1, ttl: inherit, df: set}, {kind: ipip, name: tun2}]\n",
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{
					{Name: "tun1", Kind: KindIPIP, DF: DFSet, TTL: 0},
					{Name: "tun2", Kind: KindIPIP, DF: DFInherit, TTL: 64},
				}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "accept peers with allow prefixes, mac_moves and flood_rate",
			yaml: `
underlay:
  local: 10.0.0.1
  accept: peers
  allow: [10.1.0.0/16, 10.2.3.4, 0.0.0.0/0]
networks:
  - {vni: 42, mac_moves: 5, flood_rate: 1000}
  - {vni: 43, mac_moves: 0, flood_rate: 0}
`,
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.Accept = AcceptPeers
				u.Allow = []netip.Prefix{prefix("10.1.0.0/16"), prefix("10.2.3.4/32"), prefix("0.0.0.0/0")}
				n := vxlanNet("vx42", 42)
				n.MACMoves, n.FloodRate = 5, 1000
				return &Config{Underlay: u, Networks: []Network{n, vxlanNet("vx43", 43)}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "accept any said out loud, an IPv6 allow entry",
			yaml: "underlay: {local: \"fd00::1\", accept: peers, allow: [\"fd00:1::/32\", \"fd00::9\"]}\nnetworks: [{vni: 1}]\n",
			want: func() *Config {
				u := defaultUnderlay("fd00::1")
				u.Accept = AcceptPeers
				u.Allow = []netip.Prefix{prefix("fd00:1::/32"), prefix("fd00::9/128")}
				return &Config{Underlay: u, Networks: []Network{vxlanNet("vx1", 1)}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "accept any, the default, written out",
			yaml: "underlay: {local: 10.0.0.1, accept: any}\nnetworks: [{vni: 1}]\n",
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx1", 1)}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "null values count as absent",
			yaml: "underlay: {local: 10.0.0.1, port: ~}\nnetworks: [{vni: 7, name: null}]\nmetrics:\n",
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx7", 7)},
					Control: DefaultControl, LogLevel: "info"}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSrcPortDefaultFollowsHost(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		min, max uint16
	}{
		{"host range", "1024\t4095\n", 1024, 4095},
		{"unreadable range falls back", "garbage\n", 32768, 60999},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := portRangeFile
			portRangeFile = filepath.Join(t.TempDir(), "range")
			t.Cleanup(func() { portRangeFile = old })
			if err := os.WriteFile(portRangeFile, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Parse([]byte("underlay: {local: 10.0.0.1}\nnetworks: [{vni: 1}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			if c.Underlay.SrcPortMin != tc.min || c.Underlay.SrcPortMax != tc.max {
				t.Errorf("got srcport %d-%d, want %d-%d", c.Underlay.SrcPortMin, c.Underlay.SrcPortMax, tc.min, tc.max)
			}
		})
	}
}

// base is a valid config that the error cases below modify.
const base = "underlay: {local: 10.0.0.1}\n"

func TestParseErrors(t *testing.T) {
	useDefaultPortRange(t)
	tests := []struct {
		name string
		yaml string
		want string // the whole error text
	}{
		// underlay
		{"missing local", "networks: [{vni: 1}]", "underlay.local: required (the source address of outer packets)"},
		{"local not an address", "underlay: {local: abc}\nnetworks: [{vni: 1}]", `underlay.local: want an IP address, got "abc"`},
		{"local multicast", "underlay: {local: 239.1.1.1}\nnetworks: [{vni: 1}]", `underlay.local: want a unicast address, got "239.1.1.1"`},
		{"local unspecified", "underlay: {local: 0.0.0.0}\nnetworks: [{vni: 1}]", `underlay.local: want a unicast address, got "0.0.0.0"`},
		{"port zero", "underlay: {local: 10.0.0.1, port: 0}\nnetworks: [{vni: 1}]", "underlay.port: want an integer 1..65535, got 0"},
		{"port too big", "underlay: {local: 10.0.0.1, port: 70000}\nnetworks: [{vni: 1}]", "underlay.port: want an integer 1..65535, got 70000"},
		{"port a word", "underlay: {local: 10.0.0.1, port: vxlan}\nnetworks: [{vni: 1}]", `underlay.port: want an integer 1..65535, got "vxlan"`},
		{"srcport reversed", "underlay: {local: 10.0.0.1, srcport: 60999-32768}\nnetworks: [{vni: 1}]",
			`underlay.srcport: want MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535), got "60999-32768"`},
		{"srcport one number", "underlay: {local: 10.0.0.1, srcport: 4000}\nnetworks: [{vni: 1}]",
			`underlay.srcport: want MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535), got 4000`},
		{"srcport from zero", "underlay: {local: 10.0.0.1, srcport: 0-10}\nnetworks: [{vni: 1}]",
			`underlay.srcport: want MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535), got "0-10"`},
		{"ttl zero", "underlay: {local: 10.0.0.1, ttl: 0}\nnetworks: [{vni: 1}]", "underlay.ttl: want an integer 1..255, got 0"},
		{"ttl too big", "underlay: {local: 10.0.0.1, ttl: 256}\nnetworks: [{vni: 1}]", "underlay.ttl: want an integer 1..255, got 256"},
		{"mcast ttl zero", "underlay: {local: 10.0.0.1, mcast_ttl: 0}\nnetworks: [{vni: 1}]", "underlay.mcast_ttl: want an integer 1..255, got 0"},
		{"queues past the most", "underlay: {local: 10.0.0.1, queues: 65}\nnetworks: [{vni: 1}]", "underlay.queues: want an integer 0..64, got 65"},
		{"queues a word", "underlay: {local: 10.0.0.1, queues: many}\nnetworks: [{vni: 1}]", "underlay.queues: want an integer 0..64, got \"many\""},
		{"busy poll too long", "underlay: {local: 10.0.0.1, busy_poll: 2ms}\nnetworks: [{vni: 1}]", "underlay.busy_poll: want a duration 0..1ms like 50us, got \"2ms\""},
		{"IPIP received some other way", "underlay: {local: 10.0.0.1, ipip_receive: xdp}\nnetworks: [{vni: 1}]", "underlay.ipip_receive: want raw or fanout, got \"xdp\""},
		{"udpcsum yes", "underlay: {local: 10.0.0.1, udpcsum: yes}\nnetworks: [{vni: 1}]", `underlay.udpcsum: want true or false, got "yes"`},
		{"accept a word", "underlay: {local: 10.0.0.1, accept: friends}\nnetworks: [{vni: 1}]", `underlay.accept: want any or peers, got "friends"`},
		{"accept a bool", "underlay: {local: 10.0.0.1, accept: true}\nnetworks: [{vni: 1}]", `underlay.accept: want any or peers, got true`},
		{"accept empty", "underlay: {local: 10.0.0.1, accept: \"\"}\nnetworks: [{vni: 1}]", `underlay.accept: want any or peers, got ""`},
		{"allow without peers", "underlay: {local: 10.0.0.1, allow: [10.1.0.0/16]}\nnetworks: [{vni: 1}]",
			"underlay.allow: only with underlay.accept peers (any takes packets from everywhere)"},
		{"allow not a list", "underlay: {local: 10.0.0.1, accept: peers, allow: 10.1.0.0/16}\nnetworks: [{vni: 1}]",
			`underlay.allow: want a list of prefixes like [10.0.0.0/24], got "10.1.0.0/16"`},
		{"allow a word", "underlay: {local: 10.0.0.1, accept: peers, allow: [10.1.0.0/16, lan]}\nnetworks: [{vni: 1}]",
			`underlay.allow[1]: want a network prefix like 10.0.0.0/24, or one address, got "lan"`},
		{"allow with host bits", "underlay: {local: 10.0.0.1, accept: peers, allow: [10.1.2.3/16]}\nnetworks: [{vni: 1}]",
			`underlay.allow[0]: want a network prefix like 10.0.0.0/24, or one address, got "10.1.2.3/16"`},
		{"allow of the other family", "underlay: {local: 10.0.0.1, accept: peers, allow: [10.1.0.0/16, \"fd00::/8\"]}\nnetworks: [{vni: 1}]",
			`underlay.allow[1]: want an IPv4 prefix like underlay.local, got "fd00::/8"`},

		// networks, common
		{"no networks", base, "networks: want at least one network"},
		{"vni missing", base + "networks: [{name: a}]", "networks[0].vni: required for a vxlan network (0..16777215)"},
		{"vni too big", base + "networks: [{vni: 1}, {vni: 16777216}]", "networks[1].vni: want an integer 0..16777215, got 16777216"},
		{"vni negative", base + "networks: [{vni: -1}]", "networks[0].vni: want an integer 0..16777215, got -1"},
		{"vni a word", base + "networks: [{vni: abc}]", `networks[0].vni: want an integer 0..16777215, got "abc"`},
		{"vni a float", base + "networks: [{vni: 4.2}]", "networks[0].vni: want an integer 0..16777215, got 4.2"},
		{"vni twice", base + "networks: [{vni: 42, name: a}, {vni: 42, name: b}]", "networks[1].vni: 42 is already used by networks[0]"},
		{"name twice", base + "networks: [{vni: 1, name: a}, {vni: 2, name: a}]", `networks[1].name: "a" is already used by networks[0]`},
		{"default name taken", base + "networks: [{vni: 42}, {vni: 43, name: vx42}]", `networks[1].name: "vx42" is already used by networks[0]`},
		{"name too long", base + "networks: [{vni: 1, name: abcdefghijklmnop}]", `networks[0].name: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"name with slash", base + "networks: [{vni: 1, name: a/b}]", `networks[0].name: want an interface name without '/', ':' or spaces, got "a/b"`},
		{"name with colon", base + "networks: [{vni: 1, name: \"a:b\"}]", `networks[0].name: want an interface name without '/', ':' or spaces, got "a:b"`},
		{"name with space", base + "networks: [{vni: 1, name: \"a b\"}]", `networks[0].name: want an interface name without '/', ':' or spaces, got "a b"`},
		{"name dot", base + "networks: [{vni: 1, name: \".\"}]", `networks[0].name: want an interface name, got "."`},
		{"unknown kind", base + "networks: [{kind: gre, name: g}]", `networks[0].kind: want "vxlan" or "ipip", got "gre"`},
		{"mtu too small", base + "networks: [{vni: 1, mtu: 67}]", "networks[0].mtu: want an integer 68..65535 (0 = from the underlay), got 67"},
		{"mtu too big", base + "networks: [{vni: 1, mtu: 65536}]", "networks[0].mtu: want an integer 68..65535 (0 = from the underlay), got 65536"},
		{"mtu below IPv6 minimum", base + "networks: [{vni: 1, mtu: 1000, address: fd00::1/64}]",
			"networks[0].mtu: want at least 1280 for an IPv6 address (RFC 8200 s5), got 1000"},
		{"address without length", base + "networks: [{vni: 1, address: 192.168.1.1}]",
			`networks[0].address: want an address with prefix length like 192.168.42.1/24, got "192.168.1.1"`},

		// vxlan
		{"remote of the other family", base + "networks: [{vni: 1, remotes: [10.0.0.2, 10.0.0.3, \"fe80::1\"]}]",
			`networks[0].remotes[2]: want an IPv4 address like underlay.local, got "fe80::1"`},
		{"remote is local", base + "networks: [{vni: 1, remotes: [10.0.0.1]}]",
			"networks[0].remotes[0]: is underlay.local itself (10.0.0.1); want another endpoint's address"},
		{"remote twice", base + "networks: [{vni: 1, remotes: [10.0.0.2, 10.0.0.2]}]", "networks[0].remotes[1]: 10.0.0.2 is listed twice"},
		{"remote multicast", base + "networks: [{vni: 1, remotes: [239.1.1.1]}]",
			`networks[0].remotes[0]: want a unicast address (a multicast group goes in networks[0].group), got "239.1.1.1"`},
		{"remote not an address", base + "networks: [{vni: 1, remotes: [host2]}]", `networks[0].remotes[0]: want an IP address, got "host2"`},
		{"remote null", base + "networks: [{vni: 1, remotes: [~]}]", `networks[0].remotes[0]: want an IP address, got null`},
		{"remotes not a list", base + "networks: [{vni: 1, remotes: 10.0.0.2}]", `networks[0].remotes: want a list of IP addresses, got "10.0.0.2"`},
		{"group unicast", base + "networks: [{vni: 1, group: 10.0.0.9, dev: eth0}]", `networks[0].group: want a multicast address, got "10.0.0.9"`},
		{"group of the other family", base + "networks: [{vni: 1, group: \"ff05::1\", dev: eth0}]",
			`networks[0].group: want an IPv4 address like underlay.local, got "ff05::1"`},
		{"group without dev", base + "networks: [{vni: 1, group: 239.1.1.1}]",
			"networks[0].dev: required with networks[0].group (the underlay device to join 239.1.1.1 on)"},
		{"dev bad name", base + "networks: [{vni: 1, group: 239.1.1.1, dev: \"e th0\"}]",
			`networks[0].dev: want an interface name without '/', ':' or spaces, got "e th0"`},
		{"dev given empty", base + "networks: [{vni: 1, dev: \"\"}]", `networks[0].dev: want an interface name, got ""`},
		{"dev given empty with group", base + "networks: [{vni: 1, group: 239.1.1.1, dev: ''}]", `networks[0].dev: want an interface name, got ""`},
		{"dev too long in bytes", base + "networks: [{vni: 1, group: 239.1.1.1, dev: ñññññññññ}]",
			`networks[0].dev: want at most 15 bytes, got "ñññññññññ" (18)`},
		{"dev dot", base + "networks: [{vni: 1, group: 239.1.1.1, dev: .}]", `networks[0].dev: want an interface name, got "."`},
		{"dev with a colon", base + "networks: [{vni: 1, group: 239.1.1.1, dev: \"eth0:1\"}]",
			`networks[0].dev: want an interface name without '/', ':' or spaces, got "eth0:1"`},
		{"dev with a byte Linux takes for a space", base + "networks: [{vni: 1, group: 239.1.1.1, dev: là}]",
			`networks[0].dev: want an interface name without the byte 0xa0, which Linux takes for a space, got "là"`},
		{"name with a byte Linux takes for a space", base + "networks: [{vni: 1, name: là}]",
			`networks[0].name: want an interface name without the byte 0xa0, which Linux takes for a space, got "là"`},
		{"learning maybe", base + "networks: [{vni: 1, learning: maybe}]", `networks[0].learning: want true or false, got "maybe"`},
		{"ageing negative", base + "networks: [{vni: 1, ageing: -5s}]", `networks[0].ageing: want a duration like 300s (0 = never age), got "-5s"`},
		{"ageing a word", base + "networks: [{vni: 1, ageing: soon}]", `networks[0].ageing: want a duration like 300s (0 = never age), got "soon"`},
		{"limit zero", base + "networks: [{vni: 1, limit: 0}]", "networks[0].limit: want an integer 1..2147483647, got 0"},
		{"mac_moves negative", base + "networks: [{vni: 1, mac_moves: -1}]", "networks[0].mac_moves: want an integer 0..2147483647 (0 = no limit), got -1"},
		{"mac_moves a word", base + "networks: [{vni: 1, mac_moves: some}]", `networks[0].mac_moves: want an integer 0..2147483647 (0 = no limit), got "some"`},
		{"flood_rate too big", base + "networks: [{vni: 1, flood_rate: 2147483648}]", "networks[0].flood_rate: want an integer 0..2147483647 (0 = no limit), got 2147483648"},
		{"flood_rate a float", base + "networks: [{vni: 1, flood_rate: 1.5}]", "networks[0].flood_rate: want an integer 0..2147483647 (0 = no limit), got 1.5"},
		{"routes on vxlan", base + "networks: [{vni: 1, routes: [{prefix: 10.1.0.0/16, via: 10.0.0.2}]}]",
			"networks[0].routes: only for ipip networks, this one is vxlan"},
		{"remote on vxlan", base + "networks: [{vni: 1, remote: 10.0.0.2}]", "networks[0].remote: only for ipip networks, this one is vxlan"},
		{"ttl on vxlan", base + "networks: [{vni: 1, ttl: 5}]", "networks[0].ttl: only for ipip networks, this one is vxlan"},

		// ipip
		{"vni on ipip", base + "networks: [{kind: ipip, name: t, vni: 1}]", "networks[0].vni: only for vxlan networks, this one is ipip"},
		{"remotes on ipip", base + "networks: [{kind: ipip, name: t, remotes: [10.0.0.2]}]", "networks[0].remotes: only for vxlan networks, this one is ipip"},
		{"group on ipip", base + "networks: [{kind: ipip, name: t, group: 239.1.1.1}]", "networks[0].group: only for vxlan networks, this one is ipip"},
		{"dev on ipip", base + "networks: [{kind: ipip, name: t, dev: eth0}]", "networks[0].dev: only for vxlan networks, this one is ipip"},
		{"learning on ipip", base + "networks: [{kind: ipip, name: t, learning: false}]", "networks[0].learning: only for vxlan networks, this one is ipip"},
		{"ageing on ipip", base + "networks: [{kind: ipip, name: t, ageing: 5s}]", "networks[0].ageing: only for vxlan networks, this one is ipip"},
		{"limit on ipip", base + "networks: [{kind: ipip, name: t, limit: 5}]", "networks[0].limit: only for vxlan networks, this one is ipip"},
		{"mac_moves on ipip", base + "networks: [{kind: ipip, name: t, mac_moves: 5}]", "networks[0].mac_moves: only for vxlan networks, this one is ipip"},
		{"flood_rate on ipip", base + "networks: [{kind: ipip, name: t, flood_rate: 5}]", "networks[0].flood_rate: only for vxlan networks, this one is ipip"},
		{"ipip without name", base + "networks: [{kind: ipip}]", "networks[0].name: required for an ipip network (the TUN device to create)"},
		{"ipip over IPv6", "underlay: {local: \"fd00::1\"}\nnetworks: [{kind: ipip, name: t}]",
			`networks[0].kind: ipip needs an IPv4 underlay.local (RFC 2003), got "fd00::1"`},
		{"ipip IPv6 address", base + "networks: [{kind: ipip, name: t, address: fd00::1/64}]",
			`networks[0].address: want an IPv4 prefix (ipip carries IPv4), got "fd00::1/64"`},
		{"ipip ttl zero", base + "networks: [{kind: ipip, name: t, ttl: 0}]", `networks[0].ttl: want an integer 1..255 or "inherit", got 0`},
		{"ipip ttl a word", base + "networks: [{kind: ipip, name: t, ttl: forever}]", `networks[0].ttl: want an integer 1..255 or "inherit", got "forever"`},
		{"ipip df a word", base + "networks: [{kind: ipip, name: t, df: sometimes}]", `networks[0].df: want "inherit", "set" or "unset", got "sometimes"`},
		{"df a word on vxlan", base + "networks: [{vni: 1, df: maybe}]", `networks[0].df: want "inherit", "set" or "unset", got "maybe"`},
		{"ipip remote is local", base + "networks: [{kind: ipip, name: t, remote: 10.0.0.1}]",
			"networks[0].remote: is underlay.local itself (10.0.0.1); want another endpoint's address"},
		{"route without prefix", base + "networks: [{kind: ipip, name: t, routes: [{via: 10.0.0.2}]}]",
			"networks[0].routes[0].prefix: required (the destination prefix, like 10.244.1.0/24)"},
		{"route without via", base + "networks: [{kind: ipip, name: t, routes: [{prefix: 10.1.0.0/16}]}]",
			"networks[0].routes[0].via: required (the remote endpoint for 10.1.0.0/16)"},
		{"route prefix with host bits", base + "networks: [{kind: ipip, name: t, routes: [{prefix: 10.1.2.3/16, via: 10.0.0.2}]}]",
			`networks[0].routes[0].prefix: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"route prefix IPv6", base + "networks: [{kind: ipip, name: t, routes: [{prefix: \"fd00::/8\", via: 10.0.0.2}]}]",
			`networks[0].routes[0].prefix: want an IPv4 prefix (ipip carries IPv4), got "fd00::/8"`},
		{"route via of the other family", base + "networks: [{kind: ipip, name: t, routes: [{prefix: 10.1.0.0/16, via: \"fd00::2\"}]}]",
			`networks[0].routes[0].via: want an IPv4 address like underlay.local, got "fd00::2"`},
		{"route via not an address", base + "networks: [{kind: ipip, name: t, routes: [{prefix: 10.1.0.0/16, via: gw}]}]",
			`networks[0].routes[0].via: want an IP address, got "gw"`},
		{"route twice", base + "networks: [{kind: ipip, name: t, routes: [{prefix: 10.1.0.0/16, via: 10.0.0.2}, {prefix: 10.1.0.0/16, via: 10.0.0.3}]}]",
			"networks[0].routes[1].prefix: 10.1.0.0/16 is already routed by networks[0].routes[0]"},

		// top level
		{"control too long", base + "networks: [{vni: 1}]\ncontrol: /" + strings.Repeat("s", 107),
			"control: want a socket path of at most 107 bytes, got 108 bytes"},
		{"control empty", base + "networks: [{vni: 1}]\ncontrol: \"\"", "control: required (the control socket path, like /run/vtepd/vtepd.sock)"},
		{"metrics without port", base + "networks: [{vni: 1}]\nmetrics: localhost", `metrics: want host:port like 127.0.0.1:9470, got "localhost"`},
		{"metrics port zero", base + "networks: [{vni: 1}]\nmetrics: \":0\"", `metrics: want host:port like 127.0.0.1:9470, got ":0"`},
		{"log level", base + "networks: [{vni: 1}]\nlog_level: verbose", `log_level: want debug, info, warn or error, got "verbose"`},

		// shape
		{"unknown top field", base + "networks: [{vni: 1}]\ncolour: red", "colour: unknown field (line 3)"},
		{"unknown underlay field", "underlay:\n  local: 10.0.0.1\n  mtu: 1500\nnetworks: [{vni: 1}]", "underlay.mtu: unknown field (line 3)"},
		{"unknown network field", base + "networks:\n  - vni: 1\n  - vni: 2\n    remotse: [10.0.0.2]\n", "networks[1].remotse: unknown field (line 5)"},
		{"unknown route field", base + "networks:\n  - kind: ipip\n    name: t\n    routes:\n      - {prefix: 10.1.0.0/16, gw: 10.0.0.2}\n",
			"networks[0].routes[0].gw: unknown field (line 6)"},
		{"key given twice", base + "networks:\n  - vni: 1\n    vni: 2\n", "networks[0].vni: given twice (line 3 and line 4)"},
		{"unknown key with a space", base + "networks: [{vni: 1, \"a b\": 2}]\n", `networks[0]."a b": unknown field (line 2)`},
		{"unknown key with a dot", base + "networks: [{vni: 1, \"a.b\": 2}]\n", `networks[0]."a.b": unknown field (line 2)`},
		{"unknown empty key", base + "networks: [{vni: 1}]\n\"\": 3\n", `"": unknown field (line 3)`},
		{"unknown key with a line break", base + "networks: [{vni: 1, \"a\\nb\": 2}]\n", `networks[0]."a\nb": unknown field (line 2)`},
		{"unknown key through an alias", "underlay: {local: &k 10.0.0.1}\nnetworks: [{vni: 1, *k : 2}]\n", `networks[0]."10.0.0.1": unknown field (line 2)`},
		{"unknown key with a quote given twice", base + "networks:\n  - vni: 1\n    'a\"b': 1\n    'a\"b': 2\n",
			`networks[0]."a\"b": given twice (line 4 and line 5)`},
		{"underlay a list", "underlay: [10.0.0.1]\n", "underlay: want a mapping, got a list (line 1)"},
		{"networks a mapping", base + "networks: {vni: 1}\n", "networks: want a list, got a mapping (line 2)"},
		{"network a string", base + "networks: [vx42]\n", `networks[0]: want a mapping, got "vx42" (line 2)`},
		{"routes a number", base + "networks: [{kind: ipip, name: t, routes: 5}]\n", "networks[0].routes: want a list, got 5 (line 2)"},
		{"document a number", "5\n", "config: want a mapping, got 5 (line 1)"},
		{"syntax error", "underlay: {local: 10.0.0.1\n", "config: line 1: did not find expected ',' or '}'"},
		{"a tab indents", "underlay:\n\tlocal: 10.0.0.1\nnetworks: [{vni: 1}]\n", "config: line 2: a tab in the indentation (YAML indents with spaces only)"},
		{"two documents", base + "networks: [{vni: 1}]\n---\nunderlay: {}\n", "config: want one YAML document, got more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("got config %+v, want error %q", c, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q\nwant       %q", err, tc.want)
			}
		})
	}
}

// TestValidateBuiltConfigs checks configs made in Go, as the daemon or a
// test may build them, where Parse's checks of the YAML never ran.
func TestValidateBuiltConfigs(t *testing.T) {
	good := func() *Config {
		return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx1", 1),
			{Name: "t", Kind: KindIPIP, TTL: 64}}, Control: DefaultControl, LogLevel: "info"}
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"empty config", func(c *Config) { *c = Config{} }, "underlay.local: required (the source address of outer packets)"},
		{"zero port", func(c *Config) { c.Underlay.Port = 0 }, "underlay.port: want an integer 1..65535, got 0"},
		{"zero srcport", func(c *Config) { c.Underlay.SrcPortMin, c.Underlay.SrcPortMax = 0, 0 },
			"underlay.srcport: want MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535), got 0-0"},
		{"zero ttl", func(c *Config) { c.Underlay.TTL = 0 }, "underlay.ttl: want an integer 1..255, got 0"},
		{"zero mcast ttl", func(c *Config) { c.Underlay.McastTTL = 0 }, "underlay.mcast_ttl: want an integer 1..255, got 0"},
		{"empty accept", func(c *Config) { c.Underlay.Accept = "" }, `underlay.accept: want any or peers, got ""`},
		{"allow with accept any", func(c *Config) { c.Underlay.Allow = []netip.Prefix{prefix("10.1.0.0/16")} },
			"underlay.allow: only with underlay.accept peers (any takes packets from everywhere)"},
		{"allow of the other family", func(c *Config) {
			c.Underlay.Accept, c.Underlay.Allow = AcceptPeers, []netip.Prefix{prefix("10.1.0.0/16"), prefix("fd00::/8")}
		}, `underlay.allow[1]: want an IPv4 prefix like underlay.local, got "fd00::/8"`},
		{"allow with host bits", func(c *Config) {
			c.Underlay.Accept, c.Underlay.Allow = AcceptPeers, []netip.Prefix{prefix("10.1.2.3/16")}
		}, `underlay.allow[0]: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"allow invalid", func(c *Config) { c.Underlay.Accept, c.Underlay.Allow = AcceptPeers, []netip.Prefix{{}} },
			"underlay.allow[0]: want a network prefix like 10.0.0.0/24, or one address, got none"},
		{"negative mac_moves", func(c *Config) { c.Networks[0].MACMoves = -1 }, "networks[0].mac_moves: want an integer 0..2147483647 (0 = no limit), got -1"},
		{"negative flood_rate", func(c *Config) { c.Networks[0].FloodRate = -5 }, "networks[0].flood_rate: want an integer 0..2147483647 (0 = no limit), got -5"},
		{"flood_rate on ipip", func(c *Config) { c.Networks[1].FloodRate = 5 }, "networks[1].flood_rate: only for vxlan networks, this one is ipip"},
		{"mac_moves on ipip", func(c *Config) { c.Networks[1].MACMoves = 5 }, "networks[1].mac_moves: only for vxlan networks, this one is ipip"},
		{"vni out of range", func(c *Config) { c.Networks[0].VNI = 1 << 24 }, "networks[0].vni: want an integer 0..16777215, got 16777216"},
		{"empty kind", func(c *Config) { c.Networks[0].Kind = "" }, `networks[0].kind: want "vxlan" or "ipip", got ""`},
		{"empty vxlan name", func(c *Config) { c.Networks[0].Name = "" }, "networks[0].name: required"},
		{"vxlan name not UTF-8", func(c *Config) { c.Networks[0].Name = "vx\xff" }, `networks[0].name: want an interface name in UTF-8, got "vx\xff"`},
		{"dev not UTF-8", func(c *Config) { c.Networks[0].Dev = "eth\xc3" }, `networks[0].dev: want an interface name in UTF-8, got "eth\xc3"`},
		{"zero limit", func(c *Config) { c.Networks[0].Limit = 0 }, "networks[0].limit: want an integer 1..2147483647, got 0"},
		{"negative ageing", func(c *Config) { c.Networks[0].Ageing = -time.Second },
			"networks[0].ageing: want a duration like 300s (0 = never age), got -1s"},
		{"ipip ttl on vxlan", func(c *Config) { c.Networks[0].TTL = 3 }, "networks[0].ttl: only for ipip networks, this one is vxlan"},
		{"invalid remote", func(c *Config) { c.Networks[0].Remotes = []netip.Addr{{}} }, "networks[0].remotes[0]: want an IP address, got none"},
		{"vni on ipip", func(c *Config) { c.Networks[1].VNI = 5 }, "networks[1].vni: only for vxlan networks, this one is ipip"},
		{"route without via", func(c *Config) { c.Networks[1].Routes = []Route{{Prefix: prefix("10.1.0.0/16")}} },
			"networks[1].routes[0].via: required (the remote endpoint for 10.1.0.0/16)"},
		{"mtu out of range", func(c *Config) { c.Networks[1].MTU = 10 }, "networks[1].mtu: want an integer 68..65535 (0 = from the underlay), got 10"},
		{"empty log level", func(c *Config) { c.LogLevel = "" }, `log_level: want debug, info, warn or error, got ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.modify(c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got error %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	useDefaultPortRange(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(base+"networks: [{vni: 9}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(base+"networks: [{vni: x}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil {
		t.Fatalf("Load(good): got %v, want no error", err)
	}
	if got := c.Networks[0].Name; got != "vx9" {
		t.Errorf("got network name %q, want %q", got, "vx9")
	}
	_, err = Load(bad)
	if want := bad + `: networks[0].vni: want an integer 0..16777215, got "x"`; err == nil || err.Error() != want {
		t.Errorf("Load(bad): got %v, want %q", err, want)
	}
	_, err = Load(filepath.Join(dir, "absent.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "config: open ") || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("Load(absent): got %v, want an error naming the file", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base + "networks: [{vni: 42, remotes: [10.0.0.2]}]\n"))
	f.Add([]byte(base + "networks: [{kind: ipip, name: t, ttl: inherit, routes: [{prefix: 10.1.0.0/16, via: 10.0.0.2}]}]\n"))
	f.Add([]byte("underlay: {local: \"fd00::1\", srcport: 1-2}\nnetworks: [{vni: 0, group: \"ff05::1\", dev: e}]\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("networks: [{<<: {vni: 1}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.Contains(msg, ": ") {
				t.Fatalf("error %q: want one line naming a field", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not re-validate: %v", err)
		}
		if len(c.Networks) == 0 || !c.Underlay.Local.IsValid() {
			t.Fatalf("parsed config without networks or local: %s", fmt.Sprint(c))
		}
	})
}

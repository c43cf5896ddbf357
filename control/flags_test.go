package control

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsValid(t *testing.T) {
	useDefaultPortRange(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "vtepd.yaml")
	if err := os.WriteFile(file, []byte(base+"networks: [{vni: 5}]\nmetrics: 127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want func() *Config
	}{
		{
			name: "minimal vxlan",
			args: []string{"--local", "10.0.0.1", "--vni", "42"},
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx42", 42)},
					Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "every vxlan flag, remotes repeated",
			args: []string{"--local", "10.0.0.1", "--vni", "7", "--remote", "10.0.0.2", "--remote=10.0.0.3",
				"--name", "ov7", "--addr", "192.168.7.1/24", "--mtu", "1450", "--dstport", "8472",
				"--srcport", "1000-2000", "--ttl", "10", "--mcast-ttl", "3", "--udpcsum", "--learning=false", "--ageing", "0",
				"--limit", "5", "--group", "239.1.1.1", "--dev", "eth0", "--control", "/tmp/v.sock",
				"--metrics", "127.0.0.1:9470", "--log-level", "debug"},
			want: func() *Config {
				n := Network{Name: "ov7", Kind: KindVXLAN, VNI: 7, Address: prefix("192.168.7.1/24"), MTU: 1450,
					Remotes: []netip.Addr{addr("10.0.0.2"), addr("10.0.0.3")}, Group: addr("239.1.1.1"), Dev: "eth0",
					Learning: false, Ageing: 0, Limit: 5}
				return &Config{
					Underlay: Underlay{Local: addr("10.0.0.1"), Port: 8472, SrcPortMin: 1000, SrcPortMax: 2000, TTL: 10, McastTTL: 3, UDPCsum: true, Offload: DefaultOffload, Accept: AcceptAny},
					Networks: []Network{n}, Control: "/tmp/v.sock", Metrics: "127.0.0.1:9470", LogLevel: "debug"}
			},
		},
		{
			name: "queues and busy polling",
			args: []string{"--local", "10.0.0.1", "--vni", "42", "--queues", "4", "--busy-poll", "50us"},
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.Queues, u.BusyPoll = 4, 50*time.Microsecond
				return &Config{Underlay: u, Networks: []Network{vxlanNet("vx42", 42)}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "IPIP received through a fanout group, for networks added later",
			args: []string{"--local", "10.0.0.1", "--vni", "42", "--ipip-receive", "fanout"},
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.IPIPFanout = true
				return &Config{Underlay: u, Networks: []Network{vxlanNet("vx42", 42)}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "accept peers, allow repeated, mac moves and flood rate",
			args: []string{"--local", "10.0.0.1", "--vni", "42", "--accept", "peers", "--allow", "10.1.0.0/16", "--allow=10.2.0.9",
				"--mac-moves", "3", "--flood-rate=500"},
			want: func() *Config {
				u := defaultUnderlay("10.0.0.1")
				u.Accept, u.Allow = AcceptPeers, []netip.Prefix{prefix("10.1.0.0/16"), prefix("10.2.0.9/32")}
				n := vxlanNet("vx42", 42)
				n.MACMoves, n.FloodRate = 3, 500
				return &Config{Underlay: u, Networks: []Network{n}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "accept any and zero limits, said out loud",
			args: []string{"--local", "10.0.0.1", "--vni", "42", "--accept", "any", "--mac-moves", "0", "--flood-rate", "0"},
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx42", 42)},
					Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "single dashes and = forms",
			args: []string{"-local=fd00::1", "-vni=0", "-ageing=90", "-remote", "fd00::2"},
			want: func() *Config {
				n := vxlanNet("vx0", 0)
				n.Ageing = 90 * time.Second
				n.Remotes = []netip.Addr{addr("fd00::2")}
				return &Config{Underlay: defaultUnderlay("fd00::1"), Networks: []Network{n}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "ipip with a peer, ttl inherit and repeated routes",
			args: []string{"--mode", "ipip", "--local", "10.0.0.1", "--name", "ipip0", "--addr", "10.244.0.1/24",
				"--remote", "10.0.0.2", "--ttl", "inherit", "--route", "10.244.1.0/24=10.0.0.2", "--route", "10.244.2.0/24=10.0.0.3"},
			want: func() *Config {
				n := Network{Name: "ipip0", Kind: KindIPIP, DF: DFInherit, Address: prefix("10.244.0.1/24"), Remote: addr("10.0.0.2"), TTL: 0,
					Routes: []Route{{prefix("10.244.1.0/24"), addr("10.0.0.2")}, {prefix("10.244.2.0/24"), addr("10.0.0.3")}}}
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{n}, Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "ipip default ttl",
			args: []string{"--mode=ipip", "--local", "10.0.0.1", "--name", "t"},
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{{Name: "t", Kind: KindIPIP, DF: DFInherit, TTL: 64}},
					Control: DefaultControl, LogLevel: "info"}
			},
		},
		{
			name: "config file",
			args: []string{"--config", file},
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx5", 5)},
					Control: DefaultControl, Metrics: "127.0.0.1:1", LogLevel: "info", Path: file}
			},
		},
		{
			name: "config file with daemon flags overriding it",
			args: []string{"--config", file, "--control", "/tmp/c.sock", "--metrics", "127.0.0.1:2", "--log-level", "warn"},
			want: func() *Config {
				return &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{vxlanNet("vx5", 5)},
					Control: "/tmp/c.sock", Metrics: "127.0.0.1:2", LogLevel: "warn", Path: file,
					Flags: []string{"control", "metrics", "log-level"}}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlags(tc.args)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	useDefaultPortRange(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "vtepd.yaml")
	if err := os.WriteFile(file, []byte(base+"networks: [{vni: 5}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(base+"networks: [{vni: 5, limit: 0}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vx := func(more ...string) []string { return append([]string{"--local", "10.0.0.1", "--vni", "42"}, more...) }
	ipip := func(more ...string) []string {
		return append([]string{"--mode", "ipip", "--local", "10.0.0.1", "--name", "t"}, more...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"vni a word", []string{"--local", "10.0.0.1", "--vni", "abc"}, `--vni: want an integer 0..16777215, got "abc"`},
		{"vni too big", []string{"--local", "10.0.0.1", "--vni", "16777216"}, `--vni: want an integer 0..16777215, got "16777216"`},
		{"no local", []string{"--vni", "1"}, "--local: required (the source address of outer packets)"},
		{"no vni", []string{"--local", "10.0.0.1"}, "--vni: required with --mode vxlan (0..16777215)"},
		{"local not an address", []string{"--local", "host1", "--vni", "1"}, `--local: want an IP address, got "host1"`},
		{"config with vni", []string{"--config", file, "--vni", "1"}, "--config: cannot be combined with --vni (put it in the config file)"},
		{"config with remote", []string{"--remote", "10.0.0.2", "--config", file}, "--config: cannot be combined with --remote (put it in the config file)"},
		{"config with queues", []string{"--config", file, "--queues", "4"}, "--config: cannot be combined with --queues (put it in the config file)"},
		{"config with ipip-receive", []string{"--config", file, "--ipip-receive", "fanout"}, "--config: cannot be combined with --ipip-receive (put it in the config file)"},
		{"config with busy-poll", []string{"--config", file, "--busy-poll", "50us"}, "--config: cannot be combined with --busy-poll (put it in the config file)"},
		{"config with offload", []string{"--config", file, "--offload", "off"}, "--config: cannot be combined with --offload (put it in the config file)"},
		{"config invalid", []string{"--config", bad}, bad + ": networks[0].limit: want an integer 1..2147483647, got 0"},
		{"config with a bad override", []string{"--config", file, "--log-level", "loud"}, `--log-level: want debug, info, warn or error, got "loud"`},
		{"mode unknown", []string{"--mode", "gre"}, `--mode: want vxlan or ipip, got "gre"`},
		{"remote of the other family", vx("--remote", "10.0.0.2", "--remote", "fd00::2"), `--remote: want an IPv4 address like --local, got "fd00::2"`},
		{"remote is local", vx("--remote", "10.0.0.1"), "--remote: is --local itself (10.0.0.1); want another endpoint's address"},
		{"remote twice", vx("--remote", "10.0.0.2", "--remote", "10.0.0.2"), "--remote: 10.0.0.2 is listed twice"},
		{"remote not an address", vx("--remote", "peer"), `--remote: want an IP address, got "peer"`},
		{"route on vxlan", vx("--route", "10.1.0.0/16=10.0.0.2"), "--route: only with --mode ipip, this network is vxlan"},
		{"vni on ipip", ipip("--vni", "3"), "--vni: only with --mode vxlan, this network is ipip"},
		{"group on ipip", ipip("--group", "239.1.1.1"), "--group: only with --mode vxlan, this network is ipip"},
		{"udpcsum on ipip", ipip("--udpcsum"), "--udpcsum: only with --mode vxlan, this network is ipip"},
		{"route without =", ipip("--route", "10.1.0.0/16"), `--route: want PREFIX=VIA like 10.244.1.0/24=10.0.0.2, got "10.1.0.0/16"`},
		{"route with host bits", ipip("--route", "10.1.2.3/16=10.0.0.2"), `--route: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"route via local", ipip("--route", "10.1.0.0/16=10.0.0.1"), "--route: is --local itself (10.0.0.1); want another endpoint's address"},
		{"ipip two peers", ipip("--remote", "10.0.0.2", "--remote", "10.0.0.3"), "--remote: want at most one peer with --mode ipip, got 2"},
		{"ipip without name", []string{"--mode", "ipip", "--local", "10.0.0.1"}, "--name: required with --mode ipip (the TUN device to create)"},
		{"ipip over IPv6", []string{"--mode", "ipip", "--local", "fd00::1", "--name", "t"}, `--mode: ipip needs an IPv4 --local (RFC 2003), got "fd00::1"`},
		{"ttl inherit on vxlan", vx("--ttl", "inherit"), `--ttl: want an integer 1..255 ("inherit" is for --mode ipip), got "inherit"`},
		{"mcast ttl zero", vx("--mcast-ttl", "0"), `--mcast-ttl: want an integer 1..255, got "0"`},
		{"queues zero", vx("--queues", "0"), `--queues: want an integer 1..64, got "0"`},
		{"queues past the most", vx("--queues", "65"), `--queues: want an integer 1..64, got "65"`},
		{"busy poll a word", vx("--busy-poll", "fast"), `--busy-poll: want a duration 0..1ms like 50us, got "fast"`},
		{"busy poll in seconds", vx("--busy-poll", "2"), `--busy-poll: want a duration 0..1ms like 50us, got "2"`},
		{"IPIP received some other way", vx("--ipip-receive", "xdp"), `--ipip-receive: want raw or fanout, got "xdp"`},
		{"ttl zero on ipip", ipip("--ttl", "0"), `--ttl: want an integer 1..255 or "inherit", got "0"`},
		{"df a word", ipip("--df", "maybe"), `--df: want "inherit", "set" or "unset", got "maybe"`},
		{"dstport zero", vx("--dstport", "0"), `--dstport: want an integer 1..65535, got "0"`},
		{"accept a word", vx("--accept", "friends"), `--accept: want any or peers, got "friends"`},
		{"allow without accept peers", vx("--allow", "10.1.0.0/16"), "--allow: only with --accept peers (any takes packets from everywhere)"},
		{"allow a word", vx("--accept", "peers", "--allow", "lan"), `--allow: want a network prefix like 10.0.0.0/24, or one address, got "lan"`},
		{"allow with host bits", vx("--accept", "peers", "--allow", "10.1.2.3/16"), `--allow: want a network prefix like 10.0.0.0/24, or one address, got "10.1.2.3/16"`},
		{"allow of the other family", vx("--accept", "peers", "--allow", "fd00::/8"), `--allow: want an IPv4 prefix like --local, got "fd00::/8"`},
		{"accept in a config's company", []string{"--config", file, "--accept", "peers"}, "--config: cannot be combined with --accept (put it in the config file)"},
		{"accept on ipip", ipip("--accept", "peers"), "--accept: only with --mode vxlan, this network is ipip"},
		{"mac moves negative", vx("--mac-moves", "-1"), `--mac-moves: want an integer 0..2147483647 (0 = no limit), got "-1"`},
		{"mac moves a word", vx("--mac-moves", "few"), `--mac-moves: want an integer 0..2147483647 (0 = no limit), got "few"`},
		{"flood rate too big", vx("--flood-rate", "2147483648"), `--flood-rate: want an integer 0..2147483647 (0 = no limit), got "2147483648"`},
		{"flood rate on ipip", ipip("--flood-rate", "10"), "--flood-rate: only with --mode vxlan, this network is ipip"},
		{"srcport a word", vx("--srcport", "low-high"), `--srcport: want MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535), got "low-high"`},
		{"mtu a word", vx("--mtu", "big"), `--mtu: want an integer 68..65535 (0 = from the underlay), got "big"`},
		{"mtu too small", vx("--mtu", "10"), "--mtu: want an integer 68..65535 (0 = from the underlay), got \"10\""},
		{"learning maybe", vx("--learning=maybe"), `--learning: want true or false, got "maybe"`},
		{"ageing a word", vx("--ageing", "soon"), `--ageing: want a duration like 300s (0 = never age), got "soon"`},
		{"limit zero", vx("--limit", "0"), `--limit: want an integer 1..2147483647, got "0"`},
		{"group unicast", vx("--group", "10.0.0.5", "--dev", "eth0"), `--group: want a multicast address, got "10.0.0.5"`},
		{"group without dev", vx("--group", "239.1.1.1"), "--dev: required with --group (the underlay device to join 239.1.1.1 on)"},
		{"name too long", vx("--name", "abcdefghijklmnop"), `--name: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"dev given empty", vx("--dev", ""), `--dev: want an interface name, got ""`},
		{"dev given empty with group", vx("--group", "239.1.1.1", "--dev", ""), `--dev: want an interface name, got ""`},
		{"dev not UTF-8", vx("--group", "239.1.1.1", "--dev", "eth\xff0"), `--dev: want an interface name in UTF-8, got "eth\xff0"`},
		{"dev too long", vx("--group", "239.1.1.1", "--dev", "abcdefghijklmnop"), `--dev: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"dev too long in bytes", vx("--group", "239.1.1.1", "--dev", "ñññññññññ"), `--dev: want at most 15 bytes, got "ñññññññññ" (18)`},
		{"dev dot dot", vx("--group", "239.1.1.1", "--dev", ".."), `--dev: want an interface name, got ".."`},
		{"dev with a slash", vx("--group", "239.1.1.1", "--dev", "a/b"), `--dev: want an interface name without '/', ':' or spaces, got "a/b"`},
		{"dev with a colon", vx("--group", "239.1.1.1", "--dev", "eth0:1"), `--dev: want an interface name without '/', ':' or spaces, got "eth0:1"`},
		{"dev with a tab", vx("--group", "239.1.1.1", "--dev", "eth\t0"), `--dev: want an interface name without '/', ':' or spaces, got "eth\t0"`},
		{"dev with a byte Linux takes for a space", vx("--group", "239.1.1.1", "--dev", "là"),
			`--dev: want an interface name without the byte 0xa0, which Linux takes for a space, got "là"`},
		{"dev bad without group", vx("--dev", "a/b"), `--dev: want an interface name without '/', ':' or spaces, got "a/b"`},
		{"name not UTF-8", vx("--name", "vx\xff"), `--name: want an interface name in UTF-8, got "vx\xff"`},
		{"addr without length", vx("--addr", "192.168.1.1"), `--addr: want an address with prefix length like 192.168.42.1/24, got "192.168.1.1"`},
		{"metrics without port", vx("--metrics", "localhost"), `--metrics: want host:port like 127.0.0.1:9470, got "localhost"`},
		{"control too long", vx("--control", "/"+strings.Repeat("s", 200)), "--control: want a socket path of at most 107 bytes, got 201 bytes"},
		{"unknown flag", vx("--colour", "red"), "--colour: unknown flag (see --help)"},
		{"flag without value", []string{"--local", "10.0.0.1", "--vni"}, "--vni: needs a value"},
		{"stray argument", vx("extra"), `unexpected argument "extra" (settings are flags, like --vni 42)`},
		{"boolean with a separate value", vx("--learning", "false"), "--learning: write --learning=false (a boolean flag takes its value after '=')"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseFlags(tc.args)
			if err == nil {
				t.Fatalf("got config %+v, want error %q", c, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q\nwant       %q", err, tc.want)
			}
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			_, err := ParseFlags([]string{"--local", "10.0.0.1", arg})
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("got %v, want flag.ErrHelp", err)
			}
		})
	}
}

// TestUsageNamesEveryFlag keeps the help text in step with the flags.
func TestUsageNamesEveryFlag(t *testing.T) {
	u := Usage()
	for _, f := range append(networkFlags, "config", "control", "metrics", "log-level") {
		t.Run(f, func(t *testing.T) {
			if !strings.Contains(u, "--"+f+" ") && !strings.Contains(u, "--"+f+"=") {
				t.Errorf("got usage without --%s, want every flag explained", f)
			}
		})
	}
	if !strings.Contains(u, "Examples:") {
		t.Error("got usage without examples, want some")
	}
}

func TestParseNetworkFlagsValid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Network
	}{
		{"minimal vxlan takes the defaults", []string{"--vni", "43"}, vxlanNet("vx43", 43)},
		{
			name: "every vxlan flag",
			args: []string{"--mode", "vxlan", "--vni", "43", "--name", "ov43", "--remote", "10.0.0.2", "--remote=10.0.0.3",
				"--addr", "192.168.43.1/24", "--mtu", "1400", "--learning=false", "--ageing", "90", "--limit", "7",
				"--group", "239.1.1.1", "--dev", "eth0"},
			want: Network{Name: "ov43", Kind: KindVXLAN, VNI: 43, Address: prefix("192.168.43.1/24"), MTU: 1400,
				Remotes: []netip.Addr{addr("10.0.0.2"), addr("10.0.0.3")}, Group: addr("239.1.1.1"), Dev: "eth0",
				Learning: false, Ageing: 90 * time.Second, Limit: 7},
		},
		{
			name: "IPv6 remotes and ageing 0",
			args: []string{"-vni=0", "-remote", "fd00::2", "--ageing=0"},
			want: func() Network {
				n := vxlanNet("vx0", 0)
				n.Remotes, n.Ageing = []netip.Addr{addr("fd00::2")}, 0
				return n
			}(),
		},
		{
			name: "ipip with every flag",
			args: []string{"--mode", "ipip", "--name", "ipip1", "--addr", "10.245.0.1/24", "--mtu", "1480",
				"--remote", "10.0.0.2", "--ttl", "inherit", "--route", "10.245.1.0/24=10.0.0.2", "--route", "10.245.2.0/24=10.0.0.3"},
			want: Network{Name: "ipip1", Kind: KindIPIP, DF: DFInherit, Address: prefix("10.245.0.1/24"), MTU: 1480, Remote: addr("10.0.0.2"), TTL: 0,
				Routes: []Route{{prefix("10.245.1.0/24"), addr("10.0.0.2")}, {prefix("10.245.2.0/24"), addr("10.0.0.3")}}},
		},
		{"ipip default ttl", []string{"--mode=ipip", "--name", "t"}, Network{Name: "t", Kind: KindIPIP, DF: DFInherit, TTL: 64}},
		{"ipip ttl", []string{"--mode=ipip", "--name", "t", "--ttl", "9"}, Network{Name: "t", Kind: KindIPIP, DF: DFInherit, TTL: 9}},
		{"ipip df", []string{"--mode=ipip", "--name", "t", "--df", "unset"}, Network{Name: "t", Kind: KindIPIP, DF: DFUnset, TTL: 64}},
		{"mac moves and flood rate", []string{"--vni", "43", "--mac-moves", "2", "--flood-rate", "100"}, func() Network {
			n := vxlanNet("vx43", 43)
			n.MACMoves, n.FloodRate = 2, 100
			return n
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNetworkFlags(tc.args)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParseNetworkFlagsAsVtepd checks that a network described to a running
// vtepd is the network vtepd would have started from the same words.
func TestParseNetworkFlagsAsVtepd(t *testing.T) {
	useDefaultPortRange(t)
	for _, args := range [][]string{
		{"--vni", "42"},
		{"--vni", "7", "--remote", "10.0.0.2", "--name", "ov7", "--addr", "192.168.7.1/24", "--mtu", "1450",
			"--learning=false", "--ageing", "5m", "--limit", "5", "--group", "239.1.1.1", "--dev", "eth0"},
		{"--vni", "8", "--mac-moves", "4", "--flood-rate", "250"},
		{"--mode", "ipip", "--name", "ipip0", "--remote", "10.0.0.2", "--ttl", "inherit", "--route", "10.244.1.0/24=10.0.0.3"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c, err := ParseFlags(append([]string{"--local", "10.0.0.1"}, args...))
			if err != nil {
				t.Fatalf("ParseFlags: got error %v, want none", err)
			}
			got, err := ParseNetworkFlags(args)
			if err != nil {
				t.Fatalf("ParseNetworkFlags: got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, c.Networks[0]) {
				t.Errorf("got  %+v\nwant %+v (as vtepd parses it)", got, c.Networks[0])
			}
		})
	}
}

func TestParseNetworkFlagsErrors(t *testing.T) {
	ipip := func(more ...string) []string { return append([]string{"--mode", "ipip", "--name", "t"}, more...) }
	vx := func(more ...string) []string { return append([]string{"--vni", "42"}, more...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "--vni: required with --mode vxlan (0..16777215)"},
		{"vni a word", []string{"--vni", "abc"}, `--vni: want an integer 0..16777215, got "abc"`},
		{"vni too big", []string{"--vni", "16777216"}, `--vni: want an integer 0..16777215, got "16777216"`},
		{"mode unknown", []string{"--mode", "gre"}, `--mode: want vxlan or ipip, got "gre"`},
		{"name too long", vx("--name", "abcdefghijklmnop"), `--name: want at most 15 bytes, got "abcdefghijklmnop" (16)`},
		{"name with a slash", vx("--name", "a/b"), `--name: want an interface name without '/', ':' or spaces, got "a/b"`},
		{"addr without length", vx("--addr", "192.168.1.1"), `--addr: want an address with prefix length like 192.168.42.1/24, got "192.168.1.1"`},
		{"mtu a word", vx("--mtu", "big"), `--mtu: want an integer 68..65535 (0 = from the underlay), got "big"`},
		{"mtu too small", vx("--mtu", "10"), "--mtu: want an integer 68..65535 (0 = from the underlay), got \"10\""},
		{"mtu too small for IPv6", vx("--addr", "fd01::1/64", "--mtu", "1200"), "--mtu: want at least 1280 for an IPv6 address (RFC 8200 s5), got 1200"},
		{"remote not an address", vx("--remote", "peer"), `--remote: want an IP address, got "peer"`},
		{"remote multicast", vx("--remote", "239.1.1.1"), `--remote: want a unicast address (a multicast group goes in --group), got "239.1.1.1"`},
		{"remote unspecified", vx("--remote", "0.0.0.0"), `--remote: want a unicast address, got "0.0.0.0"`},
		{"remotes of two families", vx("--remote", "10.0.0.2", "--remote", "fd00::2"), `--remote: want an IPv4 address like --remote (10.0.0.2), got "fd00::2"`},
		{"remote twice", vx("--remote", "10.0.0.2", "--remote", "10.0.0.2"), "--remote: 10.0.0.2 is listed twice"},
		{"learning maybe", vx("--learning=maybe"), `--learning: want true or false, got "maybe"`},
		{"learning as a separate word", vx("--learning", "false"), "--learning: write --learning=false (a boolean flag takes its value after '=')"},
		{"ageing a word", vx("--ageing", "soon"), `--ageing: want a duration like 300s (0 = never age), got "soon"`},
		{"limit zero", vx("--limit", "0"), `--limit: want an integer 1..2147483647, got "0"`},
		{"group unicast", vx("--group", "10.0.0.5", "--dev", "eth0"), `--group: want a multicast address, got "10.0.0.5"`},
		{"group not an address", vx("--group", "all"), `--group: want an IP address, got "all"`},
		{"group without dev", vx("--group", "239.1.1.1"), "--dev: required with --group (the underlay device to join 239.1.1.1 on)"},
		{"group of the remotes' other family", vx("--remote", "10.0.0.2", "--group", "ff0e::1", "--dev", "eth0"),
			`--group: want an IPv4 address like --remote (10.0.0.2), got "ff0e::1"`},
		{"dev with a space", vx("--group", "239.1.1.1", "--dev", "eth 0"), `--dev: want an interface name without '/', ':' or spaces, got "eth 0"`},
		{"dev given empty", vx("--dev", ""), `--dev: want an interface name, got ""`},
		{"dev not UTF-8", vx("--group", "239.1.1.1", "--dev", "eth\xff0"), `--dev: want an interface name in UTF-8, got "eth\xff0"`},
		{"dev with a byte Linux takes for a space", vx("--group", "239.1.1.1", "--dev", "là"),
			`--dev: want an interface name without the byte 0xa0, which Linux takes for a space, got "là"`},
		{"name not UTF-8", vx("--name", "vx\xff"), `--name: want an interface name in UTF-8, got "vx\xff"`},
		{"ttl on vxlan", vx("--ttl", "5"), "--ttl: only with --mode ipip (the outer TTL of vxlan networks belongs to the daemon)"},
		{"route on vxlan", vx("--route", "10.1.0.0/16=10.0.0.2"), "--route: only with --mode ipip, this network is vxlan"},
		{"vni on ipip", ipip("--vni", "3"), "--vni: only with --mode vxlan, this network is ipip"},
		{"group on ipip", ipip("--group", "239.1.1.1"), "--group: only with --mode vxlan, this network is ipip"},
		{"learning on ipip", ipip("--learning=false"), "--learning: only with --mode vxlan, this network is ipip"},
		{"mac moves on ipip", ipip("--mac-moves", "3"), "--mac-moves: only with --mode vxlan, this network is ipip"},
		{"mac moves negative", vx("--mac-moves", "-3"), `--mac-moves: want an integer 0..2147483647 (0 = no limit), got "-3"`},
		{"flood rate a word", vx("--flood-rate", "fast"), `--flood-rate: want an integer 0..2147483647 (0 = no limit), got "fast"`},
		{"ipip without name", []string{"--mode", "ipip"}, "--name: required with --mode ipip (the TUN device to create)"},
		{"ipip ttl zero", ipip("--ttl", "0"), `--ttl: want an integer 1..255 or "inherit", got "0"`},
		{"ipip two peers", ipip("--remote", "10.0.0.2", "--remote", "10.0.0.3"), "--remote: want at most one peer with --mode ipip, got 2"},
		{"ipip IPv6 peer", ipip("--remote", "fd00::2"), `--remote: want an IPv4 address (ipip runs over IPv4, RFC 2003), got "fd00::2"`},
		{"ipip IPv6 address", ipip("--addr", "fd01::1/64"), `--addr: want an IPv4 prefix (ipip carries IPv4), got "fd01::1/64"`},
		{"route without =", ipip("--route", "10.1.0.0/16"), `--route: want PREFIX=VIA like 10.244.1.0/24=10.0.0.2, got "10.1.0.0/16"`},
		{"route with host bits", ipip("--route", "10.1.2.3/16=10.0.0.2"), `--route: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"route of IPv6", ipip("--route", "fd02::/64=10.0.0.2"), `--route: want an IPv4 prefix (ipip carries IPv4), got "fd02::/64"`},
		{"route via IPv6", ipip("--route", "10.1.0.0/16=fd00::2"), `--route: want an IPv4 address (ipip runs over IPv4, RFC 2003), got "fd00::2"`},
		{"route via multicast", ipip("--route", "10.1.0.0/16=224.0.0.1"), `--route: want a unicast address, got "224.0.0.1"`},
		{"route twice", ipip("--route", "10.1.0.0/16=10.0.0.2", "--route", "10.1.0.0/16=10.0.0.3"), "--route: 10.1.0.0/16 is already routed by --route"},
		{"unknown flag", vx("--colour", "red"), "--colour: unknown flag (see --help)"},
		{"flag without value", []string{"--vni"}, "--vni: needs a value"},
		{"stray argument", vx("extra"), `unexpected argument "extra" (settings are flags, like --vni 42)`},
	}
	for _, f := range daemonFlags {
		value := "x"
		if f == "udpcsum" {
			value = "true"
		}
		tests = append(tests, struct {
			name string
			args []string
			want string
		}{"daemon flag " + f, vx("--" + f + "=" + value), "--" + f + ": belongs to the daemon, not to one network"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNetworkFlags(tc.args)
			if err == nil {
				t.Fatalf("got network %+v, want error %q", n, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q\nwant       %q", err, tc.want)
			}
		})
	}
}

func TestParseNetworkFlagsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			if _, err := ParseNetworkFlags([]string{"--vni", "1", arg}); !errors.Is(err, flag.ErrHelp) {
				t.Errorf("got %v, want flag.ErrHelp", err)
			}
		})
	}
}

// TestNetworkRulesAreOne: a network is checked by one set of rules whether
// it comes in a config (Validate, and so vtepd's flags) or on its own
// (checkNetwork: vtepctl network add, the API). Where the underlay's
// address plays no part, both say the same words of the same field, a
// config's paths starting "networks[0]." where the other's start bare.
func TestNetworkRulesAreOne(t *testing.T) {
	vx := func() Network {
		n := vxlanNet("vx1", 1)
		n.Remotes = []netip.Addr{addr("10.0.0.2")}
		return n
	}
	tun := func() Network {
		return Network{Name: "t", Kind: KindIPIP, TTL: 64, DF: DFInherit,
			Routes: []Route{{Prefix: prefix("10.1.0.0/16"), Via: addr("10.0.0.2")}}}
	}
	tests := []struct {
		name string
		n    func() Network
		want string // checkNetwork's error
	}{
		{"valid vxlan", vx, ""},
		{"valid ipip", tun, ""},
		{"kind unknown", func() Network { n := vx(); n.Kind = "gre"; return n }, `kind: want "vxlan" or "ipip", got "gre"`},
		{"name with a colon", func() Network { n := vx(); n.Name = "vx:1"; return n },
			`name: want an interface name without '/', ':' or spaces, got "vx:1"`},
		{"mtu too small", func() Network { n := vx(); n.MTU = 60; return n }, "mtu: want an integer 68..65535 (0 = from the underlay), got 60"},
		{"vni too big", func() Network { n := vx(); n.VNI = MaxVNI + 1; return n }, "vni: want an integer 0..16777215, got 16777216"},
		{"limit zero", func() Network { n := vx(); n.Limit = 0; return n }, "limit: want an integer 1..2147483647, got 0"},
		{"limit over the most", func() Network { n := vx(); n.Limit = maxLimit + 1; return n }, "limit: want an integer 1..2147483647, got 2147483648"},
		{"ageing negative", func() Network { n := vx(); n.Ageing = -1; return n }, "ageing: want a duration like 300s (0 = never age), got -1ns"},
		{"mac moves negative", func() Network { n := vx(); n.MACMoves = -1; return n }, "mac_moves: want an integer 0..2147483647 (0 = no limit), got -1"},
		{"flood rate negative", func() Network { n := vx(); n.FloodRate = -1; return n }, "flood_rate: want an integer 0..2147483647 (0 = no limit), got -1"},
		{"remote multicast", func() Network { n := vx(); n.Remotes = append(n.Remotes, addr("239.1.1.1")); return n },
			`remotes[1]: want a unicast address (a multicast group goes in group), got "239.1.1.1"`},
		{"remote unspecified", func() Network { n := vx(); n.Remotes = append(n.Remotes, addr("0.0.0.0")); return n },
			`remotes[1]: want a unicast address, got "0.0.0.0"`},
		{"remote twice", func() Network { n := vx(); n.Remotes = append(n.Remotes, addr("10.0.0.2")); return n },
			"remotes[1]: 10.0.0.2 is listed twice"},
		{"group unicast", func() Network { n := vx(); n.Group, n.Dev = addr("10.0.0.9"), "eth0"; return n },
			`group: want a multicast address, got "10.0.0.9"`},
		{"group without dev", func() Network { n := vx(); n.Group = addr("239.1.1.1"); return n },
			"dev: required with group (the underlay device to join 239.1.1.1 on)"},
		{"dev too long", func() Network { n := vx(); n.Group, n.Dev = addr("239.1.1.1"), "underlay-device0"; return n },
			`dev: want at most 15 bytes, got "underlay-device0" (16)`},
		{"routes on vxlan", func() Network { n := vx(); n.Routes = tun().Routes; return n }, "routes: only for ipip networks, this one is vxlan"},
		{"ipip without name", func() Network { n := tun(); n.Name = ""; return n }, "name: required for an ipip network (the TUN device to create)"},
		{"remotes on ipip", func() Network { n := tun(); n.Remotes = vx().Remotes; return n }, "remotes: only for vxlan networks, this one is ipip"},
		{"ipip address IPv6", func() Network { n := tun(); n.Address = prefix("fd00::1/64"); return n },
			`address: want an IPv4 prefix (ipip carries IPv4), got "fd00::1/64"`},
		{"route prefix with host bits", func() Network { n := tun(); n.Routes[0].Prefix = prefix("10.1.2.3/16"); return n },
			`routes[0].prefix: want a network prefix like 10.1.0.0/16, got "10.1.2.3/16"`},
		{"route without via", func() Network { n := tun(); n.Routes[0].Via = netip.Addr{}; return n },
			"routes[0].via: required (the remote endpoint for 10.1.0.0/16)"},
		{"route twice", func() Network {
			n := tun()
			n.Routes = append(n.Routes, Route{prefix("10.1.0.0/16"), addr("10.0.0.3")})
			return n
		},
			"routes[1].prefix: 10.1.0.0/16 is already routed by routes[0]"},
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n()
			alone := errText(checkNetwork(&n, func(path string) string { return path }))
			if alone != tc.want {
				t.Errorf("checkNetwork: got error %q, want %q", alone, tc.want)
			}
			c := &Config{Underlay: defaultUnderlay("10.0.0.1"), Networks: []Network{tc.n()}, Control: DefaultControl, LogLevel: "info"}
			inConfig := errText(c.Validate())
			if got := strings.ReplaceAll(inConfig, "networks[0].", ""); got != tc.want {
				t.Errorf("Validate: got error %q, want %q with its paths under networks[0]", inConfig, tc.want)
			}
		})
	}
}

package control

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Usage is vtepd's help text.
func Usage() string {
	return `Usage:
  vtepd --config FILE [--control PATH] [--metrics ADDR] [--log-level LEVEL]
  vtepd --local IP --vni N [--remote IP]... [options]         one VXLAN network
  vtepd --mode ipip --local IP --name NAME [--remote IP] [--route PREFIX=VIA]... [options]

The flags describe one network, named after ip-link's words; a config file
describes any number of them and cannot be combined with the network flags.

Options:
  --config FILE          YAML config file
  --mode vxlan|ipip      network kind (default vxlan)
  --local IP             source address of outer packets (required)
  --vni N                VXLAN network identifier 0..16777215 (vxlan, required)
  --remote IP            vxlan: add a flood-list peer (repeatable);
                         ipip: the point-to-point peer (at most once)
  --name NAME            interface to create (default vx<VNI>; required for ipip)
  --addr CIDR            address of the interface, like 192.168.42.1/24
  --mtu N                interface MTU 68..65535 (default: from the underlay)
  --dstport N            VXLAN UDP port (default 4789)
  --srcport MIN-MAX      outer UDP source port range
                         (default: net.ipv4.ip_local_port_range)
  --ttl N|inherit        outer TTL (default 64; inherit is for ipip)
  --udpcsum              compute outer UDP checksums over IPv4
  --learning=true|false  learn source MACs (default true)
  --ageing DURATION      forget learnt MACs after this long, 0 = never (default 300s)
  --limit N              most learnt MACs (default 16384)
  --group IP             multicast group for flooding (vxlan; needs --dev)
  --dev IFNAME           underlay device for --group
  --mcast-ttl N          outer TTL of packets to the group (default 1)
  --route PREFIX=VIA     ipip: send PREFIX to the endpoint VIA (repeatable)
  --control PATH         control socket (default /run/vtepd/vtepd.sock)
  --metrics ADDR         serve metrics on host:port, like 127.0.0.1:9470
  --log-level LEVEL      debug, info, warn or error (default info)

Examples:
  vtepd --local 10.0.0.1 --vni 42 --remote 10.0.0.2 --remote 10.0.0.3 \
        --addr 192.168.42.1/24
  vtepd --local 10.0.0.1 --vni 42 --group 239.1.1.1 --dev eth0
  vtepd --mode ipip --local 10.0.0.1 --name ipip0 --addr 10.244.0.1/24 \
        --route 10.244.1.0/24=10.0.0.2
  vtepd --config /etc/vtepd/vtepd.yaml --log-level debug
`
}

// networkFlags are the flags that describe the network; a config file
// replaces all of them.
var networkFlags = []string{"mode", "vni", "local", "remote", "dstport", "srcport", "name",
	"addr", "mtu", "learning", "ageing", "limit", "ttl", "mcast-ttl", "udpcsum", "route", "group", "dev"}

// vxlanFlags mean nothing to an ipip network; ipipFlags nothing to vxlan.
var (
	vxlanFlags = []string{"vni", "dstport", "srcport", "udpcsum", "learning", "ageing", "limit", "group", "dev", "mcast-ttl"}
	ipipFlags  = []string{"route"}
)

// listValue collects a repeatable flag.
type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error { *l = append(*l, s); return nil }

// boolValue is a boolean flag whose text is checked after parsing, so the
// error reads like every other flag error.
type boolValue string

func (b *boolValue) String() string     { return string(*b) }
func (b *boolValue) Set(s string) error { *b = boolValue(s); return nil }
func (b *boolValue) IsBoolFlag() bool   { return true }

// ParseFlags turns vtepd's command line into a validated Config, either from
// --config FILE or from flags describing one network. Errors name the flag
// and fit on one line; -h/--help returns flag.ErrHelp.
func ParseFlags(args []string) (*Config, error) {
	fs := flag.NewFlagSet("vtepd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	str := map[string]*string{}
	for _, n := range []string{"config", "mode", "vni", "local", "dstport", "srcport", "name", "addr",
		"mtu", "ageing", "limit", "ttl", "mcast-ttl", "group", "dev", "control", "metrics", "log-level"} {
		str[n] = fs.String(n, "", "")
	}
	var learning, udpcsum boolValue
	var remotes, routes listValue
	fs.Var(&learning, "learning", "")
	fs.Var(&udpcsum, "udpcsum", "")
	fs.Var(&remotes, "remote", "")
	fs.Var(&routes, "route", "")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, flagError(err)
	}
	if fs.NArg() > 0 {
		// "--learning false" parses as a bare boolean flag and a stray word.
		if i := len(args) - fs.NArg(); i > 0 {
			prev := strings.TrimLeft(args[i-1], "-")
			if _, err := strconv.ParseBool(fs.Arg(0)); err == nil && (prev == "learning" || prev == "udpcsum") {
				return nil, fmt.Errorf("--%s: write --%s=%s (a boolean flag takes its value after '=')", prev, prev, fs.Arg(0))
			}
		}
		return nil, fmt.Errorf("unexpected argument %q (settings are flags, like --vni 42)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var c *Config
	name := flagPath
	if set["config"] {
		for _, f := range networkFlags {
			if set[f] {
				return nil, fmt.Errorf("--config: cannot be combined with --%s (put it in the config file)", f)
			}
		}
		var err error
		if c, err = Load(*str["config"]); err != nil {
			return nil, err
		}
		// Only the flags given here speak for themselves; the rest of the
		// config was checked by its field paths already.
		name = func(path string) string {
			if f := flagPath(path); set[strings.TrimPrefix(f, "--")] {
				return f
			}
			return path
		}
	} else {
		var err error
		if c, err = networkFromFlags(str, set, learning, udpcsum, remotes, routes); err != nil {
			return nil, err
		}
	}
	if set["control"] {
		c.Control = *str["control"]
	}
	if set["metrics"] {
		c.Metrics = *str["metrics"]
	}
	if set["log-level"] {
		c.LogLevel = *str["log-level"]
	}
	if err := c.validate(name); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	reFlagUnknown = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reFlagNoValue = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagError rewrites the flag package's errors to name the flag first.
func flagError(err error) error {
	msg := err.Error()
	if m := reFlagUnknown.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s: unknown flag (see --help)", m[1])
	}
	if m := reFlagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s: needs a value", m[1])
	}
	return errors.New(oneLine(msg))
}

func networkFromFlags(str map[string]*string, set map[string]bool, learning, udpcsum boolValue, remotes, routes listValue) (*Config, error) {
	bad := func(f, want string) error {
		return fmt.Errorf("--%s: want %s, got %q", f, want, *str[f])
	}
	c := &Config{Control: DefaultControl, LogLevel: DefaultLogLevel}
	u := &c.Underlay
	u.Port, u.TTL, u.McastTTL = DefaultPort, DefaultTTL, DefaultMcastTTL
	u.SrcPortMin, u.SrcPortMax = defaultSrcPorts()
	n := Network{Kind: KindVXLAN}

	if set["mode"] {
		n.Kind = *str["mode"]
		if n.Kind != KindVXLAN && n.Kind != KindIPIP {
			return nil, bad("mode", KindVXLAN+" or "+KindIPIP)
		}
	}
	wrong, other := vxlanFlags, KindVXLAN
	if n.Kind == KindVXLAN {
		wrong, other = ipipFlags, KindIPIP
	}
	for _, f := range wrong {
		if set[f] {
			return nil, fmt.Errorf("--%s: only with --mode %s, this network is %s", f, other, n.Kind)
		}
	}

	if set["local"] {
		a, err := netip.ParseAddr(*str["local"])
		if err != nil {
			return nil, bad("local", "an IP address")
		}
		u.Local = a
	}
	if set["dstport"] {
		v, err := strconv.ParseUint(*str["dstport"], 10, 16)
		if err != nil || v == 0 {
			return nil, bad("dstport", "an integer 1..65535")
		}
		u.Port = uint16(v)
	}
	if set["srcport"] {
		var ok bool
		if u.SrcPortMin, u.SrcPortMax, ok = parseSrcPort(*str["srcport"]); !ok {
			return nil, bad("srcport", wantSrcPort)
		}
	}
	if set["udpcsum"] {
		v, err := strconv.ParseBool(string(udpcsum))
		if err != nil {
			return nil, fmt.Errorf("--udpcsum: want true or false, got %q", string(udpcsum))
		}
		u.UDPCsum = v
	}
	n.Name = *str["name"]
	if set["addr"] {
		p, err := netip.ParsePrefix(*str["addr"])
		if err != nil {
			return nil, bad("addr", "an address with prefix length like 192.168.42.1/24")
		}
		n.Address = p
	}
	if set["mtu"] {
		v, err := strconv.ParseInt(*str["mtu"], 10, 32)
		if err != nil {
			return nil, bad("mtu", fmt.Sprintf("an integer %d..%d", minMTU, maxMTU))
		}
		n.MTU = int(v)
	}
	var peers []netip.Addr
	for _, s := range remotes {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--remote: want an IP address, got %q", s)
		}
		peers = append(peers, a)
	}

	if n.Kind == KindIPIP {
		n.TTL = DefaultTTL
		if set["ttl"] {
			if *str["ttl"] == "inherit" {
				n.TTL = 0
			} else {
				v, err := strconv.ParseUint(*str["ttl"], 10, 8)
				if err != nil || v == 0 {
					return nil, bad("ttl", wantIPIPTTL)
				}
				n.TTL = uint8(v)
			}
		}
		if len(peers) > 1 {
			return nil, fmt.Errorf("--remote: want at most one peer with --mode %s, got %d", KindIPIP, len(peers))
		}
		if len(peers) == 1 {
			n.Remote = peers[0]
		}
		for _, s := range routes {
			ps, vs, ok := strings.Cut(s, "=")
			p, err1 := netip.ParsePrefix(ps)
			via, err2 := netip.ParseAddr(vs)
			if !ok || err1 != nil || err2 != nil {
				return nil, fmt.Errorf("--route: want PREFIX=VIA like 10.244.1.0/24=10.0.0.2, got %q", s)
			}
			n.Routes = append(n.Routes, Route{Prefix: p, Via: via})
		}
		if n.Name == "" {
			return nil, fmt.Errorf("--name: required with --mode %s (the TUN device to create)", KindIPIP)
		}
		c.Networks = []Network{n}
		return c, nil
	}

	if set["ttl"] {
		v, err := strconv.ParseUint(*str["ttl"], 10, 8)
		if err != nil || v == 0 {
			return nil, bad("ttl", `an integer 1..255 ("inherit" is for --mode ipip)`)
		}
		u.TTL = uint8(v)
	}
	if set["mcast-ttl"] {
		v, err := strconv.ParseUint(*str["mcast-ttl"], 10, 8)
		if err != nil || v == 0 {
			return nil, bad("mcast-ttl", "an integer 1..255")
		}
		u.McastTTL = uint8(v)
	}
	if !set["vni"] {
		return nil, fmt.Errorf("--vni: required with --mode %s (0..%d)", KindVXLAN, MaxVNI)
	}
	v, err := strconv.ParseUint(*str["vni"], 10, 32)
	if err != nil || v > MaxVNI {
		return nil, bad("vni", fmt.Sprintf("an integer 0..%d", MaxVNI))
	}
	n.VNI = uint32(v)
	if n.Name == "" {
		n.Name = "vx" + strconv.FormatUint(v, 10)
	}
	n.Remotes = peers
	if set["group"] {
		if n.Group, err = netip.ParseAddr(*str["group"]); err != nil {
			return nil, bad("group", "an IP address")
		}
	}
	n.Dev = *str["dev"]
	n.Learning = true
	if set["learning"] {
		if n.Learning, err = strconv.ParseBool(string(learning)); err != nil {
			return nil, fmt.Errorf("--learning: want true or false, got %q", string(learning))
		}
	}
	n.Ageing = DefaultAgeing
	if set["ageing"] {
		var ok bool
		if n.Ageing, ok = parseDuration(*str["ageing"]); !ok {
			return nil, bad("ageing", "a duration like 300s (0 = never age)")
		}
	}
	n.Limit = DefaultLimit
	if set["limit"] {
		v, err := strconv.ParseInt(*str["limit"], 10, 64)
		if err != nil || v < 1 || v > maxLimit {
			return nil, bad("limit", fmt.Sprintf("an integer 1..%d", maxLimit))
		}
		n.Limit = int(v)
	}
	c.Networks = []Network{n}
	return c, nil
}

// flagPath names the flag that sets a config field path of a config built
// by networkFromFlags.
func flagPath(path string) string {
	switch path {
	case "underlay.local":
		return "--local"
	case "underlay.port":
		return "--dstport"
	case "underlay.srcport":
		return "--srcport"
	case "underlay.ttl":
		return "--ttl"
	case "underlay.mcast_ttl":
		return "--mcast-ttl"
	case "underlay.udpcsum":
		return "--udpcsum"
	case "control":
		return "--control"
	case "metrics":
		return "--metrics"
	case "log_level":
		return "--log-level"
	}
	rest, ok := strings.CutPrefix(path, "networks[0]")
	if !ok {
		return path
	}
	rest = strings.TrimPrefix(rest, ".")
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	switch rest {
	case "", "kind":
		return "--mode"
	case "address":
		return "--addr"
	case "remotes", "remote":
		return "--remote"
	case "routes":
		return "--route"
	}
	return "--" + rest
}

// Command vtepctl inspects and changes a running vtepd through its control
// socket: the forwarding database and flood lists, the routes of ipip
// networks, the networks themselves (added and removed at run time) and their
// counters. Its output follows iproute2's (bridge fdb show, ip -s).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the daemon refused, or could not be reached
	exitUsage = 2 // the command line is wrong; nothing was sent
)

var usage = `Usage: vtepctl [--control SOCK] COMMAND

Commands:
  fdb show [dev NAME] [vni N] [-s] [--json]
                                      list forwarding entries as bridge fdb
                                      show does; -s adds the seconds since
                                      each was used and updated
  fdb add MAC dst IP dev NAME|vni N   add a static entry; MAC 00:00:00:00:00:00
                                      appends IP to the flood list
  fdb append 00:00:00:00:00:00 dst IP dev NAME|vni N
                                      append IP to the flood list, as
                                      bridge fdb append does
  fdb replace MAC dst IP dev NAME|vni N
                                      add the entry, or point it at IP
  fdb del MAC dev NAME|vni N [dst IP] remove an entry (dst is required for
                                      00:00:00:00:00:00)
  fdb flush [--vni N] [--json]        forget learnt entries, of every network
                                      unless --vni is given; static entries
                                      and the flood list stay
  peer add IP vni N                   add IP to the flood list of VNI N
  peer del IP vni N                   remove IP from the flood list
  route show [--network N] [--json]   list the routes of ipip networks
  route add PREFIX via IP [dev NETWORK]
  route del PREFIX [dev NETWORK]      dev may be left out when there is only
                                      one ipip network
  network show [--json]               list the networks
  network add FLAGS                   start a network, described by vtepd's
                                      network flags (below)
  network del NAME                    stop a network and remove its device
  stats [--queues] [--json]           packet, byte, drop and fdb counters;
                                      --queues adds each device queue's
                                      and underlay socket's traffic and
                                      how busy its worker has been
  bgp [neighbors] [--json]            the BGP speaker: each neighbor's
                                      session state, up/down time, EVPN
                                      routes received and sent, and the
                                      peers' routes ignored, by reason
  bgp neighbor add IP [asn N] [port P] [password S] [passive] [max-prefixes N]
  bgp neighbor del IP                 open or close a session at run time
                                      (asn: the speaker's own by default)
  evpn routes [--vni N] [--json]      the EVPN routes, ours (local) and the
                                      peers': type 2 [MAC]:[IP], type 3
                                      [endpoint], RD, next hop, MAC
                                      mobility seq; > marks the best
  trace [--network N] [--count K] [--match EXPR] [--json]
                                      follow frames live through vtepd, one
                                      block per frame and stage (below)
  trace --simulate EXPR [--network N] [--json]
                                      what vtepd would do with a frame, from
                                      its live tables, sending nothing (below)
  capture --network N [--inner FILE] [--outer FILE] [--count K] [--match EXPR] [--json]
                                      write a network's frames to pcap files
                                      (pcapng for a FILE ending in .pcapng,
                                      which records events lost, and where)
  explain vxlan|ipip [--json]         an encapsulated packet, byte by byte
                                      (needs no daemon)
  explain --network N [--to IP] [--json]
                                      the packet the daemon would write now
                                      for a ping out of N (to IP; default
                                      the subnet's next address, or the
                                      first route's), from its live tables
  help [COMMAND]                      this text, or one command's; so does
                                      COMMAND --help

Options:
  --control SOCK   vtepd's control socket (default /run/vtepd/vtepd.sock)
  --version        print the version and exit

Trace and capture:
  trace shows each frame at each stage: device-in (the inner headers),
  lookup (fdb hit, miss or flood and to whom; an ipip route), encap (every
  byte of the headers added, as explain names them), socket-out; and the
  other way socket-in, decap, learn (new, moved, refreshed, full, static),
  device-out; and drops, with their reason. --json prints one JSON object
  per event and line, the inner headers decoded. They end after K frames
  (--count), or at Ctrl-C. vtepd never waits for a slow reader: events it
  could not hand over are counted as lost.
  --match keeps the frames whose inner headers match, checked in vtepd
  before anything is copied: terms joined by "and", each maybe after "not":
    [src|dst] host IP    [src|dst] net PREFIX    [src|dst] mac MAC
    [src|dst] port N     tcp  udp  icmp  icmp6  arp  ip  ip6
  "tcp port 80" reads as tcp and port 80. There is no "or".
  --simulate asks instead what vtepd would do with a frame its device gave
  it, from the live tables, and sends nothing: the lookup (an FDB hit and
  its entry, a miss or broadcast flooded and to whom, an answer from EVPN
  ARP suppression, an ipip route), the outer headers with the source port
  the flow gets, fragments, or the drop it would meet and why. EXPR:
    dst MAC|broadcast|IP  src MAC|IP  to IP (inner)  vni N  arp IP  len N
  as "dst 02:00:00:00:00:09 vni 42", "arp 192.168.42.2", "dst 10.244.1.7",
  "dst 02:00:00:00:00:09 len 1500"; the frame is an echo request with DF
  set, as ping sends, from the device's MAC and address.
  capture writes what trace sees: --inner gets the frames at the device
  (Ethernet for vxlan networks, raw IP for ipip), --outer the packets on the
  underlay (raw IP, outer header first), so Wireshark shows one frame before
  and after encapsulation. A VXLAN socket hands vtepd only the UDP payload
  of what it receives: the outer IP and UDP headers of received packets in
  --outer are rebuilt from the sender's and vtepd's addresses and ports
  (their TTL and identification, hence header checksum, are made up). Sent
  packets are as vtepd handed them to its raw socket: identification 0,
  which the kernel fills in on the way out with the header checksum, so
  those two fields differ from the wire (but for fragments, which carry
  vtepd's own identification). capture holds packets a quarter of a
  second to write them in the order of their timestamps, whichever of
  vtepd's workers reported them first.

Flags of network add (as vtepd's; the underlay is the running daemon's):
` + control.NetworkFlagsUsage() + `
Examples:
  vtepctl fdb show dev vx42
  vtepctl fdb add 00:00:00:00:00:00 dst 10.0.0.4 dev vx42
  vtepctl fdb del aa:bb:cc:dd:ee:ff vni 42
  vtepctl fdb flush --vni 42
  vtepctl peer add 10.0.0.4 vni 42
  vtepctl route add 10.244.2.0/24 via 10.0.0.3 dev ipip0
  vtepctl network add --vni 43 --remote 10.0.0.2 --addr 192.168.43.1/24
  vtepctl network add --mode ipip --name ipip1 --route 10.245.0.0/16=10.0.0.3
  vtepctl network del vx43
  vtepctl stats
  vtepctl bgp neighbors
  vtepctl evpn routes --vni 42
  vtepctl trace --network vx42 --match "icmp and host 192.168.42.2" --count 2
  vtepctl trace --simulate "dst 02:00:00:00:00:09 vni 42"
  vtepctl capture --network vx42 --inner vx42.pcap --outer underlay.pcap
`

// usageError is a command line vtepctl refuses before talking to vtepd.
type usageError string

func (e usageError) Error() string { return string(e) }

func usagef(format string, args ...any) error { return usageError(fmt.Sprintf(format, args...)) }

// run is vtepctl without the process around it, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "vtepctl: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vtepctl: %v\n", err)
		return exitError
	}
}

func dispatch(args []string, stdout io.Writer) error {
	socket := control.DefaultControl
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch name {
		case "h", "help":
			fmt.Fprint(stdout, usage)
			return nil
		case "version":
			fmt.Fprintln(stdout, control.Version("vtepctl"))
			return nil
		case "control":
			if !hasValue {
				if len(args) < 2 {
					return usagef("--control: needs a value (the socket path)")
				}
				value, args = args[1], args[1:]
			}
			if value == "" {
				return usagef("--control: needs a value (the socket path)")
			}
			socket = value
		default:
			return usagef("%q: unknown option (want --control SOCK)", args[0])
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return usagef("missing command (want %s)", commands)
	}
	c := &cli{client: control.NewClient(socket), out: stdout}
	cmd, rest := args[0], args[1:]
	if cmd == "help" && len(rest) > 0 {
		cmd, rest = rest[0], []string{"--help"}
	}
	if cmd != "help" && slices.ContainsFunc(rest, isHelp) {
		u, ok := commandUsage(cmd)
		if !ok {
			return usagef("%q: unknown command (want %s)", cmd, commands)
		}
		fmt.Fprint(stdout, u)
		return nil
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "fdb":
		return c.fdb(rest)
	case "peer":
		return c.peer(rest)
	case "route":
		return c.route(rest)
	case "network", "networks":
		return c.network(rest)
	case "stats":
		return c.stats(rest)
	case "explain":
		if slices.ContainsFunc(rest, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "network") }) {
			return c.explainLive(rest)
		}
		return explain(rest, stdout)
	case "trace":
		return c.trace(rest)
	case "capture":
		return c.capture(rest)
	case "bgp":
		return c.bgp(rest)
	case "evpn":
		return c.evpn(rest)
	}
	return usagef("%q: unknown command (want %s)", cmd, commands)
}

const commands = "fdb, peer, route, network, stats, bgp, evpn, trace, capture, explain or help"

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// commandUsage is the part of the usage that speaks of cmd: its lines of
// the command list, and the sections that belong to it alone.
func commandUsage(cmd string) (string, bool) {
	if cmd == "networks" {
		cmd = "network"
	}
	var b strings.Builder
	b.WriteString("Usage: vtepctl [--control SOCK] " + cmd + " ...\n\n")
	list := usage[strings.Index(usage, "Commands:"):strings.Index(usage, "\nOptions:")]
	in, found := false, false
	for _, line := range strings.Split(list, "\n") {
		switch {
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			f := strings.Fields(line)
			in = f[0] == cmd
			found = found || in
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	if !found {
		return "", false
	}
	section := func(title string) {
		rest := usage[strings.Index(usage, title):]
		if end := strings.Index(rest, "\n\n"); end >= 0 {
			rest = rest[:end+1]
		}
		b.WriteString("\n" + rest)
	}
	switch cmd {
	case "network":
		section("Flags of network add")
	case "trace", "capture":
		section("Trace and capture:")
	}
	return b.String(), true
}

type cli struct {
	client *control.Client
	out    io.Writer
}

// options parses --name VALUE / --name=VALUE options and the --json switch
// of a show command. values maps the option names it takes to where they go.
func options(cmd string, args []string, values map[string]*string, asJSON *bool) error {
	var names []string
	for n := range values {
		names = append(names, "--"+n+" "+strings.ToUpper(n))
	}
	if asJSON != nil {
		names = append(names, "--json")
	}
	sort.Strings(names)
	want := strings.Join(names, " or ")
	for len(args) > 0 {
		a := args[0]
		if !strings.HasPrefix(a, "-") {
			return usagef("%s: %q is not an option (want %s)", cmd, a, want)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		args = args[1:]
		if name == "json" && asJSON != nil && !hasValue {
			*asJSON = true
			continue
		}
		dst, ok := values[name]
		if !ok {
			return usagef("%s: %q is not an option (want %s)", cmd, a, want)
		}
		if !hasValue {
			if len(args) == 0 {
				return usagef("%s: --%s: needs a value", cmd, name)
			}
			value, args = args[0], args[1:]
		}
		// An empty value would read as the option left out, which for
		// fdb flush means every network.
		if value == "" {
			return usagef("%s: --%s: needs a value", cmd, name)
		}
		*dst = value
	}
	return nil
}

// keywords parses iproute2-style "word VALUE" pairs after the positional
// argument, like "dst 10.0.0.2 vni 42". Every word in words may appear once.
func keywords(cmd string, args []string, words ...string) (map[string]string, error) {
	got := map[string]string{}
	for len(args) > 0 {
		w := args[0]
		known := false
		for _, k := range words {
			known = known || w == k
		}
		if !known {
			return nil, usagef("%s: %q is not a keyword (want %s)", cmd, w, strings.Join(words, " or "))
		}
		if _, dup := got[w]; dup {
			return nil, usagef("%s: %s: given twice", cmd, w)
		}
		if len(args) < 2 {
			return nil, usagef("%s: %s: needs a value", cmd, w)
		}
		got[w], args = args[1], args[2:]
	}
	return got, nil
}

func parseVNI(cmd, s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > control.MaxVNI {
		return 0, usagef("%s: vni: want an integer 0..%d, got %q", cmd, control.MaxVNI, s)
	}
	return uint32(v), nil
}

func parseAddr(cmd, word, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, usagef("%s: %s: want an IP address, got %q", cmd, word, s)
	}
	return a, nil
}

func parsePrefix(cmd, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p != p.Masked() {
		return netip.Prefix{}, usagef("%s: PREFIX: want a network prefix like 10.244.1.0/24, got %q", cmd, s)
	}
	return p, nil
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList prints a list as JSON: [] when it is empty, never null.
func printList[T any](c *cli, v []T) error {
	if v == nil {
		v = []T{}
	}
	return c.printJSON(v)
}

// optionalVNI reads the --vni of a command that, without it, is about every
// network.
func optionalVNI(cmd, s string) (vni uint32, all bool, err error) {
	if s == "" {
		return 0, true, nil
	}
	vni, err = parseVNI(cmd, s)
	return vni, false, err
}

func (c *cli) fdb(args []string) error {
	sub := "show"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "dev" && args[0] != "vni" {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "show", "list":
		return c.fdbShow(args)
	case "add", "append", "replace":
		return c.fdbAdd("fdb "+sub, args)
	case "del", "delete":
		return c.fdbDel(args)
	case "flush":
		return c.fdbFlush(args)
	}
	return usagef("fdb: %q: unknown command (want show, add, append, replace, del or flush)", sub)
}

// bridgeEntry is an entry as `bridge -j [-s] fdb show` prints one.
type bridgeEntry struct {
	MAC     string   `json:"mac"`
	IfName  string   `json:"ifname,omitempty"`
	Dst     string   `json:"dst"`
	VNI     *uint32  `json:"vni,omitempty"`
	Used    *float64 `json:"used,omitempty"`
	Updated *float64 `json:"updated,omitempty"`
	Flags   []string `json:"flags"`
	State   string   `json:"state"`
}

// fdbShow prints the entries as `bridge fdb show` does for a vxlan device:
// MAC, dev, dst, the VNI only where it is not the device's (never, for
// vtepd's), with -s the seconds since the entry was used and updated,
// then self and the state.
func (c *cli) fdbShow(args []string) error {
	const cmd = "fdb show"
	var dev, vniText string
	var stats, asJSON bool
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case a == "-s" || a == "--stats" || a == "-statistics":
			stats = true
			continue
		case a == "--json" || a == "-j":
			asJSON = true
			continue
		case name != "dev" && name != "vni":
			return usagef("%s: %q is not an option (want dev NAME, vni N, -s or --json)", cmd, a)
		}
		word := name // as given: --vni, or iproute2's vni
		if strings.HasPrefix(a, "-") {
			word = "--" + name
		}
		if !hasValue {
			if len(args) == 0 {
				return usagef("%s: %s: needs a value", cmd, word)
			}
			value, args = args[0], args[1:]
		}
		if value == "" {
			return usagef("%s: %s: needs a value", cmd, word)
		}
		if name == "dev" {
			dev = value
		} else {
			vniText = value
		}
	}
	vni, all, err := optionalVNI(cmd, vniText)
	if err != nil {
		return err
	}
	entries, err := c.client.FDB(vni, all)
	if err != nil {
		return err
	}
	if dev != "" {
		known := false
		nets, err := c.client.Networks()
		if err != nil {
			return err
		}
		for _, n := range nets {
			known = known || n.Name == dev
		}
		if !known {
			return fmt.Errorf("%s: dev %s: no such network", cmd, dev)
		}
		entries = slices.DeleteFunc(entries, func(e control.FDBEntry) bool { return e.Network != dev })
	}
	out := make([]bridgeEntry, 0, len(entries))
	for _, e := range entries {
		b := bridgeEntry{MAC: e.MAC, IfName: e.Network, Dst: e.Dst, Flags: []string{"self"}}
		if e.Extern {
			b.Flags = append(b.Flags, "extern_learn")
		}
		if e.Static {
			b.State = "permanent"
		}
		if stats {
			used, updated := math.Round(e.UsedSeconds), math.Round(e.UpdatedSeconds)
			b.Used, b.Updated = &used, &updated
		}
		out = append(out, b)
	}
	if asJSON {
		if dev != "" {
			// bridge -j fdb show dev NAME leaves out what it was asked for.
			for i := range out {
				out[i].IfName = ""
			}
		}
		return printList(c, out)
	}
	for _, b := range out {
		line := fmt.Sprintf("%s dev %s dst %s", b.MAC, b.IfName, b.Dst)
		if stats {
			line += fmt.Sprintf(" used %d/%d", int64(*b.Used), int64(*b.Updated))
		}
		line += " " + strings.Join(b.Flags, " ")
		if b.State != "" {
			line += " " + b.State
		}
		fmt.Fprintln(c.out, line)
	}
	return nil
}

// macArg parses the MAC that fdb add/del take first.
func macArg(cmd string, args []string) (fdb.MAC, []string, error) {
	if len(args) == 0 {
		return fdb.MAC{}, nil, usagef("%s: MAC: required", cmd)
	}
	m, err := fdb.ParseMAC(args[0])
	if err != nil {
		return fdb.MAC{}, nil, usagef("%s: MAC: want aa:bb:cc:dd:ee:ff, got %q", cmd, args[0])
	}
	return m, args[1:], nil
}

// vniOf is the VNI an fdb command names: by vni N, or by dev NAME, the
// network's, as the device says it to bridge(8); both must agree.
func (c *cli) vniOf(cmd string, kw map[string]string) (uint32, error) {
	text, hasVNI := kw["vni"]
	dev, hasDev := kw["dev"]
	var vni uint32
	var err error
	if hasVNI {
		if vni, err = parseVNI(cmd, text); err != nil {
			return 0, err
		}
	}
	if !hasDev {
		if !hasVNI {
			return 0, usagef("%s: dev or vni: required (want dev NAME or vni N)", cmd)
		}
		return vni, nil
	}
	nets, err := c.client.Networks()
	if err != nil {
		return 0, err
	}
	for _, n := range nets {
		if n.Name != dev {
			continue
		}
		if n.Kind != control.KindVXLAN {
			return 0, usagef("%s: dev %s: an %s network, which has no fdb", cmd, dev, n.Kind)
		}
		if hasVNI && n.VNI != vni {
			return 0, usagef("%s: vni %d: dev %s is vni %d", cmd, vni, dev, n.VNI)
		}
		return n.VNI, nil
	}
	return 0, fmt.Errorf("%s: dev %s: no such network", cmd, dev)
}

// fdbAdd is fdb add, append and replace.
func (c *cli) fdbAdd(cmd string, args []string) error {
	mac, args, err := macArg(cmd, args)
	if err != nil {
		return err
	}
	kw, err := keywords(cmd, args, "dst", "vni", "dev")
	if err != nil {
		return err
	}
	if _, ok := kw["dst"]; !ok {
		return usagef("%s: dst: required (want %s MAC dst IP dev NAME|vni N)", cmd, cmd)
	}
	dst, err := parseAddr(cmd, "dst", kw["dst"])
	if err != nil {
		return err
	}
	vni, err := c.vniOf(cmd, kw)
	if err != nil {
		return err
	}
	if cmd == "fdb replace" {
		return c.client.FDBReplace(vni, mac, dst)
	}
	return c.client.FDBAdd(vni, mac, dst)
}

func (c *cli) fdbDel(args []string) error {
	const cmd = "fdb del"
	mac, args, err := macArg(cmd, args)
	if err != nil {
		return err
	}
	kw, err := keywords(cmd, args, "vni", "dst", "dev")
	if err != nil {
		return err
	}
	vni, err := c.vniOf(cmd, kw)
	if err != nil {
		return err
	}
	var dst netip.Addr
	if s, ok := kw["dst"]; ok {
		if dst, err = parseAddr(cmd, "dst", s); err != nil {
			return err
		}
	}
	return c.client.FDBDel(vni, mac, dst)
}

func (c *cli) fdbFlush(args []string) error {
	const cmd = "fdb flush"
	var vniText string
	var asJSON bool
	if err := options(cmd, args, map[string]*string{"vni": &vniText}, &asJSON); err != nil {
		return err
	}
	vni, all, err := optionalVNI(cmd, vniText)
	if err != nil {
		return err
	}
	n, err := c.client.FDBFlush(vni, all)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(struct {
			Flushed int `json:"flushed"`
		}{n})
	}
	fmt.Fprintf(c.out, "flushed %d entries\n", n)
	return nil
}

func (c *cli) peer(args []string) error {
	if len(args) == 0 {
		return usagef("peer: missing command (want add or del)")
	}
	sub, args := args[0], args[1:]
	var cmd string
	switch sub {
	case "add", "append":
		cmd = "peer add"
	case "del", "delete":
		cmd = "peer del"
	default:
		return usagef("peer: %q: unknown command (want add or del)", sub)
	}
	want := "want " + cmd + " IP vni N"
	if len(args) == 0 {
		return usagef("%s: IP: required (%s)", cmd, want)
	}
	peer, err := parseAddr(cmd, "IP", args[0])
	if err != nil {
		return err
	}
	kw, err := keywords(cmd, args[1:], "vni")
	if err != nil {
		return err
	}
	if _, ok := kw["vni"]; !ok {
		return usagef("%s: vni: required (%s)", cmd, want)
	}
	vni, err := parseVNI(cmd, kw["vni"])
	if err != nil {
		return err
	}
	if cmd == "peer add" {
		return c.client.PeerAdd(vni, peer)
	}
	return c.client.PeerDel(vni, peer)
}

func (c *cli) route(args []string) error {
	sub := "show"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "show", "list":
		return c.routeShow(args)
	case "add":
		return c.routeAdd(args)
	case "del", "delete":
		return c.routeDel(args)
	}
	return usagef("route: %q: unknown command (want show, add or del)", sub)
}

// routeLine is one route of route show --json: the API's route with the
// network it belongs to.
type routeLine struct {
	Network string `json:"network"`
	Prefix  string `json:"prefix"`
	Via     string `json:"via"`
	Proto   string `json:"proto,omitempty"`
}

func (c *cli) routeShow(args []string) error {
	var network string
	var asJSON bool
	if err := options("route show", args, map[string]*string{"network": &network}, &asJSON); err != nil {
		return err
	}
	// A route as the API gives it does not say its network, so routes are
	// fetched network by network to print "dev NAME".
	var names []string
	if network != "" {
		names = []string{network}
	} else {
		nets, err := c.client.Networks()
		if err != nil {
			return err
		}
		for _, n := range nets {
			if n.Kind == control.KindIPIP {
				names = append(names, n.Name)
			}
		}
	}
	lines := []routeLine{}
	for _, name := range names {
		routes, err := c.client.Routes(name)
		if err != nil {
			return err
		}
		for _, r := range routes {
			lines = append(lines, routeLine{Network: name, Prefix: r.Prefix, Via: r.Via, Proto: r.Proto})
		}
	}
	if asJSON {
		return c.printJSON(lines)
	}
	for _, l := range lines {
		line := fmt.Sprintf("%s via %s dev %s", l.Prefix, l.Via, l.Network)
		if l.Proto != "" {
			line += " proto " + l.Proto
		}
		fmt.Fprintln(c.out, line)
	}
	return nil
}

func (c *cli) routeAdd(args []string) error {
	const cmd = "route add"
	if len(args) == 0 {
		return usagef("%s: PREFIX: required (want route add PREFIX via IP [dev NETWORK])", cmd)
	}
	prefix, err := parsePrefix(cmd, args[0])
	if err != nil {
		return err
	}
	kw, err := keywords(cmd, args[1:], "via", "dev")
	if err != nil {
		return err
	}
	if _, ok := kw["via"]; !ok {
		return usagef("%s: via: required (want route add PREFIX via IP [dev NETWORK])", cmd)
	}
	via, err := parseAddr(cmd, "via", kw["via"])
	if err != nil {
		return err
	}
	return c.client.RouteAdd(kw["dev"], prefix, via)
}

func (c *cli) routeDel(args []string) error {
	const cmd = "route del"
	if len(args) == 0 {
		return usagef("%s: PREFIX: required (want route del PREFIX [dev NETWORK])", cmd)
	}
	prefix, err := parsePrefix(cmd, args[0])
	if err != nil {
		return err
	}
	kw, err := keywords(cmd, args[1:], "dev")
	if err != nil {
		return err
	}
	return c.client.RouteDel(kw["dev"], prefix)
}

func (c *cli) network(args []string) error {
	sub := "show"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "show", "list":
		return c.networkShow(args)
	case "add":
		return c.networkAdd(args)
	case "del", "delete":
		return c.networkDel(args)
	}
	return usagef("network: %q: unknown command (want show, add or del)", sub)
}

func (c *cli) networkAdd(args []string) error {
	n, err := control.ParseNetworkFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.out, usage)
		return nil
	}
	if err != nil {
		return usagef("network add: %v", err)
	}
	return c.client.NetworkAdd(n)
}

func (c *cli) networkDel(args []string) error {
	const cmd = "network del"
	switch {
	case len(args) == 0:
		return usagef("%s: NAME: required (want network del NAME)", cmd)
	case strings.HasPrefix(args[0], "-"):
		return usagef("%s: %q is not a network name (want network del NAME)", cmd, args[0])
	case len(args) > 1:
		return usagef("%s: unexpected argument %q (want network del NAME)", cmd, args[1])
	}
	return c.client.NetworkDel(args[0])
}

func (c *cli) networkShow(args []string) error {
	var asJSON bool
	if err := options("network show", args, nil, &asJSON); err != nil {
		return err
	}
	nets, err := c.client.Networks()
	if err != nil {
		return err
	}
	if asJSON {
		return printList(c, nets)
	}
	for _, n := range nets {
		head := n.Name + ": " + n.Kind
		if n.Kind == control.KindVXLAN {
			head += fmt.Sprintf(" vni %d", n.VNI)
		}
		head += " local " + n.Local
		if n.Kind == control.KindVXLAN {
			head += fmt.Sprintf(" dstport %d", n.Port)
		}
		if n.MTU != 0 {
			head += fmt.Sprintf(" mtu %d", n.MTU)
		}
		fmt.Fprintln(c.out, head)
		if n.Address != "" {
			fmt.Fprintf(c.out, "    address %s\n", n.Address)
		}
		if n.Kind == control.KindVXLAN {
			remotes := "none"
			if len(n.Remotes) > 0 {
				remotes = strings.Join(n.Remotes, " ")
			}
			fmt.Fprintf(c.out, "    remotes %s\n", remotes)
			learning := "off"
			if n.Learning {
				learning = "on"
			}
			fmt.Fprintf(c.out, "    learning %s ageing %s limit %d\n", learning, n.Ageing, n.Limit)
		}
		for _, r := range n.Routes {
			fmt.Fprintf(c.out, "    route %s via %s\n", r.Prefix, r.Via)
		}
	}
	return nil
}

func (c *cli) stats(args []string) error {
	var asJSON, perQueue bool
	rest := args[:0:0]
	for _, a := range args {
		if a == "--queues" || a == "-queues" {
			perQueue = true
			continue
		}
		rest = append(rest, a)
	}
	if err := options("stats", rest, nil, &asJSON); err != nil {
		return err
	}
	stats, err := c.client.Stats()
	if err != nil {
		return err
	}
	if asJSON {
		return printList(c, stats)
	}
	for _, s := range stats {
		// Entries that are not networks (the daemon's "underlay") have a
		// kind equal to their name; saying it twice reads badly.
		head := s.Name + ":"
		if s.Kind != s.Name {
			head += " " + s.Kind
		}
		if s.Kind == control.KindVXLAN {
			head += fmt.Sprintf(" vni %d fdb %d entries", s.VNI, s.FDBEntries)
		}
		fmt.Fprintln(c.out, head)
		fmt.Fprintf(c.out, "    RX: packets %d bytes %d\n", s.RxPackets, s.RxBytes)
		fmt.Fprintf(c.out, "    TX: packets %d bytes %d\n", s.TxPackets, s.TxBytes)
		if s.Kind == control.KindVXLAN {
			fmt.Fprintf(c.out, "    fdb: learnt %d moved %d aged %d flooded %d\n", s.Learnt, s.Moved, s.Aged, s.Flooded)
		}
		if s.ARPSuppressed+s.ARPFlooded > 0 {
			fmt.Fprintf(c.out, "    arp: suppressed %d flooded %d\n", s.ARPSuppressed, s.ARPFlooded)
		}
		if s.CsumCompleted > 0 {
			fmt.Fprintf(c.out, "    checksums: %d completed (left for offload by the sender)\n", s.CsumCompleted)
		}
		fmt.Fprintf(c.out, "    drops:%s\n", drops(s.Drops))
		if o := s.Offload; !o.IsZero() {
			fmt.Fprintf(c.out, "    offload: tso %d frames %d segments, gso %d sends %d datagrams, gro %d trains %d datagrams, coalesced %d writes %d frames\n",
				o.TSOFrames, o.TSOSegments, o.GSOSends, o.GSODatagrams, o.GROTrains, o.GRODatagrams, o.CoalescedWrites, o.CoalescedFrames)
			if o.Fallbacks > 0 {
				fmt.Fprintf(c.out, "    offload fallbacks: %d (refused by the kernel, turned off)\n", o.Fallbacks)
			}
		}
		if perQueue {
			for _, q := range s.Queues {
				fmt.Fprintf(c.out, "    queue %d: RX packets %d bytes %d TX packets %d bytes %d",
					q.Queue, q.RxPackets, q.RxBytes, q.TxPackets, q.TxBytes)
				if q.WorkerUpSeconds > 0 {
					fmt.Fprintf(c.out, " worker busy %.1f%% of %.1f s", 100*q.WorkerBusySeconds/q.WorkerUpSeconds, q.WorkerUpSeconds)
				}
				fmt.Fprintln(c.out)
			}
		}
	}
	return nil
}

// drops renders the drop counters sorted by reason, " none" when empty.
func drops(m map[string]uint64) string {
	if len(m) == 0 {
		return " none"
	}
	reasons := make([]string, 0, len(m))
	for r := range m {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var b strings.Builder
	for _, r := range reasons {
		fmt.Fprintf(&b, " %s %d", r, m[r])
	}
	return b.String()
}

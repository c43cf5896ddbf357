package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vtepd/vtepd/encap"
)

// Network kinds. The kind is an explicit switch in the config; each one is a
// forwarding routine in the dataplane.
const (
	KindVXLAN = "vxlan" // Ethernet over UDP, RFC 7348, on a TAP device
	KindIPIP  = "ipip"  // IPv4 in IPv4, RFC 2003, on a TUN device
)

// Defaults applied by Parse and ParseFlags to fields left out.
const (
	DefaultControl = "/run/vtepd/vtepd.sock"

	// DefaultPort is the IANA-assigned VXLAN UDP port (encap).
	DefaultPort = encap.DefaultVXLANPort

	// DefaultTTL is the outer TTL (encap).
	DefaultTTL = encap.DefaultTTL

	// DefaultMcastTTL is the outer TTL of packets sent to a multicast group:
	// 1, as Linux's vxlan uses when no ttl is set, keeps them on the link.
	DefaultMcastTTL = 1
)

// Who may send encapsulated packets to a VXLAN network: the underlay's
// accept setting.
const (
	// AcceptAny takes packets from any address, as Linux's vxlan does (the
	// default).
	AcceptAny = "any"
	// AcceptPeers takes packets only from a network's peers: its flood
	// list, the destinations of its static FDB entries, the underlay's
	// allow prefixes and, with a multicast group, the subnets of the
	// group's device. Others are dropped as unknown_source, unlearnt.
	AcceptPeers = "peers"
)

// The outer DF bit of an ipip network, in ip-link's words.
const (
	DFInherit = "inherit" // copy the inner packet's DF bit (the default)
	DFSet     = "set"
	DFUnset   = "unset"

	// DefaultAgeing matches the kernel vxlan driver's FDB ageing time.
	DefaultAgeing = 300 * time.Second

	// DefaultLimit bounds the learnt entries of one network so that a flood of
	// source MACs cannot grow the table without end.
	DefaultLimit = 16384

	// DefaultSrcPortMin and DefaultSrcPortMax are the outer source ports
	// when ip_local_port_range cannot be read (encap).
	DefaultSrcPortMin = encap.DefaultSourcePortMin
	DefaultSrcPortMax = encap.DefaultSourcePortMax

	DefaultLogLevel = "info"

	// MaxVNI is the largest VXLAN Network Identifier (encap).
	MaxVNI = encap.MaxVNI
)

// Limits the validator enforces.
const (
	// minMTU is the datagram size every IPv4 module must forward without
	// fragmenting (RFC 791, "Fragmentation").
	minMTU = 68
	// minMTU6 is the IPv6 minimum link MTU (RFC 8200 s5).
	minMTU6 = 1280
	maxMTU  = 65535
	// maxIfName is IFNAMSIZ (16) less the terminating NUL.
	maxIfName = 15
	// maxSocketPath is sizeof(sockaddr_un.sun_path) (108) less the NUL.
	maxSocketPath = 107
	// maxLimit keeps limits representable in an int on every platform.
	maxLimit = 1<<31 - 1
)

// portRangeFile is where the srcport default comes from; a variable so tests
// can point it elsewhere.
var portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Config is vtepd's whole configuration, validated.
type Config struct {
	Underlay Underlay
	Networks []Network
	Control  string // path of the control socket
	Metrics  string // host:port of the metrics listener; empty = none
	LogLevel string // debug, info, warn or error
	// OnDeviceLoss is DeviceLossRecreate or DeviceLossExit: what a
	// network's device deleted under vtepd leads to. Empty means the
	// default, DeviceLossRecreate.
	OnDeviceLoss string
	// Path is the file the config was loaded from, for reloading on
	// SIGHUP; empty for a config built from flags.
	Path string
	// Flags are the daemon flags given with --config, like
	// "on-device-loss": they override the file, and KeepFlags carries
	// them over to the file read again.
	Flags []string
	// BGP is the embedded BGP speaker; nil runs none.
	BGP *BGP
}

// BGP configures the embedded BGP speaker, which exchanges EVPN routes
// (RFC 7432, RFC 8365) for the networks with EVPN on.
type BGP struct {
	ASN uint32
	// RouterID defaults to the underlay's local address.
	RouterID netip.Addr
	// ListenPort is where peers may connect (DefaultBGPPort); -1 only
	// dials out.
	ListenPort int
	Neighbors  []Neighbor
}

// DefaultBGPPort is BGP's port (RFC 4271 section 8.2.1).
const DefaultBGPPort = 179

// Neighbor is one BGP peer.
type Neighbor struct {
	Address netip.Addr
	// ASN defaults to the speaker's own: iBGP.
	ASN uint32
	// Port is the peer's BGP port, DefaultBGPPort when left out.
	Port     uint16
	Password string
	// Passive waits for the peer to connect instead of dialling it.
	Passive bool
	// MaxPrefixes is how many routes the peer may have in force; the rest
	// are ignored and counted. 0: no limit.
	MaxPrefixes int
}

// Underlay holds what all networks share on the outer side.
type Underlay struct {
	Local netip.Addr // source address of outer packets, IPv4 or IPv6
	Port  uint16     // VXLAN UDP destination port (ip-link's dstport)
	// SrcPortMin..SrcPortMax, both inclusive, is the range outer UDP source
	// ports are hashed into (ip-link's srcport).
	SrcPortMin, SrcPortMax uint16
	TTL                    uint8 // outer TTL / hop limit of VXLAN packets
	McastTTL               uint8 // the same for packets sent to a multicast group
	// UDPCsum asks for outer UDP checksums over IPv4, where RFC 7348 s5 lets
	// them be zero. Over IPv6 they are always computed.
	UDPCsum bool
	// Offload chooses the offloads of every network's device and of the
	// underlay sockets.
	Offload Offload
	// Queues is how many queues each network's device has and how many
	// sockets receive VXLAN, each with a worker of its own; 0 means
	// DefaultQueues().
	Queues int
	// BusyPoll is how long each worker keeps reading without waiting after
	// a batch before it sleeps (busy polling); 0, the default, sleeps at
	// once. It spends a core per busy worker for lower latency.
	BusyPoll time.Duration
	// IPIPFanout has IPIP networks receive on a PACKET_FANOUT group of
	// Queues packet sockets, a worker each, rather than on one raw socket
	// (ipip_receive: fanout against the default raw). The group sees
	// packets before netfilter, reverse-path filtering and IPsec policy
	// do (README, "Queues and workers").
	IPIPFanout bool
	// Accept is AcceptAny or AcceptPeers: whom VXLAN networks take
	// packets from. IPIP networks take them from their routes' endpoints
	// whatever it says.
	Accept string
	// Allow lists more prefixes accepted with AcceptPeers, on every
	// network; nil without.
	Allow []netip.Prefix
}

// Offload is the set of offloads vtepd uses, each on by default; a kernel
// that lacks one makes vtepd fail at start with an error naming it, rather
// than run slower in silence (TSO excepted: a device that refuses it is
// opened without, as the kernel's own drivers degrade).
type Offload struct {
	// TSO opens TAP and TUN devices with a virtio-net header and TCP
	// segmentation offload: TCP crosses them in super-frames of up to
	// 64 KiB, segmented (and, on receive, coalesced) in vtepd. Where the
	// kernel has UDP segmentation offload (6.2 on), UDP does the same.
	TSO bool
	// GSO sends a super-frame's VXLAN datagrams as one UDP GSO train.
	GSO bool
	// GRO receives coalesced trains of VXLAN datagrams (UDP_GRO).
	GRO bool
}

// MaxQueues is the most queues a device may have: the kernel allows 256
// (MAX_TAP_QUEUES), but past a host's CPUs more only cost memory.
const MaxQueues = 64

// The ways IPIP networks receive (Underlay.IPIPFanout).
const (
	IPIPReceiveRaw    = "raw"
	IPIPReceiveFanout = "fanout"
)

// wantIPIPReceive is what ipip_receive and --ipip-receive take.
const wantIPIPReceive = IPIPReceiveRaw + " or " + IPIPReceiveFanout

// parseIPIPReceive reads ipip_receive: whether IPIP uses a fanout group,
// and whether s is one of the two.
func parseIPIPReceive(s string) (fanout, ok bool) {
	return s == IPIPReceiveFanout, s == IPIPReceiveRaw || s == IPIPReceiveFanout
}

// MaxBusyPoll is the longest busy-poll spin accepted: past a millisecond
// a spinning worker only burns its core.
const MaxBusyPoll = time.Millisecond

// DefaultQueues is the number of queues vtepd uses when none is asked for:
// one per CPU it may run on (its affinity mask, GOMAXPROCS), at most 8.
// Past 8 the kernel's side of one flow, not vtepd, is what limits it, and
// each queue costs its workers' buffers: about 1.3 MiB to transmit and 2 MiB
// to receive.
func DefaultQueues() int { return min(runtime.GOMAXPROCS(0), 8) }

// DefaultOffload is every offload on.
var DefaultOffload = Offload{TSO: true, GSO: true, GRO: true}

// String is the offload set in the words ParseOffload reads.
func (o Offload) String() string {
	w := func(on bool) string {
		if on {
			return "on"
		}
		return "off"
	}
	return "tso=" + w(o.TSO) + ",gso=" + w(o.GSO) + ",gro=" + w(o.GRO)
}

// wantOffload is what ParseOffload accepts, for error messages.
const wantOffload = `"on", "off" or a list like "tso=off,gso=on,gro=on"`

// ParseOffload reads an offload setting: "on" or "off" for all of them, or
// a comma-separated list of tso, gso and gro, each =on or =off, applied to
// the defaults (all on), as ethtool -K names features one by one.
func ParseOffload(s string) (Offload, error) {
	o := DefaultOffload
	switch s {
	case "on":
		return o, nil
	case "off":
		return Offload{}, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		var on bool
		switch val {
		case "on":
			on = true
		case "off":
		default:
			ok = false
		}
		if !ok {
			return o, fmt.Errorf("want %s, got %q", wantOffload, s)
		}
		switch name {
		case "tso":
			o.TSO = on
		case "gso":
			o.GSO = on
		case "gro":
			o.GRO = on
		default:
			return o, fmt.Errorf("unknown offload %q, want tso, gso or gro", name)
		}
	}
	return o, nil
}

// Network is one overlay device: a VXLAN segment or an IPIP tunnel.
type Network struct {
	Name    string       // interface to create
	Kind    string       // KindVXLAN or KindIPIP
	VNI     uint32       // vxlan only
	Address netip.Prefix // assigned to the device; zero if absent
	MTU     int          // 0 = the daemon decides from the underlay

	// vxlan only.
	Remotes  []netip.Addr  // flood list, head-end replication
	Group    netip.Addr    // multicast group; zero if absent
	Dev      string        // underlay device; required with Group
	Learning bool          // learn source MACs from received frames
	Ageing   time.Duration // 0 means never age
	Limit    int           // most learnt entries
	// MACMoves is how many times a second one learnt MAC may move to
	// another remote; a frame that would move it further is dropped
	// (mac_flap). 0 means no limit, as the kernel.
	MACMoves int
	// FloodRate is how many frames a second may be flooded (broadcast,
	// multicast, unknown unicast), with a burst of as many; more are
	// dropped (flood_limit). 0 means no limit.
	FloodRate int
	// EVPN announces the network over BGP (type 3 routes) and fills its
	// flood list from the peers' (Config.BGP).
	EVPN bool

	// ipip only.
	Remote netip.Addr // point-to-point peer (a default route); zero if absent
	// BGP announces the network's Blocks over BGP with the underlay
	// address as next hop, and routes the peers' blocks into it
	// (Config.BGP), as Calico's nodes do.
	BGP bool
	// Blocks are the prefixes announced; with BGP, the Address's prefix
	// when none are given.
	Blocks []netip.Prefix
	// AcceptDefault takes a default route a peer announces; without it
	// such a route is ignored.
	AcceptDefault bool
	TTL           uint8 // 0 = inherit from the inner packet
	// DF is the outer DF bit: DFInherit (copy the inner packet's), DFSet
	// or DFUnset; for vxlan, "" is unset, and for ipip the default is
	// DFInherit.
	DF     string
	Routes []Route
}

// Route sends packets for Prefix to the tunnel endpoint Via.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
}

// Load reads and parses the config file at path. Errors start with the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse decodes a YAML config, applies defaults and validates it. Unknown
// fields are errors. The error names the field path and what was expected.
func Parse(data []byte) (*Config, error) {
	var raw rawConfig
	if err := decodeYAML(data, &raw); err != nil {
		return nil, err
	}
	c, err := raw.config()
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// tabIndent returns the first line whose indentation holds a tab.
func tabIndent(data []byte) (int, bool) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 && len(bytes.TrimSpace(line)) > 0 {
			return i + 1, true
		}
	}
	return 0, false
}

// decodeYAML decodes one document into raw, refusing unknown fields,
// keys given twice and values of the wrong shape (checkShape).
func decodeYAML(data []byte, raw *rawConfig) (err error) {
	// yaml.v3 can panic on odd merge keys ("<<") instead of returning an
	// error; a config file must never take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("config: the YAML decoder failed: %s", oneLine(fmt.Sprint(r)))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		// YAML indents with spaces only; a tab there is the usual cause,
		// which the parser's message does not name.
		if line, ok := tabIndent(data); ok {
			return fmt.Errorf("config: line %d: a tab in the indentation (YAML indents with spaces only)", line)
		}
		return fmt.Errorf("config: %s", oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("config: want one YAML document, got more")
	}
	if err := checkShape(&doc, reflect.TypeOf(*raw)); err != nil {
		return err
	}
	if doc.Kind == 0 {
		return nil // an empty file: every field left out
	}
	if err := doc.Decode(raw); err != nil {
		return fmt.Errorf("config: %s", oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	return nil
}

// The raw* types mirror the YAML shape. Scalars are kept as nodes so that a
// wrong value is reported with its field path rather than as a Go type.
type rawConfig struct {
	Underlay rawUnderlay  `yaml:"underlay"`
	Networks []rawNetwork `yaml:"networks"`
	Control  yaml.Node    `yaml:"control"`
	Metrics  yaml.Node    `yaml:"metrics"`
	LogLevel yaml.Node    `yaml:"log_level"`
	// on_device_loss: recreate or exit.
	OnDeviceLoss yaml.Node `yaml:"on_device_loss"`
	BGP          *rawBGP   `yaml:"bgp"`
}

type rawUnderlay struct {
	Local    yaml.Node `yaml:"local"`
	Port     yaml.Node `yaml:"port"`
	SrcPort  yaml.Node `yaml:"srcport"`
	TTL      yaml.Node `yaml:"ttl"`
	McastTTL yaml.Node `yaml:"mcast_ttl"`
	UDPCsum  yaml.Node `yaml:"udpcsum"`
	Offload  yaml.Node `yaml:"offload"`
	Queues   yaml.Node `yaml:"queues"`
	BusyPoll yaml.Node `yaml:"busy_poll"`
	IPIPRecv yaml.Node `yaml:"ipip_receive"`
	Accept   yaml.Node `yaml:"accept"`
	Allow    yaml.Node `yaml:"allow"`
}

type rawNetwork struct {
	Name     yaml.Node  `yaml:"name"`
	Kind     yaml.Node  `yaml:"kind"`
	VNI      yaml.Node  `yaml:"vni"`
	Address  yaml.Node  `yaml:"address"`
	MTU      yaml.Node  `yaml:"mtu"`
	Remotes  yaml.Node  `yaml:"remotes"`
	Group    yaml.Node  `yaml:"group"`
	Dev      yaml.Node  `yaml:"dev"`
	Learning yaml.Node  `yaml:"learning"`
	Ageing   yaml.Node  `yaml:"ageing"`
	Limit    yaml.Node  `yaml:"limit"`
	MACMoves yaml.Node  `yaml:"mac_moves"`
	Flood    yaml.Node  `yaml:"flood_rate"`
	EVPN     yaml.Node  `yaml:"evpn"`
	Remote   yaml.Node  `yaml:"remote"`
	BGP      yaml.Node  `yaml:"bgp"`
	Blocks   yaml.Node  `yaml:"blocks"`
	AcceptDf yaml.Node  `yaml:"accept_default"`
	TTL      yaml.Node  `yaml:"ttl"`
	DF       yaml.Node  `yaml:"df"`
	Routes   []rawRoute `yaml:"routes"`
}

type rawRoute struct {
	Prefix yaml.Node `yaml:"prefix"`
	Via    yaml.Node `yaml:"via"`
}

func (r *rawConfig) config() (*Config, error) {
	c := &Config{Control: DefaultControl, LogLevel: DefaultLogLevel}
	if err := r.Underlay.decode(&c.Underlay); err != nil {
		return nil, err
	}
	for i := range r.Networks {
		n, err := r.Networks[i].values(fmt.Sprintf("networks[%d]", i)).network()
		if err != nil {
			return nil, err
		}
		c.Networks = append(c.Networks, n)
	}
	var err error
	if c.Control, err = field("control", &r.Control).str(c.Control); err != nil {
		return nil, err
	}
	if c.Metrics, err = field("metrics", &r.Metrics).str(""); err != nil {
		return nil, err
	}
	if c.LogLevel, err = field("log_level", &r.LogLevel).str(c.LogLevel); err != nil {
		return nil, err
	}
	if c.OnDeviceLoss, err = field("on_device_loss", &r.OnDeviceLoss).str(""); err != nil {
		return nil, err
	}
	if r.BGP != nil {
		if c.BGP, err = r.BGP.decode(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type rawBGP struct {
	ASN        yaml.Node     `yaml:"asn"`
	RouterID   yaml.Node     `yaml:"router_id"`
	ListenPort yaml.Node     `yaml:"listen_port"`
	Neighbors  []rawNeighbor `yaml:"neighbors"`
}

type rawNeighbor struct {
	Address  yaml.Node `yaml:"address"`
	ASN      yaml.Node `yaml:"asn"`
	Port     yaml.Node `yaml:"port"`
	Password yaml.Node `yaml:"password"`
	Passive  yaml.Node `yaml:"passive"`
	MaxPfx   yaml.Node `yaml:"max_prefixes"`
}

func (r *rawBGP) decode() (*BGP, error) {
	b := &BGP{}
	asn := field("bgp.asn", &r.ASN)
	if !asn.present() {
		return nil, asn.errorf("required (the speaker's AS number)")
	}
	v, err := asn.integer(1, 1<<32-1, 0)
	if err != nil {
		return nil, err
	}
	b.ASN = uint32(v)
	if id := field("bgp.router_id", &r.RouterID); id.present() {
		if b.RouterID, err = id.addr(); err != nil {
			return nil, err
		}
	}
	lp := field("bgp.listen_port", &r.ListenPort)
	port, err := lp.integerOr(0, 65535, DefaultBGPPort, "(0 = only dial out)")
	if err != nil {
		return nil, err
	}
	b.ListenPort = int(port)
	if lp.present() && port == 0 {
		b.ListenPort = -1
	}
	for i := range r.Neighbors {
		p := fmt.Sprintf("bgp.neighbors[%d]", i)
		rn := &r.Neighbors[i]
		var n Neighbor
		a := field(p+".address", &rn.Address)
		if !a.present() {
			return nil, a.errorf("required (the peer's address)")
		}
		if n.Address, err = a.addr(); err != nil {
			return nil, err
		}
		v, err := field(p+".asn", &rn.ASN).integer(1, 1<<32-1, int64(b.ASN))
		if err != nil {
			return nil, err
		}
		n.ASN = uint32(v)
		pv, err := field(p+".port", &rn.Port).integer(1, 65535, DefaultBGPPort)
		if err != nil {
			return nil, err
		}
		n.Port = uint16(pv)
		if n.Password, err = field(p+".password", &rn.Password).str(""); err != nil {
			return nil, err
		}
		if n.Passive, err = field(p+".passive", &rn.Passive).boolean(false); err != nil {
			return nil, err
		}
		if n.MaxPrefixes, err = asInt(field(p+".max_prefixes", &rn.MaxPfx).integerOr(0, maxLimit, 0, "(0 = no limit)")); err != nil {
			return nil, err
		}
		b.Neighbors = append(b.Neighbors, n)
	}
	return b, nil
}

func (r *rawUnderlay) decode(u *Underlay) error {
	var err error
	local := field("underlay.local", &r.Local)
	if local.present() {
		if u.Local, err = local.addr(); err != nil {
			return err
		}
	}
	port, err := field("underlay.port", &r.Port).integer(1, 65535, DefaultPort)
	if err != nil {
		return err
	}
	u.Port = uint16(port)
	u.SrcPortMin, u.SrcPortMax = defaultSrcPorts()
	if sp := field("underlay.srcport", &r.SrcPort); sp.present() {
		s, err := sp.str("")
		if err != nil {
			return err
		}
		var ok bool
		if u.SrcPortMin, u.SrcPortMax, ok = parseSrcPort(s); !ok {
			return sp.errorf("want %s, got %s", wantSrcPort, sp.got())
		}
	}
	ttl, err := field("underlay.ttl", &r.TTL).integer(1, 255, DefaultTTL)
	if err != nil {
		return err
	}
	u.TTL = uint8(ttl)
	mttl, err := field("underlay.mcast_ttl", &r.McastTTL).integer(1, 255, DefaultMcastTTL)
	if err != nil {
		return err
	}
	u.McastTTL = uint8(mttl)
	if u.UDPCsum, err = field("underlay.udpcsum", &r.UDPCsum).boolean(false); err != nil {
		return err
	}
	u.Offload = DefaultOffload
	if of := field("underlay.offload", &r.Offload); of.present() {
		s, err := of.str("")
		if err != nil {
			return err
		}
		if u.Offload, err = ParseOffload(s); err != nil {
			return of.errorf("%v", err)
		}
	}
	queues, err := field("underlay.queues", &r.Queues).integer(0, MaxQueues, 0)
	if err != nil {
		return err
	}
	u.Queues = int(queues)
	bp := field("underlay.busy_poll", &r.BusyPoll)
	if u.BusyPoll, err = bp.duration(0); err != nil {
		return err
	}
	if u.BusyPoll < 0 || u.BusyPoll > MaxBusyPoll {
		return bp.errorf("want a duration 0..%v like 50us, got %s", MaxBusyPoll, bp.got())
	}
	ir := field("underlay.ipip_receive", &r.IPIPRecv)
	recv, err := ir.str(IPIPReceiveRaw)
	if err != nil {
		return err
	}
	var ok bool
	if u.IPIPFanout, ok = parseIPIPReceive(recv); !ok {
		return ir.errorf("want %s, got %s", wantIPIPReceive, ir.got())
	}
	accept := field("underlay.accept", &r.Accept)
	if u.Accept, err = accept.str(AcceptAny); err != nil {
		return err
	}
	if err := checkAccept(u.Accept); err != nil {
		return accept.errorf("%v, got %s", err, accept.got())
	}
	if u.Allow, err = field("underlay.allow", &r.Allow).prefixList(); err != nil {
		return err
	}
	return nil
}

// Texts of what is expected, shared by the config and flag parsers so both
// speak alike.
const (
	wantSrcPort = "MIN-MAX like 32768-60999 (1 <= MIN <= MAX <= 65535)"
	wantIPIPTTL = `an integer 1..255 or "inherit"`
	wantDF      = `want "inherit", "set" or "unset"`
	wantMAC     = "aa:bb:cc:dd:ee:ff"
	wantAccept  = "want any or peers"
	wantAllow   = "a network prefix like 10.0.0.0/24, or one address"
)

// checkAccept accepts the words of the underlay's accept setting.
func checkAccept(s string) error {
	if s == AcceptAny || s == AcceptPeers {
		return nil
	}
	return errors.New(wantAccept)
}

// parseAllow reads one allow entry: a prefix without host bits, or a bare
// address standing for itself alone.
func parseAllow(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, p == p.Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// parseSrcPort parses "MIN-MAX".
func parseSrcPort(s string) (lo, hi uint16, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l < 1 || l > h {
		return 0, 0, false
	}
	return uint16(l), uint16(h), true
}

// defaultSrcPorts is this host's local port range, as the kernel vxlan driver
// uses, or Linux's default when it cannot be read.
func defaultSrcPorts() (lo, hi uint16) {
	data, err := os.ReadFile(portRangeFile)
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if l, h, ok := parseSrcPort(f[0] + "-" + f[1]); ok {
				return l, h
			}
		}
	}
	return DefaultSrcPortMin, DefaultSrcPortMax
}

// parseDuration accepts a Go duration ("300s", "5m") or bare seconds, as
// ip-link's ageing takes.
func parseDuration(s string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// checkDF accepts the words of ip-link's df setting.
func checkDF(df string) error {
	switch df {
	case DFInherit, DFSet, DFUnset:
		return nil
	}
	return errors.New(wantDF)
}

package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// FDBEntry is one forwarding entry as the API shows it. A flood-list entry
// has MAC 00:00:00:00:00:00.
type FDBEntry struct {
	MAC     string `json:"mac"`
	Dst     string `json:"dst"`
	VNI     uint32 `json:"vni"`
	Network string `json:"network"`
	Static  bool   `json:"static"`
	// Extern marks an entry BGP EVPN installed (iproute2's extern_learn).
	Extern     bool    `json:"extern_learn,omitempty"`
	AgeSeconds float64 `json:"age_seconds"`
	// UsedSeconds and UpdatedSeconds are how long ago a frame was last
	// sent by the entry (to the second) and the entry last added or
	// refreshed, static entries included; 0 for flood entries.
	UsedSeconds    float64 `json:"used_seconds"`
	UpdatedSeconds float64 `json:"updated_seconds"`
}

// NetworkInfo describes one running network.
type NetworkInfo struct {
	Name     string      `json:"name"`
	Kind     string      `json:"kind"`
	VNI      uint32      `json:"vni"`
	Local    string      `json:"local"`
	Port     uint16      `json:"port"`
	MTU      int         `json:"mtu"`
	Address  string      `json:"address"`
	Remotes  []string    `json:"remotes"`
	Routes   []RouteInfo `json:"routes"`
	Learning bool        `json:"learning"`
	Ageing   string      `json:"ageing"`
	Limit    int         `json:"limit"`
}

// RouteInfo is one route of an ipip network.
type RouteInfo struct {
	Prefix string `json:"prefix"`
	Via    string `json:"via"`
	// Proto says who made a running route, in iproute2's words: static
	// (the config or vtepctl) or bgp (a peer's block). Left out in a
	// network's spec.
	Proto string `json:"proto,omitempty"`
}

// Route origins, as RouteInfo.Proto gives them.
const (
	ProtoStatic = "static"
	ProtoBGP    = "bgp"
)

// NetworkStats are one network's counters.
type NetworkStats struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	VNI       uint32 `json:"vni"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	// Drops counts dropped packets by reason, e.g. "malformed",
	// "unknown_vni", "too_big", "fdb_full", "tap_write".
	Drops      map[string]uint64 `json:"drops"`
	FDBEntries int               `json:"fdb_entries"`
	Learnt     uint64            `json:"learnt"`
	Moved      uint64            `json:"moved"`
	Aged       uint64            `json:"aged"`
	Flooded    uint64            `json:"flooded"`
	// CsumCompleted counts received packets whose TCP or UDP checksum the
	// sender had left for offload and vtepd finished before delivering
	// them (a kernel vxlan peer behind a veth sends such packets).
	CsumCompleted uint64 `json:"csum_completed"`
	// ARPSuppressed counts ARP requests from the device that vtepd
	// answered for a host an EVPN peer announced; ARPFlooded those it
	// could not answer, which were flooded (EVPN networks only).
	ARPSuppressed uint64 `json:"arp_suppressed"`
	ARPFlooded    uint64 `json:"arp_flooded"`
	// Offload is the work the offloads did; all zero with them off.
	Offload OffloadStats `json:"offload"`
	// Queues is the traffic of each of the network's device queues, or of
	// each of the underlay's receiving sockets, so the spread over workers
	// shows.
	Queues []QueueStats `json:"queues,omitempty"`
}

// QueueStats is one device queue's traffic: frames read from it and sent
// (tx), frames written into it (rx); or one receiving socket's: packets
// read from it (rx), and sent by the networks' transmit workers of its
// index (tx).
type QueueStats struct {
	Queue     int    `json:"queue"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	// WorkerUpSeconds is how long the queue's own worker has run (a
	// device queue's transmit worker, a socket's receiving worker), and
	// WorkerBusySeconds the part of it the worker was not waiting for
	// packets (busy polling counts as busy). A busy share near 1 is a
	// worker that cannot keep up: its flows need another queue or core.
	WorkerUpSeconds   float64 `json:"worker_up_seconds"`
	WorkerBusySeconds float64 `json:"worker_busy_seconds"`
}

// OffloadStats say how much traffic the offloads carried (dataplane's
// OffloadCounters): TCP super-frames read from the device and the segments
// they were cut into; UDP GSO sends of more than one datagram and the
// datagrams in them; GRO trains received (on the underlay entries, counted
// before the VNI is known) and their datagrams; super-frames written to the
// device and the frames coalesced into them.
type OffloadStats struct {
	TSOFrames       uint64 `json:"tso_frames"`
	TSOSegments     uint64 `json:"tso_segments"`
	GSOSends        uint64 `json:"gso_sends"`
	GSODatagrams    uint64 `json:"gso_datagrams"`
	GROTrains       uint64 `json:"gro_trains"`
	GRODatagrams    uint64 `json:"gro_datagrams"`
	CoalescedWrites uint64 `json:"coalesced_writes"`
	CoalescedFrames uint64 `json:"coalesced_frames"`
	// Fallbacks counts offloads turned off because the kernel refused
	// them (GSO, GRO), at start or while forwarding.
	Fallbacks uint64 `json:"fallbacks"`
}

// IsZero reports whether the offloads did nothing.
func (o OffloadStats) IsZero() bool { return o == OffloadStats{} }

// Errors a Backend wraps so the server can answer with the right status;
// the client hands them back the same way, so errors.Is works on both sides.
var (
	ErrNotFound = errors.New("not found")      // HTTP 404
	ErrExists   = errors.New("already exists") // HTTP 409
	ErrInvalid  = errors.New("invalid")        // HTTP 400
)

// kindError is a message for the user that is also one of the kinds above,
// for the status code, without the kind's own words in its text.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Errorf formats a message, like fmt.Errorf, that errors.Is reports as kind
// (ErrNotFound, ErrExists or ErrInvalid); the text is only the message.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{fmt.Sprintf(format, args...), kind}
}

// Backend is what the daemon plugs into the control server. Its methods are
// called concurrently, from the server's goroutines.
type Backend interface {
	Networks() []NetworkInfo
	// FDB lists the entries of network vni, or of every network when all is
	// set. An unknown vni is ErrNotFound.
	FDB(vni uint32, all bool) ([]FDBEntry, error)
	// FDBAdd adds a static entry; the zero MAC appends dst to the flood list.
	FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error
	// FDBReplace adds a static entry or points the existing one for mac at
	// dst (`bridge fdb replace`); the zero MAC appends dst to the flood list
	// unless it is there already.
	FDBReplace(vni uint32, mac fdb.MAC, dst netip.Addr) error
	// FDBDel removes an entry; the zero MAC needs dst (the flood-list entry
	// to remove), any other MAC takes dst as optional.
	FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error
	Stats() []NetworkStats
	// RouteShow lists the routes of an ipip network, "" for all of them.
	RouteShow(network string) ([]RouteInfo, error)
	RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error
	RouteDel(network string, prefix netip.Prefix) error

	// NetworkAdd starts a network at run time. n comes from
	// ParseNetworkFlags or a decoded NetworkSpec with defaults applied; the
	// backend checks it against the running daemon (underlay family, name or
	// VNI in use -> ErrExists, anything else invalid -> ErrInvalid, with a
	// message naming the field).
	NetworkAdd(n Network) error
	// NetworkDel stops a network and removes its device; an unknown name is
	// ErrNotFound.
	NetworkDel(name string) error
	// PeerAdd appends peer to the flood list of network vni (like `bridge
	// fdb append 00:00:00:00:00:00 dst IP`); ErrExists if it is there
	// already, ErrNotFound for an unknown vni.
	PeerAdd(vni uint32, peer netip.Addr) error
	// PeerDel removes peer from the flood list of network vni; ErrNotFound
	// if it is not there.
	PeerDel(vni uint32, peer netip.Addr) error
	// FDBFlush removes the learnt entries (static entries and the flood list
	// stay) of network vni, or of every network when all is set, and returns
	// how many it removed.
	FDBFlush(vni uint32, all bool) (int, error)

	// Trace starts following frames live: the events of req.Network (""
	// for every network) whose inner frame matches req.Match, until the
	// stream is closed. An unknown network is ErrNotFound, a match
	// expression that does not parse ErrInvalid (naming the word at fault).
	// req.Count is the server's business, not the backend's.
	Trace(req TraceRequest) (TraceStream, error)

	// BGP describes the BGP speaker and its sessions; ErrNotFound when
	// vtepd runs none.
	BGP() (BGPInfo, error)
	// BGPNeighborAdd opens a session with a new neighbor (ErrExists for
	// one already there); BGPNeighborDel closes one (ErrNotFound).
	BGPNeighborAdd(n Neighbor) error
	BGPNeighborDel(addr netip.Addr) error
	// EVPNRoutes lists the EVPN routes of network vni, or of every VNI
	// when all is set: ours and the peers', each path of each.
	EVPNRoutes(vni uint32, all bool) ([]EVPNRoute, error)
	// Simulate says what a network would do with the frame or packet
	// req.Expr describes (ParseSimulation), sending nothing. A bad
	// expression is ErrInvalid naming the word; an unknown network
	// ErrNotFound.
	Simulate(req SimulateRequest) (SimulateResult, error)
}

// BGPInfo is the BGP speaker, as GET /v1/bgp gives it.
type BGPInfo struct {
	ASN       uint32        `json:"asn"`
	RouterID  string        `json:"router_id"`
	Neighbors []BGPNeighbor `json:"neighbors"`
	// Ignored counts the peers' routes vtepd did not use, by reason:
	// own, malformed, route_type, max_prefixes, vni (not served with
	// evpn), next_hop (not reachable on the underlay), static (a static
	// FDB entry holds the MAC), fdb (the table is full).
	Ignored map[string]uint64 `json:"ignored"`
}

// BGPNeighbor is one BGP session.
type BGPNeighbor struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// State is the session's state in RFC 4271's words (Idle, Connect,
	// Active, OpenSent, OpenConfirm, Established).
	State string `json:"state"`
	// UptimeSeconds is how long the session has been established, or
	// down (0 if it never came up).
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Received, Accepted and Sent count the EVPN routes.
	Received uint64 `json:"received"`
	Accepted uint64 `json:"accepted"`
	Sent     uint64 `json:"sent"`
	// Reason is why the last session ended, when known.
	Reason string `json:"reason,omitempty"`
}

// EVPNRoute is one path of an EVPN route.
type EVPNRoute struct {
	// Type is the route type: 2 (MAC/IP advertisement) or 3 (inclusive
	// multicast Ethernet tag).
	Type    uint8  `json:"type"`
	RD      string `json:"rd"`
	VNI     uint32 `json:"vni"`
	MAC     string `json:"mac,omitempty"`
	IP      string `json:"ip,omitempty"`
	NextHop string `json:"next_hop"`
	// Seq is a type 2 route's MAC mobility sequence number.
	Seq uint32 `json:"seq,omitempty"`
	// Peer is who sent it; "" for our own.
	Peer string `json:"peer,omitempty"`
	Best bool   `json:"best"`
}

// neighborRequest is the body of POST /v1/bgp/neighbors.
type neighborRequest struct {
	Address     string  `json:"address"`
	ASN         *uint32 `json:"asn,omitempty"` // default: the speaker's own (iBGP)
	Port        *uint16 `json:"port,omitempty"`
	Password    string  `json:"password,omitempty"`
	Passive     bool    `json:"passive,omitempty"`
	MaxPrefixes int     `json:"max_prefixes,omitempty"`
}

// TraceRequest is what GET /v1/trace asks for.
type TraceRequest struct {
	Network string // "" for every network
	Match   string // a match expression (see dataplane.Filter); "" for all
	// Count ends the trace after this many frames, every stage of each
	// included; 0 follows frames until the client leaves.
	Count int
}

// TraceStream is one trace's events, as a Backend hands them to the server.
type TraceStream interface {
	// Next returns the next event, waiting for one; it returns ctx's error
	// when ctx ends first.
	Next(ctx context.Context) (TraceEvent, error)
	// Lost is how many events the stream lost so far because its reader
	// fell behind the dataplane.
	Lost() uint64
	// Close ends the stream and frees what it holds in the daemon.
	Close() error
}

// TraceEvent is one frame at one stage of its trip through vtepd, as GET
// /v1/trace sends it: one JSON object per line.
type TraceEvent struct {
	// Frame numbers the frames of a network: every stage of one frame
	// carries the same number.
	Frame   uint64    `json:"frame"`
	Stage   string    `json:"stage"` // one of the Stage* names
	Network string    `json:"network"`
	Kind    string    `json:"kind"` // "vxlan" or "ipip"
	VNI     uint32    `json:"vni"`
	Time    time.Time `json:"time"`
	// Peer is the remote VTEP: destination going out, sender coming in, the
	// FDB entry's or route's remote at lookup and learn.
	Peer     string `json:"peer,omitempty"`
	PeerPort uint16 `json:"peer_port,omitempty"`
	// Local and LocalPort are this end of the underlay.
	Local     string `json:"local,omitempty"`
	LocalPort uint16 `json:"local_port,omitempty"`
	// UDPPayload: the bytes of a socket stage start at the UDP payload (the
	// VXLAN header); the socket, not vtepd, handled the IP and UDP headers.
	UDPPayload bool     `json:"udp_payload,omitempty"`
	Lookup     string   `json:"lookup,omitempty"`  // one of the Lookup* results
	Remotes    []string `json:"remotes,omitempty"` // every copy of a flood
	Route      string   `json:"route,omitempty"`   // the IPIP route's prefix, at a route lookup
	// Answer is, at a lookup of LookupSuppressed, the frame written into
	// the device in the request's place (base64 in JSON); its write
	// follows as a frame of its own.
	Answer []byte `json:"answer,omitempty"`
	Learn  string `json:"learn,omitempty"` // what learning the source MAC did
	Drop   string `json:"drop,omitempty"`  // the drop reason, as stats names it
	At     string `json:"at,omitempty"`    // the stage a drop happened at
	// Lost counts the events this trace lost so far because its reader
	// fell behind.
	Lost uint64 `json:"lost,omitempty"`
	// Bytes is the frame or packet at this stage (base64 in JSON): the
	// inner frame at device-in, lookup, decap, learn and device-out; the
	// whole outer IP packet at encap and socket-out (or the UDP payload
	// when UDPPayload is set); at socket-in the UDP payload (VXLAN) or the
	// whole outer IP packet (IPIP); at drop the bytes of the stage At.
	Bytes []byte `json:"bytes"`
}

// Stages of TraceEvent.Stage and At, in the order a frame meets them: the
// dataplane's names.
const (
	StageDeviceIn  = dataplane.NameDeviceIn
	StageLookup    = dataplane.NameLookup
	StageEncap     = dataplane.NameEncap
	StageSocketOut = dataplane.NameSocketOut
	StageSocketIn  = dataplane.NameSocketIn
	StageDecap     = dataplane.NameDecap
	StageLearn     = dataplane.NameLearn
	StageDeviceOut = dataplane.NameDeviceOut
	StageDrop      = dataplane.NameDrop
)

// Results of TraceEvent.Lookup: the dataplane's.
const (
	LookupHit     = dataplane.LookupHit     // the FDB knows the destination MAC
	LookupMiss    = dataplane.LookupMiss    // unknown unicast, flooded to Remotes
	LookupFlood   = dataplane.LookupFlood   // broadcast or multicast, flooded to Remotes
	LookupRoute   = dataplane.LookupRoute   // an IPIP route to Peer
	LookupNoRoute = dataplane.LookupNoRoute // no IPIP route
	// LookupSuppressed: answered into the device, sent nowhere; Answer
	// is the answer, and the frame goes no further.
	LookupSuppressed = dataplane.LookupSuppressed
)

// Drop reasons the trace's frame count tells apart (see dataplane).
const (
	DropSendError = dataplane.NameSendError
	DropFDBFull   = dataplane.NameFDBFull
)

// Request bodies and the error body, shared by server and client.
type fdbRequest struct {
	MAC     string  `json:"mac"`
	Dst     string  `json:"dst"`
	VNI     *uint32 `json:"vni"`
	Replace bool    `json:"replace,omitempty"`
}

type routeRequest struct {
	Network string `json:"network"`
	Prefix  string `json:"prefix"`
	Via     string `json:"via"`
}

type peerRequest struct {
	VNI  *uint32 `json:"vni"`
	Peer string  `json:"peer"`
}

type flushRequest struct {
	VNI *uint32 `json:"vni,omitempty"` // absent: every network
}

type flushReply struct {
	Flushed int `json:"flushed"`
}

type errorBody struct {
	Error string `json:"error"`
}

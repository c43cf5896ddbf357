package control

import (
	"errors"
	"net/netip"

	"github.com/vtepd/vtepd/fdb"
)

// FDBEntry is one forwarding entry as the API shows it. A flood-list entry
// has MAC 00:00:00:00:00:00.
type FDBEntry struct {
	MAC        string  `json:"mac"`
	Dst        string  `json:"dst"`
	VNI        uint32  `json:"vni"`
	Network    string  `json:"network"`
	Static     bool    `json:"static"`
	AgeSeconds float64 `json:"age_seconds"`
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
}

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
}

// Errors a Backend wraps so the server can answer with the right status;
// the client hands them back the same way, so errors.Is works on both sides.
var (
	ErrNotFound = errors.New("not found")      // HTTP 404
	ErrExists   = errors.New("already exists") // HTTP 409
	ErrInvalid  = errors.New("invalid")        // HTTP 400
)

// Backend is what the daemon plugs into the control server. Its methods are
// called concurrently, from the server's goroutines.
type Backend interface {
	Networks() []NetworkInfo
	// FDB lists the entries of network vni, or of every network when all is
	// set. An unknown vni is ErrNotFound.
	FDB(vni uint32, all bool) ([]FDBEntry, error)
	// FDBAdd adds a static entry; the zero MAC appends dst to the flood list.
	FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error
	// FDBDel removes an entry; the zero MAC needs dst (the flood-list entry
	// to remove), any other MAC takes dst as optional.
	FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error
	Stats() []NetworkStats
	// RouteShow lists the routes of an ipip network, "" for all of them.
	RouteShow(network string) ([]RouteInfo, error)
	RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error
	RouteDel(network string, prefix netip.Prefix) error
}

// Request bodies and the error body, shared by server and client.
type fdbRequest struct {
	MAC string  `json:"mac"`
	Dst string  `json:"dst"`
	VNI *uint32 `json:"vni"`
}

type routeRequest struct {
	Network string `json:"network"`
	Prefix  string `json:"prefix"`
	Via     string `json:"via"`
}

type errorBody struct {
	Error string `json:"error"`
}

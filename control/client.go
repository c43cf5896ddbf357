package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/vtepd/vtepd/fdb"
)

// clientTimeout bounds one request; every call is a table read or a single
// update, so a daemon that takes longer is stuck.
const clientTimeout = 30 * time.Second

// Client speaks the control API over a unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the vtepd listening on socket. Nothing is
// dialled until the first call.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 1,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr, Timeout: clientTimeout}}
}

// APIError is an error answer from vtepd. Its text is the server's, verbatim;
// errors.Is matches ErrInvalid, ErrNotFound or ErrExists by status.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrExists
	}
	return nil
}

// do sends one request. A failure to talk to the daemon at all reads
// "cannot reach vtepd at SOCKET: ...".
func (c *Client) do(method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, apiURL(path, q), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return c.unreachable(err)
	}
	if resp.StatusCode >= 300 {
		return answerError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("vtepd sent a reply that is not the expected JSON: %w", err)
		}
	}
	return nil
}

// apiURL is the URL of path with query q; the host is a placeholder, the
// transport dials the socket whatever it says.
func apiURL(path string, q url.Values) string {
	if len(q) == 0 {
		return "http://vtepd" + path
	}
	return "http://vtepd" + path + "?" + q.Encode()
}

// unreachable is the error of a request that got no answer from vtepd.
func (c *Client) unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach vtepd at %s: %w", c.socket, err)
}

// answerError is the APIError of an answer with status 300 or more whose
// body is data: the server's message, or the status when it sent none.
func answerError(resp *http.Response, data []byte) error {
	var eb errorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("vtepd answered %s", resp.Status)
	}
	return &APIError{Status: resp.StatusCode, Message: eb.Error}
}

// Networks lists the running networks.
func (c *Client) Networks() ([]NetworkInfo, error) {
	var out []NetworkInfo
	err := c.do(http.MethodGet, "/v1/networks", nil, nil, &out)
	return out, err
}

// FDB lists the entries of network vni, or of all networks when all is set.
func (c *Client) FDB(vni uint32, all bool) ([]FDBEntry, error) {
	var q url.Values
	if !all {
		q = url.Values{"vni": {strconv.FormatUint(uint64(vni), 10)}}
	}
	var out []FDBEntry
	err := c.do(http.MethodGet, "/v1/fdb", q, nil, &out)
	return out, err
}

// FDBAdd adds a static entry; the zero MAC appends dst to the flood list.
func (c *Client) FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	return c.do(http.MethodPost, "/v1/fdb", nil, fdbRequest{MAC: mac.String(), Dst: addrString(dst), VNI: &vni}, nil)
}

// FDBReplace adds a static entry or points the one for mac at dst.
func (c *Client) FDBReplace(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	return c.do(http.MethodPost, "/v1/fdb", nil, fdbRequest{MAC: mac.String(), Dst: addrString(dst), VNI: &vni, Replace: true}, nil)
}

// FDBDel removes an entry; dst may be the zero Addr unless mac is zero.
func (c *Client) FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	q := url.Values{"mac": {mac.String()}, "vni": {strconv.FormatUint(uint64(vni), 10)}}
	if dst.IsValid() {
		q.Set("dst", dst.String())
	}
	return c.do(http.MethodDelete, "/v1/fdb", q, nil, nil)
}

// Stats returns every network's counters.
func (c *Client) Stats() ([]NetworkStats, error) {
	var out []NetworkStats
	err := c.do(http.MethodGet, "/v1/stats", nil, nil, &out)
	return out, err
}

// Routes lists the routes of an ipip network, "" for all of them.
func (c *Client) Routes(network string) ([]RouteInfo, error) {
	var q url.Values
	if network != "" {
		q = url.Values{"network": {network}}
	}
	var out []RouteInfo
	err := c.do(http.MethodGet, "/v1/routes", q, nil, &out)
	return out, err
}

// RouteAdd routes prefix to via on network ("" lets vtepd pick the only
// ipip network).
func (c *Client) RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error {
	return c.do(http.MethodPost, "/v1/routes", nil,
		routeRequest{Network: network, Prefix: prefixString(prefix), Via: addrString(via)}, nil)
}

// RouteDel removes the route for prefix from network.
func (c *Client) RouteDel(network string, prefix netip.Prefix) error {
	q := url.Values{"prefix": {prefixString(prefix)}}
	if network != "" {
		q.Set("network", network)
	}
	return c.do(http.MethodDelete, "/v1/routes", q, nil, nil)
}

// addrString and prefixString send the zero value as "", which the server
// reports as a missing field.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

// NetworkAdd starts network n on the running vtepd.
func (c *Client) NetworkAdd(n Network) error {
	return c.do(http.MethodPost, "/v1/networks", nil, SpecOf(n), nil)
}

// NetworkDel stops the network called name and removes its device.
func (c *Client) NetworkDel(name string) error {
	return c.do(http.MethodDelete, "/v1/networks", url.Values{"name": {name}}, nil, nil)
}

// PeerAdd appends peer to the flood list of network vni.
func (c *Client) PeerAdd(vni uint32, peer netip.Addr) error {
	return c.do(http.MethodPost, "/v1/peers", nil, peerRequest{VNI: &vni, Peer: addrString(peer)}, nil)
}

// PeerDel removes peer from the flood list of network vni.
func (c *Client) PeerDel(vni uint32, peer netip.Addr) error {
	q := url.Values{"vni": {strconv.FormatUint(uint64(vni), 10)}, "peer": {addrString(peer)}}
	return c.do(http.MethodDelete, "/v1/peers", q, nil, nil)
}

// FDBFlush forgets the learnt entries of network vni, or of every network
// when all is set, and returns how many there were. Static entries and the
// flood list stay.
func (c *Client) FDBFlush(vni uint32, all bool) (int, error) {
	var req flushRequest
	if !all {
		req.VNI = &vni
	}
	var out flushReply
	if err := c.do(http.MethodPost, "/v1/fdb/flush", nil, req, &out); err != nil {
		return 0, err
	}
	return out.Flushed, nil
}

// BGP describes the BGP speaker and its sessions.
func (c *Client) BGP() (BGPInfo, error) {
	var out BGPInfo
	err := c.do(http.MethodGet, "/v1/bgp", nil, nil, &out)
	return out, err
}

// BGPNeighborAdd opens a session with n; a zero ASN is the speaker's own.
func (c *Client) BGPNeighborAdd(n Neighbor) error {
	req := neighborRequest{Address: addrString(n.Address), Password: n.Password, Passive: n.Passive, MaxPrefixes: n.MaxPrefixes}
	if n.ASN != 0 {
		req.ASN = &n.ASN
	}
	if n.Port != 0 {
		req.Port = &n.Port
	}
	return c.do(http.MethodPost, "/v1/bgp/neighbors", nil, req, nil)
}

// BGPNeighborDel closes the session with the neighbor at addr.
func (c *Client) BGPNeighborDel(addr netip.Addr) error {
	return c.do(http.MethodDelete, "/v1/bgp/neighbors", url.Values{"address": {addrString(addr)}}, nil, nil)
}

// EVPNRoutes lists the EVPN routes of VNI vni, or of every VNI when all
// is set.
func (c *Client) EVPNRoutes(vni uint32, all bool) ([]EVPNRoute, error) {
	var q url.Values
	if !all {
		q = url.Values{"vni": {strconv.FormatUint(uint64(vni), 10)}}
	}
	var out []EVPNRoute
	err := c.do(http.MethodGet, "/v1/evpn/routes", q, nil, &out)
	return out, err
}

// Simulate asks what a network would do with the frame req.Expr describes.
func (c *Client) Simulate(req SimulateRequest) (SimulateResult, error) {
	var out SimulateResult
	err := c.do(http.MethodPost, "/v1/simulate", nil, req, &out)
	return out, err
}

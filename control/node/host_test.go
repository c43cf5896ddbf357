package node

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/dataplane/linktest"
	"github.com/vtepd/vtepd/fdb"
)

// fakeHost is a Host of in-memory devices and sockets (dataplane/linktest)
// that records what the node asked of it: the devices it made, with their
// settings, and the kernel routes it pointed at them.
type fakeHost struct {
	wire *linktest.Wire
	id   byte // tells the hosts' device MACs apart

	mu      sync.Mutex
	devices map[string]*fakeDevice // by name, the latest made
	made    []string               // names, in the order made
	routes  map[string][]netip.Prefix
	// failCreate, when set, refuses to make the named device.
	failCreate map[string]error
}

// fakeDevice is one device the node made.
type fakeDevice struct {
	cfg  dataplane.DeviceConfig
	tun  bool
	link *linktest.Link
}

// fakeHosts counts the fake hosts made, for their id.
var fakeHosts atomic.Uint32

func newFakeHost() *fakeHost {
	return &fakeHost{wire: linktest.NewWire(), id: byte(fakeHosts.Add(1)), devices: map[string]*fakeDevice{},
		routes: map[string][]netip.Prefix{}, failCreate: map[string]error{}}
}

func (f *fakeHost) host() Host {
	return Host{
		UnderlayMTU: func(local netip.Addr) (int, error) { return 1500, nil },
		ListenUDP: func(local netip.Addr, port uint16, _ dataplane.UDPOffload) (dataplane.Conn, error) {
			return f.wire.Conn(netip.AddrPortFrom(local, port)), nil
		},
		ListenIPIP: func(local netip.Addr, _ int) (dataplane.Conn, error) { return f.wire.IPConn(local), nil },
		OpenGroup: func(group netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
			return nil, fmt.Errorf("dev %s: no multicast on the fake host", dev)
		},
		CreateTAP: func(c dataplane.DeviceConfig) (dataplane.Link, error) { return f.create(c, false) },
		CreateTUN: func(c dataplane.DeviceConfig) (dataplane.Link, error) { return f.create(c, true) },
		AddRoute: func(dev string, p netip.Prefix, _ dataplane.RouteProto) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if d := f.devices[dev]; d == nil || d.link.Closed() {
				return fmt.Errorf("route %s dev %s: no such device", p, dev)
			}
			if !slices.Contains(f.routes[dev], p) {
				f.routes[dev] = append(f.routes[dev], p)
			}
			return nil
		},
		DeviceMAC: func(dev string) (fdb.MAC, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if d := f.devices[dev]; d != nil && !d.link.Closed() {
				return fdb.MAC{0x02, 0xfe, f.id, 0, 0, byte(len(dev))}, nil
			}
			return fdb.MAC{}, fmt.Errorf("%s: no such device", dev)
		},
		DelRoute: func(dev string, p netip.Prefix) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.routes[dev] = slices.DeleteFunc(f.routes[dev], func(q netip.Prefix) bool { return q == p })
			return nil
		},
	}
}

func (f *fakeHost) create(c dataplane.DeviceConfig, tun bool) (dataplane.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failCreate[c.Name]; err != nil {
		return nil, &dataplane.DeviceError{Field: "name", Err: err}
	}
	if d := f.devices[c.Name]; d != nil && !d.link.Closed() {
		return nil, &dataplane.DeviceError{Field: "name", Err: fmt.Errorf("device %q already exists", c.Name)}
	}
	d := &fakeDevice{cfg: c, tun: tun, link: linktest.NewLink(c.Name)}
	f.devices[c.Name] = d
	f.made = append(f.made, c.Name)
	// A deleted device takes its kernel routes with it.
	delete(f.routes, c.Name)
	return d.link, nil
}

// device returns the latest device of that name.
func (f *fakeHost) device(t *testing.T, name string) *fakeDevice {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devices[name]
	if d == nil {
		t.Fatalf("device %s: never made", name)
	}
	return d
}

// madeCount is how many devices of that name were made so far.
func (f *fakeHost) madeCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.made {
		if m == name {
			n++
		}
	}
	return n
}

func (f *fakeHost) kernelRoutes(dev string) []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.routes[dev])
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// testConfig is a config of the given networks over 10.0.0.1, with every
// default a file or the flags would give.
func testConfig(nets ...control.Network) *control.Config {
	return &control.Config{
		Underlay: control.Underlay{Local: netip.MustParseAddr("10.0.0.1"), Port: control.DefaultPort,
			SrcPortMin: control.DefaultSrcPortMin, SrcPortMax: control.DefaultSrcPortMax,
			TTL: control.DefaultTTL, McastTTL: control.DefaultMcastTTL, Accept: control.AcceptAny, Queues: 1},
		Networks: nets,
		Control:  control.DefaultControl, LogLevel: control.DefaultLogLevel,
	}
}

// vxlanNet is a VXLAN network with the config's defaults.
func vxlanNet(name string, vni uint32, remotes ...string) control.Network {
	n := control.Network{Name: name, Kind: control.KindVXLAN, VNI: vni, Learning: true,
		Ageing: control.DefaultAgeing, Limit: control.DefaultLimit}
	for _, r := range remotes {
		n.Remotes = append(n.Remotes, netip.MustParseAddr(r))
	}
	return n
}

// ipipNet is an IPIP network with routes given as "prefix=via".
func ipipNet(name string, routes ...string) control.Network {
	n := control.Network{Name: name, Kind: control.KindIPIP, TTL: control.DefaultTTL, DF: control.DFInherit,
		Address: netip.MustParsePrefix("10.244.0.1/24")}
	for _, r := range routes {
		p, via, _ := strings.Cut(r, "=")
		n.Routes = append(n.Routes, control.Route{Prefix: netip.MustParsePrefix(p), Via: netip.MustParseAddr(via)})
	}
	return n
}

// startNode starts a node of cfg on a fake host, logging to logs, and
// closes it when the test ends.
func startNode(t *testing.T, cfg *control.Config) (*Node, *fakeHost, *observer.ObservedLogs) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	core, logs := observer.New(zap.DebugLevel)
	f := newFakeHost()
	n, err := Start(cfg, f.host(), zap.New(core))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("closing the node: %v", err)
		}
	})
	return n, f, logs
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func logged(logs *observer.ObservedLogs, msg string) bool {
	return logs.FilterMessage(msg).Len() > 0
}

// waitTimeout fires after five seconds.
func waitTimeout() <-chan time.Time { return time.After(5 * time.Second) }

// TestHostDefaults: a Host's nil fields are Linux's, and the ones given
// stay.
func TestHostDefaults(t *testing.T) {
	mtu := func(netip.Addr) (int, error) { return 9000, nil }
	h := Host{UnderlayMTU: mtu}.withDefaults()
	v := reflect.ValueOf(h)
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Errorf("%s: nil after withDefaults", v.Type().Field(i).Name)
		}
	}
	if got, _ := h.UnderlayMTU(netip.Addr{}); got != 9000 {
		t.Errorf("UnderlayMTU: got %d, want the given one's 9000", got)
	}
}

package node

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// TestReloadChanges applies each kind of change a config file can make to
// a running node and checks what it did to the devices, the tables and the
// kernel routes: only what differs is touched.
func TestReloadChanges(t *testing.T) {
	vx42 := vxlanNet("vx42", 42, "10.0.0.2")
	ipip0 := ipipNet("ipip0", "10.244.1.0/24=10.0.0.2")
	tests := []struct {
		name string
		next []control.Network
		// restarted are the networks whose device is made again; gone
		// those whose device is closed for good.
		restarted, gone []string
		check           func(t *testing.T, n *Node, f *fakeHost)
	}{
		{name: "nothing changed", next: []control.Network{vx42, ipip0}},
		{name: "flood list", next: []control.Network{vxlanNet("vx42", 42, "10.0.0.3", "10.0.0.4"), ipip0},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				want := []netip.Addr{netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4")}
				if got := n.vxlanNets[0].Table().Flood(); !slices.Equal(got, want) {
					t.Errorf("flood list: got %v, want %v", got, want)
				}
				if got := n.cfg.Networks[0].Remotes; !slices.Equal(got, want) {
					t.Errorf("running config's remotes: got %v, want %v", got, want)
				}
			}},
		{name: "routes", next: []control.Network{vx42, ipipNet("ipip0", "10.244.2.0/24=10.0.0.3", "10.244.3.0/24=10.0.0.2")},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				var got []string
				for _, r := range n.ipipNets[0].Routes() {
					got = append(got, r.String())
				}
				slices.Sort(got)
				want := []string{"10.244.2.0/24 via 10.0.0.3", "10.244.3.0/24 via 10.0.0.2"}
				if !slices.Equal(got, want) {
					t.Errorf("routes: got %v, want %v", got, want)
				}
				wantKernel := []netip.Prefix{netip.MustParsePrefix("10.244.2.0/24"), netip.MustParsePrefix("10.244.3.0/24")}
				if got := f.kernelRoutes("ipip0"); !slices.Equal(got, wantKernel) {
					t.Errorf("kernel routes into ipip0: got %v, want %v", got, wantKernel)
				}
			}},
		{name: "a setting restarts the network", next: []control.Network{func() control.Network {
			n := vx42
			n.MTU = 1400
			return n
		}(), ipip0}, restarted: []string{"vx42"},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				if got := f.device(t, "vx42").cfg.MTU; got != 1400 {
					t.Errorf("vx42's device MTU: got %d, want 1400", got)
				}
			}},
		{name: "an ipip setting restarts it with its routes", next: []control.Network{vx42, func() control.Network {
			n := ipip0
			n.TTL = 9
			return n
		}()}, restarted: []string{"ipip0"},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				if got := n.ipipNets[0].Config().TTL; got != 9 {
					t.Errorf("ipip0's TTL: got %d, want 9", got)
				}
				if got := f.kernelRoutes("ipip0"); len(got) != 1 || got[0].String() != "10.244.1.0/24" {
					t.Errorf("kernel routes into the new ipip0: got %v, want 10.244.1.0/24", got)
				}
			}},
		{name: "a network added", next: []control.Network{vx42, ipip0, vxlanNet("vx43", 43)},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				if n.underlay.Network(43) == nil {
					t.Error("vni 43: not served after the reload")
				}
				if f.madeCount("vx43") != 1 {
					t.Errorf("vx43: made %d times, want 1", f.madeCount("vx43"))
				}
			}},
		{name: "networks removed", next: []control.Network{ipip0}, gone: []string{"vx42"},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				if n.underlay.Network(42) != nil {
					t.Error("vni 42: still served after its network was removed")
				}
			}},
		{name: "a network renamed", next: []control.Network{vxlanNet("ov42", 42, "10.0.0.2"), ipip0}, gone: []string{"vx42"},
			check: func(t *testing.T, n *Node, f *fakeHost) {
				if nw := n.underlay.Network(42); nw == nil || nw.Name() != "ov42" {
					t.Errorf("vni 42: got %v, want it served by ov42", nw)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, f, logs := startNode(t, testConfig(vx42, ipip0))
			before := map[string]*fakeDevice{"vx42": f.device(t, "vx42"), "ipip0": f.device(t, "ipip0")}
			next := testConfig(tc.next...)
			if err := next.Validate(); err != nil {
				t.Fatalf("next config: %v", err)
			}
			if err := n.Reload(next); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			for name, old := range before {
				restarted, gone := slices.Contains(tc.restarted, name), slices.Contains(tc.gone, name)
				if got := old.link.Closed(); got != (restarted || gone) {
					t.Errorf("%s's first device closed: got %v, want %v", name, got, restarted || gone)
				}
				wantMade := 1
				if restarted {
					wantMade = 2
				}
				if got := f.madeCount(name); got != wantMade {
					t.Errorf("%s: device made %d times, want %d", name, got, wantMade)
				}
			}
			if got := logged(logs, "reload: restarting network"); got != (len(tc.restarted) > 0) {
				t.Errorf("\"reload: restarting network\" logged: got %v, want %v", got, len(tc.restarted) > 0)
			}
			var names []string
			for _, c := range n.cfg.Networks {
				names = append(names, c.Name)
			}
			var want []string
			for _, c := range tc.next {
				want = append(want, c.Name)
			}
			slices.Sort(names)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("running networks: got %v, want %v", names, want)
			}
			if tc.check != nil {
				tc.check(t, n, f)
			}
		})
	}
}

// TestReloadPartialFailure: a network that cannot be made fails the reload
// with its name; the rest of the change still applies.
func TestReloadPartialFailure(t *testing.T) {
	n, f, _ := startNode(t, testConfig(vxlanNet("vx42", 42)))
	f.failCreate["vx43"] = errors.New("operation not permitted")
	next := testConfig(vxlanNet("vx42", 42, "10.0.0.9"), vxlanNet("vx43", 43))
	err := n.Reload(next)
	if err == nil || !strings.Contains(err.Error(), `network "vx43"`) || !strings.Contains(err.Error(), "operation not permitted") {
		t.Fatalf("Reload: got %v, want an error naming vx43 and the cause", err)
	}
	if got := n.vxlanNets[0].Table().Flood(); len(got) != 1 || got[0].String() != "10.0.0.9" {
		t.Errorf("vx42's flood list: got %v, want [10.0.0.9] applied despite vx43", got)
	}
	if len(n.cfg.Networks) != 1 {
		t.Errorf("running networks: got %d, want 1 (vx43 never ran)", len(n.cfg.Networks))
	}
}

// TestDeviceLossRecreates: a VXLAN device deleted under the node is made
// again with its name, MTU, address and MAC, and keeps its static FDB
// entries; an IPIP device comes back with its kernel routes.
func TestDeviceLossRecreates(t *testing.T) {
	vx := vxlanNet("vx42", 42, "10.0.0.2")
	vx.Address, vx.MTU = netip.MustParsePrefix("192.168.42.1/24"), 1400
	n, f, logs := startNode(t, testConfig(vx, ipipNet("ipip0", "10.244.1.0/24=10.0.0.2")))
	mac, _ := fdb.ParseMAC("02:00:00:00:00:09")
	if err := n.FDBAdd(42, mac, netip.MustParseAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	first := f.device(t, "vx42")
	first.link.Lose()
	waitFor(t, "vx42 to be made again", func() bool { return f.madeCount("vx42") == 2 })
	second := f.device(t, "vx42")
	if second.cfg.MTU != 1400 || second.cfg.Address != vx.Address || second.cfg.MAC.String() != first.cfg.MAC.String() {
		t.Errorf("new vx42: got mtu %d address %s mac %s, want 1400 %s %s", second.cfg.MTU, second.cfg.Address,
			second.cfg.MAC, vx.Address, first.cfg.MAC)
	}
	waitFor(t, "the static entry back in vx42's table", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		if len(n.vxlanNets) != 1 || n.vxlanNets[0].Link() != dataplane.Link(second.link) {
			return false
		}
		r, ok := n.vxlanNets[0].Table().Lookup(mac)
		return ok && r.String() == "10.0.0.3"
	})
	if !logged(logs, "device vx42 recreated") {
		t.Errorf("no \"device vx42 recreated\" in the log: %v", logs.All())
	}

	f.device(t, "ipip0").link.Lose()
	waitFor(t, "ipip0 to be made again", func() bool { return f.madeCount("ipip0") == 2 })
	waitFor(t, "ipip0's kernel route back", func() bool {
		got := f.kernelRoutes("ipip0")
		return len(got) == 1 && got[0].String() == "10.244.1.0/24"
	})
	select {
	case err := <-n.Failed():
		t.Fatalf("Failed: %v, want nothing with on_device_loss recreate", err)
	default:
	}
}

// TestDeviceLossExits: with on_device_loss exit, or when the device cannot
// be made again, the node reports on Failed why it should stop.
func TestDeviceLossExits(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		failMake bool
		want     string
	}{
		{"on_device_loss exit", control.DeviceLossExit, false, "exiting (on_device_loss: exit)"},
		{"not made again", control.DeviceLossRecreate, true, "deleted under vtepd and not recreated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(vxlanNet("vx42", 42))
			cfg.OnDeviceLoss = tc.mode
			n, f, _ := startNode(t, cfg)
			if tc.failMake {
				f.mu.Lock()
				f.failCreate["vx42"] = errors.New("operation not permitted")
				f.mu.Unlock()
			}
			f.device(t, "vx42").link.Lose()
			select {
			case err := <-n.Failed():
				if !strings.Contains(err.Error(), `network "vx42"`) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Failed: got %v, want it to name vx42 and say %q", err, tc.want)
				}
			case <-waitTimeout():
				t.Fatal("Failed: nothing after the device was lost")
			}
		})
	}
}

// TestStartErrorsNameTheField: what the host refuses at start is a
// FieldError naming the network's field, and nothing is left made.
func TestStartErrorsNameTheField(t *testing.T) {
	f := newFakeHost()
	f.failCreate["vx43"] = errors.New(`device "vx43" already exists`)
	cfg := testConfig(vxlanNet("vx42", 42), vxlanNet("vx43", 43))
	_, err := Start(cfg, f.host(), zap.NewNop())
	var fe *control.FieldError
	if !errors.As(err, &fe) || fe.Path != "networks[1].name" {
		t.Fatalf("Start: got %v, want a FieldError at networks[1].name", err)
	}
	if got := fe.In(func(p string) string { return "<" + p + ">" }); got != `<networks[1].name>: device "vx43" already exists` {
		t.Errorf("in other words: got %q", got)
	}
	if !f.device(t, "vx42").link.Closed() {
		t.Error("vx42, made before vx43 failed: left open")
	}

	f = newFakeHost()
	h := f.host()
	h.UnderlayMTU = func(netip.Addr) (int, error) { return 0, errors.New("10.0.0.1 is not an address of this host") }
	_, err = Start(testConfig(vxlanNet("vx42", 42)), h, nil)
	if !errors.As(err, &fe) || fe.Path != "underlay.local" {
		t.Fatalf("Start without the local address: got %v, want a FieldError at underlay.local", err)
	}

	// A fanout group the host will not open names the setting, which a
	// config written from flags calls --ipip-receive.
	f = newFakeHost()
	h = f.host()
	h.ListenIPIP = func(netip.Addr, int) (dataplane.Conn, error) { return nil, errors.New("operation not permitted") }
	cfg = testConfig(ipipNet("ipip0"))
	cfg.Underlay.IPIPFanout = true
	_, err = Start(cfg, h, nil)
	if !errors.As(err, &fe) || fe.Path != "underlay.ipip_receive" {
		t.Fatalf("Start with a fanout group refused: got %v, want a FieldError at underlay.ipip_receive", err)
	}
	if got := fe.In(func(p string) string { return "<" + p + ">" }); got != "<underlay.ipip_receive>: fanout: operation not permitted" {
		t.Errorf("in other words: got %q", got)
	}
	if got := fe.In(cfg.Names()); got != "--ipip-receive: fanout: operation not permitted" {
		t.Errorf("in the words of flags: got %q", got)
	}
}

// TestAPI drives a node through the control API's server and client, as
// vtepctl does, and checks each request's effect on the node and each
// error's kind and words.
func TestAPI(t *testing.T) {
	n, f, _ := startNode(t, testConfig(vxlanNet("vx42", 42, "10.0.0.2"), ipipNet("ipip0")))
	srv := control.NewServer(n, zap.NewNop())
	sock := filepath.Join(t.TempDir(), "vtepd.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { srv.Close() })
	c := control.NewClient(sock)
	mac, _ := fdb.ParseMAC("02:00:00:00:00:09")
	dst := netip.MustParseAddr("10.0.0.3")

	// FDB: add, list, refuse, delete.
	if err := c.FDBAdd(42, mac, dst); err != nil {
		t.Fatalf("fdb add: %v", err)
	}
	if r, ok := n.vxlanNets[0].Table().Lookup(mac); !ok || r != dst {
		t.Errorf("vx42's table after fdb add: got %v %v, want %s", r, ok, dst)
	}
	entries, err := c.FDB(42, false)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		seen = append(seen, e.MAC+" "+e.Dst)
	}
	for _, want := range []string{"02:00:00:00:00:09 10.0.0.3", "00:00:00:00:00:00 10.0.0.2"} {
		if !slices.Contains(seen, want) {
			t.Errorf("fdb show: got %v, want %q among them", seen, want)
		}
	}
	errorCases := []struct {
		name string
		err  error
		kind error
		want string
	}{
		{"fdb add twice", c.FDBAdd(42, mac, dst), control.ErrExists, "fdb entry 02:00:00:00:00:09"},
		{"fdb add unknown vni", c.FDBAdd(7, mac, dst), control.ErrNotFound, "vni 7: no such network"},
		{"fdb add to ourselves", c.FDBAdd(42, mac, netip.MustParseAddr("10.0.0.1")), control.ErrInvalid, "dst 10.0.0.1"},
		{"fdb del wrong dst", c.FDBDel(42, mac, netip.MustParseAddr("10.0.0.4")), control.ErrNotFound, "the entry points at 10.0.0.3"},
		{"peer add twice", c.PeerAdd(42, netip.MustParseAddr("10.0.0.2")), control.ErrExists, "flood remote 10.0.0.2"},
		{"peer del unknown", c.PeerDel(42, netip.MustParseAddr("10.0.0.8")), control.ErrNotFound, "flood remote 10.0.0.8"},
		{"route without a network name", c.RouteAdd("nosuch", netip.MustParsePrefix("10.244.5.0/24"), dst), control.ErrNotFound, `ipip network "nosuch"`},
		{"network of a vni in use", c.NetworkAdd(vxlanNet("vx99", 42)), control.ErrExists, "vni 42: network \"vx42\" serves it"},
		{"network with an IPv6 peer", c.NetworkAdd(vxlanNet("vx43", 43, "fd00::2")), control.ErrInvalid,
			`remotes[0]: want an IPv4 address like the daemon's local address 10.0.0.1, got "fd00::2"`},
		{"network removed twice", c.NetworkDel("nosuch"), control.ErrNotFound, `network "nosuch"`},
	}
	for _, tc := range errorCases {
		if !errors.Is(tc.err, tc.kind) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %v saying %q", tc.name, tc.err, tc.kind, tc.want)
		}
	}
	if err := c.FDBDel(42, mac, dst); err != nil {
		t.Errorf("fdb del: %v", err)
	}
	if _, ok := n.vxlanNets[0].Table().Lookup(mac); ok {
		t.Error("the entry is still in vx42's table after fdb del")
	}

	// Peers and routes reach the running config, so a reload compares
	// against what runs.
	if err := c.PeerAdd(42, netip.MustParseAddr("10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	if got := n.cfg.Networks[0].Remotes; len(got) != 2 || got[1].String() != "10.0.0.5" {
		t.Errorf("running config's remotes after peer add: got %v, want [10.0.0.2 10.0.0.5]", got)
	}
	p := netip.MustParsePrefix("10.244.5.0/24")
	if err := c.RouteAdd("ipip0", p, dst); err != nil {
		t.Fatal(err)
	}
	if got := f.kernelRoutes("ipip0"); !slices.Contains(got, p) {
		t.Errorf("kernel routes into ipip0 after route add: got %v, want %s among them", got, p)
	}
	routes, err := c.Routes("")
	if err != nil || len(routes) != 1 || routes[0].Prefix != "10.244.5.0/24" || routes[0].Via != "10.0.0.3" {
		t.Errorf("route show: got %v %v, want 10.244.5.0/24 via 10.0.0.3", routes, err)
	}
	if err := c.RouteDel("ipip0", p); err != nil {
		t.Fatal(err)
	}
	if got := f.kernelRoutes("ipip0"); slices.Contains(got, p) {
		t.Errorf("kernel routes into ipip0 after route del: got %v, want %s gone", got, p)
	}

	// Networks come and go.
	if err := c.NetworkAdd(vxlanNet("vx43", 43)); err != nil {
		t.Fatalf("network add: %v", err)
	}
	if n.underlay.Network(43) == nil {
		t.Error("vni 43 not served after network add")
	}
	f.failCreate["vx44"] = errors.New(`device "vx44" already exists`)
	err = c.NetworkAdd(vxlanNet("vx44", 44))
	if !errors.Is(err, control.ErrInvalid) || err.Error() != `name: device "vx44" already exists` {
		t.Errorf("network add refused by the host: got %v, want ErrInvalid `name: device \"vx44\" already exists`", err)
	}
	if err := c.NetworkDel("vx43"); err != nil {
		t.Fatal(err)
	}
	if !f.device(t, "vx43").link.Closed() || n.underlay.Network(43) != nil {
		t.Error("vx43 still running after network del")
	}
	nets, err := c.Networks()
	if err != nil || len(nets) != 2 {
		t.Fatalf("networks: got %v %v, want vx42 and ipip0", nets, err)
	}
	// A broadcast from vx42's device leaves by the underlay, which counts
	// it: the datagram and its UDP payload (VXLAN header and frame).
	bcast := make([]byte, 60)
	copy(bcast, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
	f.device(t, "vx42").link.Inject(bcast)
	var stats []control.NetworkStats
	// The dataplane adds the packets before the bytes: wait for both.
	waitFor(t, "the underlay to count the broadcast's packets and bytes", func() bool {
		var err error
		if stats, err = c.Stats(); err != nil {
			t.Fatal(err)
		}
		return len(stats) > 0 && stats[0].Name == "underlay" && stats[0].TxPackets >= 2 && stats[0].TxBytes >= 2*(8+60)
	})
	if u := stats[0]; u.TxPackets != 2 || u.TxBytes != 2*(8+60) {
		t.Errorf("underlay: tx %d packets %d bytes, want 2 copies (10.0.0.2, 10.0.0.5) of %d bytes", u.TxPackets, u.TxBytes, 8+60)
	}
	var names []string
	for _, s := range stats {
		names = append(names, s.Name)
	}
	for _, want := range []string{"underlay", "ipip-underlay", "vx42", "ipip0"} {
		if !slices.Contains(names, want) {
			t.Errorf("stats: got %v, want %q among them", names, want)
		}
	}
}

// TestStartErrorsInFlagWords: what the host refuses is named as the user
// gave it: a group's device that does not exist is --dev on the command
// line and networks[0].dev in a file, not the group.
func TestStartErrorsInFlagWords(t *testing.T) {
	cfg, err := control.ParseFlags([]string{"--local", "10.0.0.1", "--vni", "42", "--group", "239.1.1.1", "--dev", "nosuch0"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeHost()
	h := f.host()
	h.OpenGroup = func(group netip.Addr, dev string, port uint16) (dataplane.Conn, error) {
		return nil, &dataplane.DeviceError{Field: "dev", Err: errors.New(`dev "nosuch0": no such network interface`)}
	}
	_, err = Start(cfg, h, nil)
	var fe *control.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Start: got %v, want a FieldError", err)
	}
	if got := fe.In(cfg.Names()); !strings.HasPrefix(got, "--dev: ") || !strings.Contains(got, "no such network interface") {
		t.Errorf("in flag words: got %q, want it to start with --dev:", got)
	}
	if got := fe.Error(); !strings.HasPrefix(got, "networks[0].dev: ") {
		t.Errorf("in config words: got %q, want it to start with networks[0].dev:", got)
	}
	h.OpenGroup = nil
	h.UnderlayMTU = func(netip.Addr) (int, error) { return 0, errors.New("10.0.0.1 is not an address of this host") }
	_, err = Start(cfg, h, nil)
	if !errors.As(err, &fe) || fe.In(cfg.Names()) != "--local: 10.0.0.1 is not an address of this host" {
		t.Errorf("local address missing: got %v, want \"--local: 10.0.0.1 is not an address of this host\"", err)
	}
}

// TestWarnMTUOverUnderlay: a device MTU that with the VXLAN overhead
// exceeds the underlay's is warned about at start, saying what happens
// to the larger packets.
func TestWarnMTUOverUnderlay(t *testing.T) {
	vx := vxlanNet("vx42", 42)
	vx.MTU = 9000
	_, _, logs := startNode(t, testConfig(vx, vxlanNet("vx43", 43)))
	warned := logs.FilterMessageSnippet("exceeds the underlay's MTU").All()
	if len(warned) != 1 || warned[0].ContextMap()["network"] != "vx42" || !strings.Contains(warned[0].Message, "fragmented") {
		t.Errorf("warnings: got %v, want one for vx42 saying its packets are fragmented", warned)
	}
}

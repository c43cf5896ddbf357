package node

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// icmpSource is the address a network's ICMP errors come from: its
// device's, where the kernel accepts them (accept_local), else none, and
// the dataplane answers from the packet's destination.
func icmpSource(n control.Network) netip.Addr {
	if n.Address.IsValid() && dataplane.AcceptsLocal(n.Name) {
		return n.Address.Addr()
	}
	return netip.Addr{}
}

// vxlanDF is dfMode for a VXLAN network, whose default is unset.
func vxlanDF(df string) int8 {
	if df == "" {
		return encap.IPIPDFClear
	}
	return dfMode(df)
}

// dfMode turns the config's df words into the encap package's modes.
func dfMode(df string) int8 {
	switch df {
	case control.DFSet:
		return encap.IPIPDFSet
	case control.DFUnset:
		return encap.IPIPDFClear
	}
	return encap.IPIPDFCopy
}

// deviceError names the network's field that a device could not honour.
func deviceError(err error) error {
	var de *dataplane.DeviceError
	if errors.As(err, &de) {
		return control.Refused(de.Field, err)
	}
	return err
}

// Node is a running vtepd: the underlays and the networks, served to the
// control API as its control.Backend.
type Node struct {
	log      *zap.Logger
	host     Host
	local    netip.Addr
	underMTU int

	// mu guards everything below. Network changes (the control API, a
	// reload) hold it for their whole length, so they apply one at a time.
	mu        sync.Mutex
	cfg       *control.Config          // as running: Networks matches the two lists below
	underlay  *dataplane.Underlay      // VXLAN, opened with the first VXLAN network
	ipip      *dataplane.IPIPUnderlay  // IPIP, opened with the first IPIP network
	vxlanNets []*dataplane.Network     // VXLAN networks
	ipipNets  []*dataplane.IPIPNetwork // IPIP networks

	stop   chan struct{}
	wg     sync.WaitGroup
	losses lossEvents // devices deleted under vtepd (devloss.go)
	tracer tracerSlot // the live trace, while anyone traces (trace.go)
	evpn   evpnState  // the BGP speaker and what it learnt (evpn.go)
}

var _ control.Backend = (*Node)(nil)

// Start brings up every network cfg describes on host, with the loops
// that age FDB entries and handle lost devices. An error of a value the
// host cannot honour (an address it does not have, a device name in use)
// is a *control.FieldError naming the field; whatever Start created is
// removed again before it returns an error. log may be nil.
func Start(cfg *control.Config, host Host, log *zap.Logger) (n *Node, err error) {
	if log == nil {
		log = zap.NewNop()
	}
	n = newNode(cfg, host, log)
	defer func() {
		if err != nil {
			if cerr := n.Close(); cerr != nil {
				log.Error("cleaning up after a failed start", zap.Error(cerr))
			}
			n = nil
		}
	}()

	if n.underMTU, err = n.host.UnderlayMTU(cfg.Underlay.Local); err != nil {
		return n, control.Refused("underlay.local", err)
	}
	if err = n.startEVPN(cfg); err != nil {
		return n, err
	}
	n.mu.Lock()
	for i, nc := range cfg.Networks {
		if err = n.addNetworkLocked(nc); err != nil {
			n.mu.Unlock()
			var fe *control.FieldError
			if errors.As(err, &fe) {
				// A network's field is named within its network; the
				// underlay's, which the first IPIP network opens, stays
				// the daemon's.
				at := *fe
				if !strings.HasPrefix(fe.Path, "underlay.") {
					at.Path = fmt.Sprintf("networks[%d].%s", i, fe.Path)
				}
				return n, &at
			}
			return n, fmt.Errorf("networks[%d] (%s): %w", i, nc.Name, err)
		}
	}
	n.mu.Unlock()

	n.wg.Add(2)
	go n.ageLoop()
	go n.lossLoop()
	return n, nil
}

// newNode is a node of cfg's daemon settings with no network yet.
func newNode(cfg *control.Config, host Host, log *zap.Logger) *Node {
	running := *cfg
	running.Networks = nil
	return &Node{log: log, host: host.withDefaults(), local: cfg.Underlay.Local, cfg: &running,
		stop: make(chan struct{}), losses: newLossEvents()}
}

// vxlanUnderlayLocked returns the VXLAN underlay, opening its sockets with
// the first VXLAN network.
func (d *Node) vxlanUnderlayLocked() (*dataplane.Underlay, error) {
	if d.underlay != nil {
		return d.underlay, nil
	}
	u := d.cfg.Underlay
	conn, err := d.host.ListenUDP(u.Local, u.Port, dataplane.UDPOffload{
		// GSO trains are cut from super-frames: without TSO there are none.
		GSO: u.Offload.GSO && u.Offload.TSO, GRO: u.Offload.GRO,
		SrcPortMin: u.SrcPortMin, SrcPortMax: u.SrcPortMax, TTL: u.TTL,
		Sockets: d.queues(), BusyPoll: u.BusyPoll,
	})
	if err != nil {
		return nil, err
	}
	d.underlay, err = dataplane.NewUnderlay(dataplane.UnderlayConfig{
		Local: u.Local, Port: u.Port,
		SrcPortMin: u.SrcPortMin, SrcPortMax: u.SrcPortMax,
		TTL: u.TTL, McastTTL: u.McastTTL, UDPChecksum: u.UDPCsum,
		AcceptPeers: u.Accept == control.AcceptPeers, Allow: u.Allow,
		OpenGroup: d.host.OpenGroup,
	}, conn, d.log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	d.underlay.Start()
	return d.underlay, nil
}

// ipipUnderlayLocked returns the IPIP underlay, opening its sockets with the
// first IPIP network.
func (d *Node) ipipUnderlayLocked() (*dataplane.IPIPUnderlay, error) {
	if d.ipip != nil {
		return d.ipip, nil
	}
	group := 0 // the raw socket
	if d.cfg.Underlay.IPIPFanout {
		group = d.queues()
	}
	conn, err := d.host.ListenIPIP(d.local, group)
	if err != nil {
		if group > 0 {
			return nil, control.Refused("underlay.ipip_receive", fmt.Errorf("%s: %w", control.IPIPReceiveFanout, err))
		}
		return nil, err
	}
	if group > 0 {
		d.log.Info("IPIP received through a fanout group: netfilter, rp_filter and IPsec policy do not apply to it",
			zap.Stringer("local", d.local), zap.Int("sockets", group))
	}
	d.ipip, err = dataplane.NewIPIPUnderlay(d.local, conn, d.log)
	if err != nil {
		conn.Close()
		return nil, control.Refused("underlay.local", err)
	}
	d.ipip.Start()
	return d.ipip, nil
}

// queues is how many device queues and receiving sockets each network and
// the VXLAN underlay get: the config's, or the default for this host.
func (d *Node) queues() int {
	if q := d.cfg.Underlay.Queues; q > 0 {
		return q
	}
	return control.DefaultQueues()
}

// addNetworkLocked starts one network and records it in the running config.
func (d *Node) addNetworkLocked(n control.Network) error {
	var err error
	if n.Kind == control.KindIPIP {
		err = d.startIPIPLocked(n)
	} else {
		err = d.startVXLANLocked(n)
	}
	if err == nil {
		d.cfg.Networks = append(d.cfg.Networks, n)
		d.heldRoutesLocked(n)
		d.announceBlocksLocked(n)
	}
	return err
}

// removeNetworkLocked stops the named network, removing its device.
func (d *Node) removeNetworkLocked(name string) error {
	for i, n := range d.vxlanNets {
		if n.Name() == name {
			d.vxlanNets = append(d.vxlanNets[:i:i], d.vxlanNets[i+1:]...)
			d.forgetLocked(name)
			d.withdrawLocked(n.VNI())
			return d.underlay.RemoveNetwork(n.VNI())
		}
	}
	for i, n := range d.ipipNets {
		if n.Name() == name {
			d.withdrawBlocksLocked(d.specLocked(name))
			d.ipipNets = append(d.ipipNets[:i:i], d.ipipNets[i+1:]...)
			d.forgetLocked(name)
			return d.ipip.RemoveNetwork(name)
		}
	}
	return control.Errorf(control.ErrNotFound, "network %q: no such network", name)
}

func (d *Node) forgetLocked(name string) {
	nets := d.cfg.Networks[:0:0]
	for _, n := range d.cfg.Networks {
		if n.Name != name {
			nets = append(nets, n)
		}
	}
	d.cfg.Networks = nets
	d.log.Info("network down", zap.String("name", name))
}

// startVXLANLocked creates the TAP of one VXLAN network and starts forwarding.
func (d *Node) startVXLANLocked(n control.Network) error {
	u, err := d.vxlanUnderlayLocked()
	if err != nil {
		return err
	}
	overhead := encap.VXLANOverheadIPv4
	if !d.local.Is4() {
		overhead = encap.VXLANOverheadIPv6
	}
	mtu := n.MTU
	if mtu == 0 {
		mtu = d.underMTU - overhead
	}
	if mtu+overhead > d.underMTU {
		what := "fragmented (df unset)"
		if n.DF == control.DFSet || n.DF == control.DFInherit {
			what = "dropped as too_big where the outer DF bit is set, with ICMP fragmentation needed to IPv4 senders"
		}
		d.log.Warn("the device's MTU plus VXLAN overhead exceeds the underlay's MTU: larger packets are "+what,
			zap.String("network", n.Name), zap.Int("mtu", mtu), zap.Int("overhead", overhead), zap.Int("underlay_mtu", d.underMTU))
	}
	link, err := d.host.CreateTAP(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address, Offload: d.cfg.Underlay.Offload.TSO,
		MAC: deviceMAC(d.local, n.Name), Queues: d.queues(), BusyPoll: d.cfg.Underlay.BusyPoll})
	if err != nil {
		return deviceError(err)
	}
	ageing := n.Ageing
	if ageing == 0 {
		ageing = -1 // the config's 0 means never, as the kernel's ageing 0
	}
	nw, err := u.AddNetwork(dataplane.NetworkConfig{
		Name:    n.Name,
		VNI:     n.VNI,
		MTU:     mtu,
		Remotes: n.Remotes,
		FDB: fdb.Config{Ageing: ageing, Limit: n.Limit, Learning: n.Learning,
			MoveLimit: n.MACMoves, MoveWindow: time.Second},
		Group:     n.Group,
		Dev:       n.Dev,
		FloodRate: n.FloodRate,
		PathMTU:   d.underMTU,
		DF:        vxlanDF(n.DF),
		Address:   icmpSource(n),
		// EVPN announces the hosts behind the device and answers ARP for
		// the peers'.
		TrackLocal: n.EVPN && d.evpn.speaker != nil,
	}, link)
	if err != nil {
		link.Close()
		var de *dataplane.DeviceError
		field := "vni"
		switch {
		case errors.As(err, &de):
			field = de.Field
		case n.Group.IsValid():
			field = "group"
		}
		return control.Refused(field, err)
	}
	d.vxlanNets = append(d.vxlanNets, nw)
	if err := d.announceLocked(n); err != nil {
		d.log.Warn("bgp: vni not announced", zap.String("network", n.Name), zap.Error(err))
	}
	d.watchDevice(nw)
	d.log.Info("network up", zap.String("name", n.Name), zap.String("kind", "vxlan"), zap.Uint32("vni", n.VNI),
		zap.Int("mtu", mtu), zap.Stringer("local", d.local),
		zap.Uint16("dstport", u.Config().Port), zap.Int("remotes", len(n.Remotes)),
		zap.Int("queues", len(dataplane.Queues(link))))
	if n.Group.IsValid() {
		d.log.Info("flooding to a multicast group", zap.String("network", n.Name),
			zap.Stringer("group", n.Group), zap.String("dev", n.Dev))
	}
	return nil
}

// startIPIPLocked creates the TUN of one IPIP network, starts forwarding and
// points the kernel's routes for the network's prefixes at the device.
func (d *Node) startIPIPLocked(n control.Network) error {
	u, err := d.ipipUnderlayLocked()
	if err != nil {
		return err
	}
	pathMTU := d.underMTU - encap.IPIPOverhead
	mtu := n.MTU
	if mtu == 0 {
		mtu = pathMTU
	}
	link, err := d.host.CreateTUN(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address, Offload: d.cfg.Underlay.Offload.TSO,
		Queues: d.queues(), BusyPoll: d.cfg.Underlay.BusyPoll})
	if err != nil {
		return deviceError(err)
	}
	routes := make([]fdb.Route, 0, len(n.Routes)+1)
	for _, r := range n.Routes {
		routes = append(routes, fdb.Route{Prefix: r.Prefix, Via: r.Via})
	}
	if n.Remote.IsValid() {
		// A point-to-point tunnel: everything the kernel routes into the
		// device goes to the one remote. The kernel's own routing table is
		// left to the user, as `ip tunnel add ... remote` leaves it.
		routes = append(routes, fdb.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Via: n.Remote})
	}
	nw, err := u.AddNetwork(dataplane.IPIPConfig{
		Name: n.Name, MTU: mtu, PathMTU: pathMTU, Address: icmpSource(n),
		TTL: n.TTL, DF: dfMode(n.DF),
		Routes: routes,
	}, link)
	if err != nil {
		link.Close()
		return control.Refused("routes", err)
	}
	d.ipipNets = append(d.ipipNets, nw)
	d.watchDevice(nw)
	for _, r := range n.Routes {
		if err := d.host.AddRoute(n.Name, r.Prefix, dataplane.RouteBoot); err != nil {
			return err
		}
	}
	d.log.Info("network up", zap.String("name", n.Name), zap.String("kind", "ipip"),
		zap.Int("mtu", mtu), zap.Stringer("local", d.local), zap.Int("routes", len(routes)),
		zap.Int("queues", len(dataplane.Queues(link))))
	return nil
}

// Close stops the networks (removing their devices) and the underlay
// sockets. It is safe on a partly started node and more than once.
func (d *Node) Close() error {
	var errs []error
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	if err := d.closeEVPN(); err != nil {
		errs = append(errs, err)
	}
	d.mu.Lock()
	under, ipip := d.underlay, d.ipip
	d.underlay, d.ipip, d.vxlanNets, d.ipipNets = nil, nil, nil, nil
	d.mu.Unlock()
	if under != nil {
		if err := under.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if ipip != nil {
		if err := ipip.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.wg.Wait()
	return errors.Join(errs...)
}

// ageLoop expires learnt entries once a second, so an entry outlives its
// ageing time by at most that (the kernel's vxlan sweeps every ten).
func (d *Node) ageLoop() {
	defer d.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			now := fdb.Now()
			for _, n := range d.networks() {
				if aged := n.Table().Expire(now); aged > 0 {
					d.log.Debug("fdb entries aged out", zap.String("network", n.Name()), zap.Int("count", aged))
				}
				if loc := n.Local(); loc != nil {
					loc.Expire(now)
				}
				// Static entries added with vtepctl fdb add are accepted from
				// the next tick on (accept: peers; otherwise a no-op).
				if err := n.RefreshAccept(); err != nil {
					d.log.Debug("accept list not refreshed", zap.String("network", n.Name()), zap.Error(err))
				}
			}
		}
	}
}

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// configError is a configuration that this host cannot honour (an address
// it does not have, a device name in use): like a bad flag, it names the
// field, exits with the usage code and leaves nothing behind.
type configError struct {
	field string
	err   error
}

func (e *configError) Error() string { return e.field + ": " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

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
		return &configError{de.Field, err}
	}
	return err
}

// daemon is a running vtepd: the underlays, the networks and the control API.
type daemon struct {
	log      *zap.Logger
	local    netip.Addr
	underMTU int
	server   *control.Server
	metrics  *control.MetricsServer

	// mu guards everything below. Network changes (the control API, a
	// reload) hold it for their whole length, so they apply one at a time.
	mu       sync.Mutex
	cfg      *control.Config          // as running: Networks matches the two lists below
	underlay *dataplane.Underlay      // VXLAN, opened with the first VXLAN network
	ipip     *dataplane.IPIPUnderlay  // IPIP, opened with the first IPIP network
	nets     []*dataplane.Network     // VXLAN networks
	tnets    []*dataplane.IPIPNetwork // IPIP networks

	stop chan struct{}
	wg   sync.WaitGroup
	loss deviceLoss // devices deleted under vtepd (devloss.go)
}

// start brings up everything cfg describes. On error, whatever it created is
// removed again before it returns.
func start(cfg *control.Config, log *zap.Logger) (d *daemon, err error) {
	d = &daemon{log: log, local: cfg.Underlay.Local, stop: make(chan struct{}), loss: newDeviceLoss()}
	running := *cfg
	running.Networks = nil
	d.cfg = &running
	defer func() {
		if err != nil {
			if cerr := d.Close(); cerr != nil {
				log.Error("cleaning up after a failed start", zap.Error(cerr))
			}
			d = nil
		}
	}()

	if d.underMTU, err = dataplane.UnderlayMTU(cfg.Underlay.Local); err != nil {
		return d, &configError{"underlay.local", err}
	}
	d.mu.Lock()
	for i, n := range cfg.Networks {
		if err = d.addNetworkLocked(n); err != nil {
			d.mu.Unlock()
			var ce *configError
			if errors.As(err, &ce) {
				ce.field = fmt.Sprintf("networks[%d].%s", i, ce.field)
				return d, ce
			}
			return d, fmt.Errorf("networks[%d] (%s): %w", i, n.Name, err)
		}
	}
	d.mu.Unlock()

	d.wg.Add(1)
	go d.ageLoop()
	d.wg.Add(1)
	go d.lossLoop()

	if cfg.Metrics != "" {
		if d.metrics, err = control.ListenMetrics(cfg.Metrics, d.Stats, log); err != nil {
			return d, &configError{"metrics", err}
		}
		log.Info("metrics listening", zap.String("addr", d.metrics.Addr()))
	}
	d.server = control.NewServer(d, log)
	if err := d.server.Listen(cfg.Control); err != nil {
		d.server = nil
		return d, &configError{"control", err}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.server.Serve(); err != nil {
			log.Error("control API stopped", zap.Error(err))
		}
	}()
	log.Info("vtepd running", zap.String("control", cfg.Control))
	return d, nil
}

// vxlanUnderlayLocked returns the VXLAN underlay, opening its sockets with
// the first VXLAN network.
func (d *daemon) vxlanUnderlayLocked() (*dataplane.Underlay, error) {
	if d.underlay != nil {
		return d.underlay, nil
	}
	u := d.cfg.Underlay
	conn, err := dataplane.ListenUDPOffload(u.Local, u.Port, dataplane.UDPOffload{
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
func (d *daemon) ipipUnderlayLocked() (*dataplane.IPIPUnderlay, error) {
	if d.ipip != nil {
		return d.ipip, nil
	}
	conn, err := dataplane.ListenIPIP(d.local)
	if err != nil {
		return nil, err
	}
	d.ipip, err = dataplane.NewIPIPUnderlay(d.local, conn, d.log)
	if err != nil {
		conn.Close()
		return nil, &configError{"underlay.local", err}
	}
	d.ipip.Start()
	return d.ipip, nil
}

// queues is how many device queues and receiving sockets each network and
// the VXLAN underlay get: the config's, or the default for this host.
func (d *daemon) queues() int {
	if q := d.cfg.Underlay.Queues; q > 0 {
		return q
	}
	return control.DefaultQueues()
}

// addNetworkLocked starts one network and records it in the running config.
func (d *daemon) addNetworkLocked(n control.Network) error {
	var err error
	if n.Kind == control.KindIPIP {
		err = d.startIPIPLocked(n)
	} else {
		err = d.startVXLANLocked(n)
	}
	if err == nil {
		d.cfg.Networks = append(d.cfg.Networks, n)
	}
	return err
}

// removeNetworkLocked stops the named network, removing its device.
func (d *daemon) removeNetworkLocked(name string) error {
	for i, n := range d.nets {
		if n.Name() == name {
			d.nets = append(d.nets[:i:i], d.nets[i+1:]...)
			d.forgetLocked(name)
			return d.underlay.RemoveNetwork(n.VNI())
		}
	}
	for i, n := range d.tnets {
		if n.Name() == name {
			d.tnets = append(d.tnets[:i:i], d.tnets[i+1:]...)
			d.forgetLocked(name)
			return d.ipip.RemoveNetwork(name)
		}
	}
	return control.Errorf(control.ErrNotFound, "network %q: no such network", name)
}

func (d *daemon) forgetLocked(name string) {
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
func (d *daemon) startVXLANLocked(n control.Network) error {
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
	link, err := dataplane.CreateTAP(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address, Offload: d.cfg.Underlay.Offload.TSO,
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
	}, link)
	if err != nil {
		link.Close()
		field := "vni"
		if n.Group.IsValid() {
			field = "group"
		}
		return &configError{field, err}
	}
	d.nets = append(d.nets, nw)
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
func (d *daemon) startIPIPLocked(n control.Network) error {
	u, err := d.ipipUnderlayLocked()
	if err != nil {
		return err
	}
	pathMTU := d.underMTU - encap.IPIPOverhead
	mtu := n.MTU
	if mtu == 0 {
		mtu = pathMTU
	}
	link, err := dataplane.CreateTUN(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address, Offload: d.cfg.Underlay.Offload.TSO,
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
		Name: n.Name, MTU: mtu, PathMTU: pathMTU,
		TTL: n.TTL, DF: dfMode(n.DF),
		Routes: routes,
	}, link)
	if err != nil {
		link.Close()
		return &configError{"routes", err}
	}
	d.tnets = append(d.tnets, nw)
	d.watchDevice(nw)
	for _, r := range n.Routes {
		if err := dataplane.AddDeviceRoute(n.Name, r.Prefix); err != nil {
			return err
		}
	}
	d.log.Info("network up", zap.String("name", n.Name), zap.String("kind", "ipip"),
		zap.Int("mtu", mtu), zap.Stringer("local", d.local), zap.Int("routes", len(routes)),
		zap.Int("queues", len(dataplane.Queues(link))))
	return nil
}

// Close stops the control API, the networks (removing their devices) and the
// underlay sockets. It is safe on a partly started daemon.
func (d *daemon) Close() error {
	var errs []error
	if d.server != nil {
		if err := d.server.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.metrics != nil {
		if err := d.metrics.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.mu.Lock()
	under, ipip := d.underlay, d.ipip
	d.underlay, d.ipip, d.nets, d.tnets = nil, nil, nil, nil
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
func (d *daemon) ageLoop() {
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
				// Static entries added with vtepctl fdb add are accepted from
				// the next tick on (accept: peers; otherwise a no-op).
				if err := n.RefreshAccept(); err != nil {
					d.log.Debug("accept list not refreshed", zap.String("network", n.Name()), zap.Error(err))
				}
			}
		}
	}
}

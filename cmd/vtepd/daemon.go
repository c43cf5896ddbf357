package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
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

// daemon is a running vtepd: the underlay, its networks and the control API.
type daemon struct {
	cfg      *control.Config
	log      *zap.Logger
	underlay *dataplane.Underlay     // VXLAN, when a network needs it
	ipip     *dataplane.IPIPUnderlay // IPIP, when a network needs it
	server   *control.Server

	mu    sync.Mutex
	nets  []*dataplane.Network     // VXLAN networks, in config order
	tnets []*dataplane.IPIPNetwork // IPIP networks, in config order

	stop chan struct{}
	wg   sync.WaitGroup
}

// start brings up everything cfg describes. On error, whatever it created is
// removed again before it returns.
func start(cfg *control.Config, log *zap.Logger) (d *daemon, err error) {
	d = &daemon{cfg: cfg, log: log, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			if cerr := d.Close(); cerr != nil {
				log.Error("cleaning up after a failed start", zap.Error(cerr))
			}
			d = nil
		}
	}()

	var hasVXLAN, hasIPIP bool
	for _, n := range cfg.Networks {
		switch n.Kind {
		case control.KindIPIP:
			hasIPIP = true
		default:
			hasVXLAN = true
		}
	}

	underMTU, err := dataplane.UnderlayMTU(cfg.Underlay.Local)
	if err != nil {
		return d, &configError{"underlay.local", err}
	}
	if hasVXLAN {
		conn, err := dataplane.ListenUDP(cfg.Underlay.Local, cfg.Underlay.Port)
		if err != nil {
			return d, err
		}
		d.underlay, err = dataplane.NewUnderlay(dataplane.UnderlayConfig{
			Local:       cfg.Underlay.Local,
			Port:        cfg.Underlay.Port,
			SrcPortMin:  cfg.Underlay.SrcPortMin,
			SrcPortMax:  cfg.Underlay.SrcPortMax,
			TTL:         cfg.Underlay.TTL,
			McastTTL:    cfg.Underlay.McastTTL,
			UDPChecksum: cfg.Underlay.UDPCsum,
		}, conn, log)
		if err != nil {
			conn.Close()
			return d, err
		}
		d.underlay.Start()
	}
	if hasIPIP {
		conn, err := dataplane.ListenIPIP(cfg.Underlay.Local)
		if err != nil {
			return d, err
		}
		d.ipip, err = dataplane.NewIPIPUnderlay(cfg.Underlay.Local, conn, log)
		if err != nil {
			conn.Close()
			return d, &configError{"underlay.local", err}
		}
		d.ipip.Start()
	}

	for i, n := range cfg.Networks {
		var err error
		if n.Kind == control.KindIPIP {
			err = d.startIPIP(n, underMTU)
		} else {
			err = d.startVXLAN(n, underMTU)
		}
		if err != nil {
			var ce *configError
			if errors.As(err, &ce) {
				ce.field = fmt.Sprintf("networks[%d].%s", i, ce.field)
				return d, ce
			}
			return d, fmt.Errorf("networks[%d] (%s): %w", i, n.Name, err)
		}
	}

	d.wg.Add(1)
	go d.ageLoop()

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

// startVXLAN creates the TAP of one VXLAN network and starts forwarding.
func (d *daemon) startVXLAN(n control.Network, underMTU int) error {
	overhead := encap.VXLANOverheadIPv4
	if !d.cfg.Underlay.Local.Is4() {
		overhead = encap.VXLANOverheadIPv6
	}
	mtu := n.MTU
	if mtu == 0 {
		mtu = underMTU - overhead
	}
	link, err := dataplane.CreateTAP(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address})
	if err != nil {
		return &configError{"name", err}
	}
	ageing := n.Ageing
	if ageing == 0 {
		ageing = -1 // the config's 0 means never, as the kernel's ageing 0
	}
	nw, err := d.underlay.AddNetwork(dataplane.NetworkConfig{
		Name:    n.Name,
		VNI:     n.VNI,
		MTU:     mtu,
		Remotes: n.Remotes,
		FDB:     fdb.Config{Ageing: ageing, Limit: n.Limit, Learning: n.Learning},
		Group:   n.Group,
		Dev:     n.Dev,
	}, link)
	if err != nil {
		link.Close()
		field := "vni"
		if n.Group.IsValid() {
			field = "group"
		}
		return &configError{field, err}
	}
	d.mu.Lock()
	d.nets = append(d.nets, nw)
	d.mu.Unlock()
	d.log.Info("network up", zap.String("name", n.Name), zap.String("kind", "vxlan"), zap.Uint32("vni", n.VNI),
		zap.Int("mtu", mtu), zap.Stringer("local", d.cfg.Underlay.Local),
		zap.Uint16("dstport", d.underlay.Config().Port), zap.Int("remotes", len(n.Remotes)),
		zap.Stringer("group", n.Group))
	return nil
}

// startIPIP creates the TUN of one IPIP network, starts forwarding and
// points the kernel's routes for the network's prefixes at the device.
func (d *daemon) startIPIP(n control.Network, underMTU int) error {
	pathMTU := underMTU - encap.IPIPOverhead
	mtu := n.MTU
	if mtu == 0 {
		mtu = pathMTU
	}
	link, err := dataplane.CreateTUN(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address})
	if err != nil {
		return &configError{"name", err}
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
	var icmpSrc netip.Addr
	if n.Address.IsValid() {
		icmpSrc = n.Address.Addr()
	}
	nw, err := d.ipip.AddNetwork(dataplane.IPIPConfig{
		Name: n.Name, MTU: mtu, PathMTU: pathMTU,
		TTL: n.TTL, DF: encap.IPIPDFCopy,
		Routes: routes, Address: icmpSrc,
	}, link)
	if err != nil {
		link.Close()
		return &configError{"routes", err}
	}
	d.mu.Lock()
	d.tnets = append(d.tnets, nw)
	d.mu.Unlock()
	for _, r := range n.Routes {
		if err := dataplane.AddDeviceRoute(n.Name, r.Prefix); err != nil {
			return err
		}
	}
	d.log.Info("network up", zap.String("name", n.Name), zap.String("kind", "ipip"),
		zap.Int("mtu", mtu), zap.Stringer("local", d.cfg.Underlay.Local), zap.Int("routes", len(routes)))
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
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	if d.underlay != nil {
		if err := d.underlay.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.ipip != nil {
		if err := d.ipip.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.wg.Wait()
	return errors.Join(errs...)
}

// ageLoop expires learnt entries. The interval follows the shortest ageing
// time, between one and ten seconds (the kernel's vxlan sweeps every ten).
func (d *daemon) ageLoop() {
	defer d.wg.Done()
	interval := 10 * time.Second
	for _, n := range d.cfg.Networks {
		if n.Ageing > 0 && n.Ageing/10 < interval {
			interval = max(n.Ageing/10, time.Second)
		}
	}
	t := time.NewTicker(interval)
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
			}
		}
	}
}

func (d *daemon) networks() []*dataplane.Network {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*dataplane.Network(nil), d.nets...)
}

func (d *daemon) network(vni uint32) (*dataplane.Network, error) {
	for _, n := range d.networks() {
		if n.VNI() == vni {
			return n, nil
		}
	}
	return nil, fmt.Errorf("vni %d: no such network: %w", vni, control.ErrNotFound)
}

// The methods below serve the control API (control.Backend).

func (d *daemon) Networks() []control.NetworkInfo {
	var out []control.NetworkInfo
	for _, n := range d.networks() {
		c := n.Config()
		info := control.NetworkInfo{
			Name: c.Name, Kind: control.KindVXLAN, VNI: c.VNI,
			Local: d.cfg.Underlay.Local.String(), Port: d.underlay.Config().Port,
			MTU: c.MTU, Learning: c.FDB.Learning, Limit: n.Table().Config().Limit,
		}
		for _, nc := range d.cfg.Networks {
			if nc.Name == c.Name && nc.Address.IsValid() {
				info.Address = nc.Address.String()
			}
		}
		if a := n.Table().Config().Ageing; a > 0 {
			info.Ageing = a.String()
		} else {
			info.Ageing = "never"
		}
		for _, r := range n.Table().Flood() {
			info.Remotes = append(info.Remotes, r.String())
		}
		out = append(out, info)
	}
	for _, n := range d.ipipNetworks() {
		c := n.Config()
		info := control.NetworkInfo{
			Name: c.Name, Kind: control.KindIPIP,
			Local: d.cfg.Underlay.Local.String(), MTU: c.MTU, Routes: routeInfos(n),
		}
		for _, nc := range d.cfg.Networks {
			if nc.Name == c.Name && nc.Address.IsValid() {
				info.Address = nc.Address.String()
			}
		}
		out = append(out, info)
	}
	return out
}

func (d *daemon) FDB(vni uint32, all bool) ([]control.FDBEntry, error) {
	nets := d.networks()
	if !all {
		n, err := d.network(vni)
		if err != nil {
			return nil, err
		}
		nets = []*dataplane.Network{n}
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].VNI() < nets[j].VNI() })
	now := fdb.Now()
	out := []control.FDBEntry{}
	for _, n := range nets {
		for _, e := range n.Table().Entries() {
			fe := control.FDBEntry{
				MAC: e.MAC.String(), Dst: e.Remote.String(), VNI: n.VNI(),
				Network: n.Name(), Static: e.Static,
			}
			if !e.Static {
				fe.AgeSeconds = float64(now-e.Updated) / float64(time.Second)
			}
			out = append(out, fe)
		}
		floods := n.Table().Flood()
		if g := n.Config().Group; g.IsValid() {
			floods = append([]netip.Addr{g}, floods...)
		}
		for _, r := range floods {
			out = append(out, control.FDBEntry{
				MAC: fdb.MAC{}.String(), Dst: r.String(), VNI: n.VNI(), Network: n.Name(), Static: true,
			})
		}
	}
	return out, nil
}

func (d *daemon) FDBAdd(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	n, err := d.network(vni)
	if err != nil {
		return err
	}
	if err := d.underlay.CheckRemote(dst); err != nil {
		return fmt.Errorf("dst %s: %v: %w", dst, err, control.ErrInvalid)
	}
	if mac.IsZero() {
		return mapFDBErr(n.Table().AddFlood(dst), "flood entry "+dst.String())
	}
	return mapFDBErr(n.Table().Add(mac, dst, true), mac.String())
}

func (d *daemon) FDBDel(vni uint32, mac fdb.MAC, dst netip.Addr) error {
	n, err := d.network(vni)
	if err != nil {
		return err
	}
	if mac.IsZero() {
		if !dst.IsValid() {
			return fmt.Errorf("dst: required to delete a flood entry (00:00:00:00:00:00): %w", control.ErrInvalid)
		}
		return mapFDBErr(n.Table().DelFlood(dst), "flood entry "+dst.String())
	}
	return mapFDBErr(n.Table().Del(mac), mac.String())
}

// mapFDBErr turns fdb errors into the control API's kinds.
func mapFDBErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fdb.ErrNotFound):
		return fmt.Errorf("%s: %w", what, control.ErrNotFound)
	case errors.Is(err, fdb.ErrExists):
		return fmt.Errorf("%s: %w", what, control.ErrExists)
	default:
		return fmt.Errorf("%s: %v: %w", what, err, control.ErrInvalid)
	}
}

func (d *daemon) Stats() []control.NetworkStats {
	var out []control.NetworkStats
	if d.underlay != nil {
		out = append(out, control.NetworkStats{Name: "underlay", Kind: "underlay", Drops: d.underlay.Counters.Drops()})
	}
	if d.ipip != nil {
		out = append(out, control.NetworkStats{Name: "ipip-underlay", Kind: "underlay", Drops: d.ipip.Counters.Drops()})
	}
	for _, n := range d.ipipNetworks() {
		c := &n.Counters
		out = append(out, control.NetworkStats{
			Name: n.Name(), Kind: control.KindIPIP,
			RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(),
			TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(),
			Drops: c.Drops(),
		})
	}
	for _, n := range d.networks() {
		c := &n.Counters
		fc := n.Table().Counters()
		out = append(out, control.NetworkStats{
			Name: n.Name(), Kind: control.KindVXLAN, VNI: n.VNI(),
			RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(),
			TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(),
			Drops:      c.Drops(),
			FDBEntries: fc.Entries, Learnt: fc.Learnt, Moved: fc.Moved, Aged: fc.Aged,
			Flooded: c.Flooded.Load(),
		})
	}
	return out
}

func (d *daemon) ipipNetworks() []*dataplane.IPIPNetwork {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*dataplane.IPIPNetwork(nil), d.tnets...)
}

// ipipNetwork finds an IPIP network by name; "" means the only one there is.
func (d *daemon) ipipNetwork(name string) (*dataplane.IPIPNetwork, error) {
	nets := d.ipipNetworks()
	if name == "" {
		switch len(nets) {
		case 0:
			return nil, fmt.Errorf("no ipip network: %w", control.ErrNotFound)
		case 1:
			return nets[0], nil
		default:
			return nil, fmt.Errorf("dev: required, %d ipip networks run here: %w", len(nets), control.ErrInvalid)
		}
	}
	for _, n := range nets {
		if n.Name() == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("ipip network %q: %w", name, control.ErrNotFound)
}

func routeInfos(n *dataplane.IPIPNetwork) []control.RouteInfo {
	var out []control.RouteInfo
	for _, r := range n.Routes() {
		out = append(out, control.RouteInfo{Prefix: r.Prefix.String(), Via: r.Via.String()})
	}
	return out
}

func (d *daemon) RouteShow(network string) ([]control.RouteInfo, error) {
	out := []control.RouteInfo{}
	if network == "" {
		for _, n := range d.ipipNetworks() {
			out = append(out, routeInfos(n)...)
		}
		return out, nil
	}
	n, err := d.ipipNetwork(network)
	if err != nil {
		return nil, err
	}
	return append(out, routeInfos(n)...), nil
}

func (d *daemon) RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error {
	n, err := d.ipipNetwork(network)
	if err != nil {
		return err
	}
	r := fdb.Route{Prefix: prefix.Masked(), Via: via}
	if err := n.AddRoute(r); err != nil {
		return mapFDBErr(err, "route "+r.String())
	}
	if err := dataplane.AddDeviceRoute(n.Name(), r.Prefix); err != nil {
		_ = n.DelRoute(r.Prefix)
		return err
	}
	d.log.Info("route added", zap.String("network", n.Name()), zap.Stringer("route", r))
	return nil
}

func (d *daemon) RouteDel(network string, prefix netip.Prefix) error {
	n, err := d.ipipNetwork(network)
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	if err := n.DelRoute(prefix); err != nil {
		return mapFDBErr(err, "route "+prefix.String())
	}
	if err := dataplane.DelDeviceRoute(n.Name(), prefix); err != nil {
		return err
	}
	d.log.Info("route deleted", zap.String("network", n.Name()), zap.Stringer("prefix", prefix))
	return nil
}

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
	underlay *dataplane.Underlay
	server   *control.Server

	mu   sync.Mutex
	nets []*dataplane.Network // in config order

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

	var ipip []string
	for _, n := range cfg.Networks {
		if n.Kind == control.KindIPIP {
			ipip = append(ipip, n.Name)
		}
	}
	if len(ipip) > 0 {
		return d, &configError{"networks", fmt.Errorf("kind ipip (%v) is not supported by this build", ipip)}
	}

	underMTU, err := dataplane.UnderlayMTU(cfg.Underlay.Local)
	if err != nil {
		return d, &configError{"underlay.local", err}
	}
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
		UDPChecksum: cfg.Underlay.UDPCsum,
	}, conn, log)
	if err != nil {
		conn.Close()
		return d, err
	}
	d.underlay.Start()

	overhead := encap.VXLANOverheadIPv4
	if !cfg.Underlay.Local.Is4() {
		overhead = encap.VXLANOverheadIPv6
	}
	for i, n := range cfg.Networks {
		mtu := n.MTU
		if mtu == 0 {
			mtu = underMTU - overhead
		}
		link, err := dataplane.CreateTAP(dataplane.DeviceConfig{Name: n.Name, MTU: mtu, Address: n.Address})
		if err != nil {
			return d, &configError{fmt.Sprintf("networks[%d].name", i), err}
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
		}, link)
		if err != nil {
			link.Close()
			return d, &configError{fmt.Sprintf("networks[%d]", i), err}
		}
		d.mu.Lock()
		d.nets = append(d.nets, nw)
		d.mu.Unlock()
		log.Info("network up", zap.String("name", n.Name), zap.Uint32("vni", n.VNI),
			zap.Int("mtu", mtu), zap.Stringer("local", cfg.Underlay.Local),
			zap.Uint16("dstport", d.underlay.Config().Port), zap.Int("remotes", len(n.Remotes)))
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
		for _, r := range n.Table().Flood() {
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
	u := &d.underlay.Counters
	out := []control.NetworkStats{{
		Name: "underlay", Kind: "underlay",
		Drops: u.Drops(),
	}}
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

var errNoIPIP = fmt.Errorf("no ipip network: %w", control.ErrNotFound)

func (d *daemon) RouteShow(network string) ([]control.RouteInfo, error) { return nil, errNoIPIP }
func (d *daemon) RouteAdd(network string, prefix netip.Prefix, via netip.Addr) error {
	return errNoIPIP
}
func (d *daemon) RouteDel(network string, prefix netip.Prefix) error { return errNoIPIP }

package node

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// A network's device deleted under vtepd (`ip link del vx42`) stops its
// transmit loop, and the dataplane reports it (OnDeviceLoss). The daemon
// then does what on_device_loss says: it makes the network again, device,
// address, MTU, routes and static FDB entries included, or it exits with
// status 1 so that a supervisor can restart it whole.

// lossEvents carries lost devices from the transmit loops to lossLoop, and
// from lossLoop to whoever waits on Failed the error the node is to stop
// with.
type lossEvents struct {
	events chan lostDevice
	fatal  chan error
}

func newLossEvents() lossEvents {
	return lossEvents{events: make(chan lostDevice), fatal: make(chan error, 1)}
}

// lostDevice is one device found deleted. link tells which network it was:
// a network made again has another.
type lostDevice struct {
	link dataplane.Link
	err  error
}

// lossReporter is a network of either kind.
type lossReporter interface {
	OnDeviceLoss(func(error))
	Link() dataplane.Link
}

// watchDevice has the loss of nw's device reported to lossLoop. It is
// called as the network is added.
func (d *Node) watchDevice(nw lossReporter) {
	link := nw.Link()
	nw.OnDeviceLoss(func(err error) {
		// The transmit loop must not wait for the daemon, which may be
		// busy under its lock (a reload) or stopping.
		go func() {
			select {
			case d.losses.events <- lostDevice{link, err}:
			case <-d.stop:
			}
		}()
	})
}

// Failed delivers the error of a lost device that vtepd is to exit over
// (on_device_loss: exit, or a device that could not be made again).
func (d *Node) Failed() <-chan error { return d.losses.fatal }

// lossLoop handles lost devices one at a time until the daemon stops.
func (d *Node) lossLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case ev := <-d.losses.events:
			if err := d.deviceLost(ev); err != nil {
				select {
				case d.losses.fatal <- err:
				default: // one reason to exit is enough
				}
			}
		}
	}
}

// deviceLost does what on_device_loss says about one lost device. It
// returns an error when vtepd is to exit.
func (d *Node) deviceLost(ev lostDevice) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.stop:
		return nil // stopping anyway
	default:
	}
	var (
		vx   *dataplane.Network
		ipip *dataplane.IPIPNetwork
		name string
	)
	for _, n := range d.vxlanNets {
		if n.Link() == ev.link {
			vx, name = n, n.Name()
		}
	}
	for _, n := range d.ipipNets {
		if n.Link() == ev.link {
			ipip, name = n, n.Name()
		}
	}
	if name == "" {
		return nil // the network was removed meanwhile
	}
	mode := onDeviceLoss(d.cfg)
	log := d.log.With(zap.String("network", name), zap.String("device", name), zap.String("on_device_loss", mode))
	if mode == control.DeviceLossExit {
		log.Error("device "+name+" deleted under vtepd: exiting", zap.Error(ev.err))
		return fmt.Errorf("network %q: %w; exiting (on_device_loss: %s)", name, ev.err, mode)
	}
	log.Warn("device "+name+" deleted under vtepd: recreating it", zap.Error(ev.err))
	spec := d.specLocked(name)
	var err error
	if vx != nil {
		err = d.recreateVXLANLocked(vx, spec)
	} else {
		err = d.recreateIPIPLocked(ipip, spec)
	}
	if err != nil {
		d.forgetLocked(name)
		log.Error("device "+name+" not recreated: exiting", zap.Error(err))
		return fmt.Errorf("network %q: device %s deleted under vtepd and not recreated: %w", name, name, err)
	}
	log.Info("device "+name+" recreated", zap.Stringer("address", spec.Address))
	return nil
}

// recreateVXLANLocked stops n, whose device is gone, and starts its network
// again from spec, with the static FDB entries n had.
func (d *Node) recreateVXLANLocked(n *dataplane.Network, spec control.Network) error {
	var statics []fdb.Entry
	for _, e := range n.Table().Entries() {
		if e.Static {
			statics = append(statics, e)
		}
	}
	for i, o := range d.vxlanNets {
		if o == n {
			d.vxlanNets = append(d.vxlanNets[:i:i], d.vxlanNets[i+1:]...)
			break
		}
	}
	if err := d.underlay.RemoveNetwork(n.VNI()); err != nil {
		d.log.Debug("closing the deleted device", zap.String("network", n.Name()), zap.Error(err))
	}
	if err := d.startVXLANLocked(spec); err != nil {
		return err
	}
	nw := d.vxlanNets[len(d.vxlanNets)-1]
	for _, e := range statics {
		if err := nw.Table().Add(e.MAC, e.Remote, true); err != nil {
			d.log.Warn("static fdb entry not restored", zap.String("network", n.Name()),
				zap.Stringer("mac", e.MAC), zap.Stringer("dst", e.Remote), zap.Error(err))
		}
	}
	return nil
}

// recreateIPIPLocked stops n, whose device is gone, and starts its network
// again from spec: the routes as they run, the kernel's routes to the
// device with them.
func (d *Node) recreateIPIPLocked(n *dataplane.IPIPNetwork, spec control.Network) error {
	for i, o := range d.ipipNets {
		if o == n {
			d.ipipNets = append(d.ipipNets[:i:i], d.ipipNets[i+1:]...)
			break
		}
	}
	if err := d.ipip.RemoveNetwork(n.Name()); err != nil {
		d.log.Debug("closing the deleted device", zap.String("network", n.Name()), zap.Error(err))
	}
	return d.startIPIPLocked(spec)
}

package node

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

// ErrReloadRefused is a reload that changed nothing because the config asks
// for what only a restart can do.
var ErrReloadRefused = errors.New("underlay: changed; restart vtepd to apply it (nothing was changed)")

// ErrReloadBGP is a reload refused because the BGP speaker itself changed:
// added, removed, or given another AS, router id or port. Its neighbors
// change without a restart.
var ErrReloadBGP = errors.New("bgp: the speaker (asn, router_id, listen_port, or bgp itself) changed; restart vtepd to apply it (nothing was changed)")

// Reload makes the running networks those of next, touching only what
// differs: a network whose settings are the same goes on untouched, one
// whose flood list or routes alone changed gets just those changes, one
// changed otherwise is restarted, and networks come and go as listed.
// on_device_loss applies at once: deviceLost reads it under d.mu, which
// reload holds. The underlay cannot change under running networks: such a
// config is refused whole. What flags set over the file at start (like
// --on-device-loss) still holds. An error leaves what did apply in place.
func (d *Node) Reload(next *control.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !sameUnderlay(next.Underlay, d.cfg.Underlay) {
		return ErrReloadRefused
	}
	if !sameSpeaker(next.BGP, d.cfg.BGP) {
		return ErrReloadBGP
	}
	d.cfg.KeepFlags(next)
	if next.Control != d.cfg.Control || next.Metrics != d.cfg.Metrics || next.LogLevel != d.cfg.LogLevel {
		d.log.Warn("reload: control, metrics and log_level apply at the next start")
	}
	if onDeviceLoss(next) != onDeviceLoss(d.cfg) {
		d.log.Info("reload: on_device_loss changed", zap.String("from", onDeviceLoss(d.cfg)), zap.String("to", onDeviceLoss(next)))
	}
	d.cfg.OnDeviceLoss = next.OnDeviceLoss
	want := map[string]control.Network{}
	for _, n := range next.Networks {
		want[n.Name] = n
	}
	errs := []error{d.updateNeighborsLocked(next.BGP)}
	// Removals first: they free names and VNIs the additions may take.
	for _, cur := range slices.Clone(d.cfg.Networks) {
		n, keep := want[cur.Name]
		switch {
		case !keep:
			errs = append(errs, d.removeNetworkLocked(cur.Name))
		case !sameNetwork(cur, n):
			d.log.Info("reload: restarting network", zap.String("name", cur.Name))
			errs = append(errs, d.removeNetworkLocked(cur.Name))
		}
	}
	for _, n := range next.Networks {
		cur := d.specLocked(n.Name)
		if cur.Name == "" {
			if err := d.addNetworkLocked(n); err != nil {
				errs = append(errs, fmt.Errorf("network %q: %w", n.Name, err))
			}
			continue
		}
		errs = append(errs, d.updatePeersLocked(cur, n), d.updateRoutesLocked(cur, n))
	}
	return errors.Join(errs...)
}

// onDeviceLoss is what c's on_device_loss stands for, the default when
// empty.
func onDeviceLoss(c *control.Config) string {
	if c.OnDeviceLoss == "" {
		return control.DefaultOnDeviceLoss
	}
	return c.OnDeviceLoss
}

// sameUnderlay reports whether two underlay configs are the same, the
// accept setting and allow list included.
func sameUnderlay(a, b control.Underlay) bool {
	if !slices.Equal(a.Allow, b.Allow) {
		return false
	}
	a.Allow, b.Allow = nil, nil
	return reflect.DeepEqual(a, b)
}

// sameNetwork reports whether two configs of a network differ at most in
// their flood list and routes, which change without a restart.
func sameNetwork(a, b control.Network) bool {
	a.Remotes, b.Remotes, a.Routes, b.Routes = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// sameSpeaker reports whether two BGP configs run the same speaker, their
// neighbors aside.
func sameSpeaker(a, b *control.BGP) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ASN == b.ASN && a.RouterID == b.RouterID && a.ListenPort == b.ListenPort
}

// updateNeighborsLocked brings the speaker's neighbors to next's: the
// sessions of neighbors that stay as they were are not touched.
func (d *Node) updateNeighborsLocked(next *control.BGP) error {
	sp := d.evpn.speaker
	if next == nil || sp == nil {
		return nil
	}
	var errs []error
	cur := d.cfg.BGP.Neighbors
	for _, n := range cur {
		if !slices.Contains(next.Neighbors, n) {
			d.log.Info("reload: bgp neighbor removed", zap.Stringer("address", n.Address))
			errs = append(errs, sp.DeleteNeighbor(n.Address))
		}
	}
	kept := slices.DeleteFunc(slices.Clone(cur), func(n control.Neighbor) bool { return !slices.Contains(next.Neighbors, n) })
	for _, n := range next.Neighbors {
		if slices.Contains(cur, n) {
			continue
		}
		d.log.Info("reload: bgp neighbor added", zap.Stringer("address", n.Address))
		if err := sp.AddNeighbor(n); err != nil {
			errs = append(errs, fmt.Errorf("bgp neighbor %s: %w", n.Address, err))
			continue
		}
		kept = append(kept, n)
	}
	bgp := *d.cfg.BGP
	bgp.Neighbors = kept
	d.cfg.BGP = &bgp
	return errors.Join(errs...)
}

// updatePeersLocked brings a VXLAN network's flood list from cur to next.
func (d *Node) updatePeersLocked(cur, next control.Network) error {
	if next.Kind != control.KindVXLAN || slices.Equal(cur.Remotes, next.Remotes) {
		return nil
	}
	for _, n := range d.vxlanNets {
		if n.Name() == next.Name {
			n.Table().SetFlood(next.Remotes)
			d.refloodLocked(n) // what BGP put there stays
			d.setRemotesLocked(n)
			d.log.Info("reload: flood list", zap.String("network", next.Name), zap.Stringers("remotes", next.Remotes))
		}
	}
	return nil
}

// updateRoutesLocked brings an IPIP network's routes from cur to next.
func (d *Node) updateRoutesLocked(cur, next control.Network) error {
	if next.Kind != control.KindIPIP || slices.Equal(cur.Routes, next.Routes) {
		return nil
	}
	n, err := d.ipipNetworkLocked(next.Name)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range cur.Routes {
		if !slices.Contains(next.Routes, r) {
			errs = append(errs, d.staticRouteDelLocked(n, r.Prefix))
		}
	}
	for _, r := range next.Routes {
		if !slices.Contains(cur.Routes, r) {
			// A prefix whose endpoint changed was removed just above.
			errs = append(errs, d.staticRouteAddLocked(n, fdb.Route{Prefix: r.Prefix, Via: r.Via}))
		}
	}
	return errors.Join(errs...)
}

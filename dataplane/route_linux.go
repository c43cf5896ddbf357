package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProto says who made a kernel route, as `ip route` shows it (the
// routing socket's RTPROT_*).
type RouteProto uint8

const (
	// RouteBoot is what `ip route add` gives, shown without a proto.
	RouteBoot RouteProto = unix.RTPROT_BOOT
	// RouteBGP is a route learnt over BGP: `proto bgp`.
	RouteBGP RouteProto = unix.RTPROT_BGP
)

// AddDeviceRoute makes the kernel send packets for p into the device dev
// (`ip route replace p dev dev proto PROTO`), so they reach the network's
// forwarding.
func AddDeviceRoute(dev string, p netip.Prefix, proto RouteProto) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("route %s dev %s: %w", p, dev, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(p), Scope: netlink.SCOPE_LINK,
		Protocol: netlink.RouteProtocol(proto)}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %s dev %s: %w", p, dev, err)
	}
	return nil
}

// DelDeviceRoute removes what AddDeviceRoute added; a route already gone is
// not an error.
func DelDeviceRoute(dev string, p netip.Prefix) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("route %s dev %s: %w", p, dev, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(p), Scope: netlink.SCOPE_LINK}
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("route %s dev %s: %w", p, dev, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

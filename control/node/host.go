package node

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"

	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/fdb"
)

// Host makes the devices, sockets and kernel routes a node runs on. Linux
// returns the real ones; tests give in-memory fakes (dataplane/linktest),
// so that reload, device loss and the control API's mapping run without
// root. A nil field is Linux's.
type Host struct {
	// UnderlayMTU is the MTU of the device that holds the local address:
	// what a network's MTU is taken from when the config gives none.
	UnderlayMTU func(local netip.Addr) (int, error)
	// ListenUDP opens the VXLAN underlay's sockets.
	ListenUDP func(local netip.Addr, port uint16, o dataplane.UDPOffload) (dataplane.Conn, error)
	// ListenIPIP opens the IPIP underlay's sockets: one raw socket to
	// receive with group 0, a fanout group of that many packet sockets
	// otherwise.
	ListenIPIP func(local netip.Addr, group int) (dataplane.Conn, error)
	// OpenGroup joins a VXLAN network's multicast group.
	OpenGroup func(group netip.Addr, dev string, port uint16) (dataplane.Conn, error)
	// CreateTAP and CreateTUN make a network's device.
	CreateTAP func(dataplane.DeviceConfig) (dataplane.Link, error)
	CreateTUN func(dataplane.DeviceConfig) (dataplane.Link, error)
	// AddRoute and DelRoute point the kernel's route for a prefix at an
	// IPIP network's device, and take it away; proto says who made it.
	AddRoute func(dev string, p netip.Prefix, proto dataplane.RouteProto) error
	DelRoute func(dev string, p netip.Prefix) error
	// DeviceMAC is a device's own MAC address, which EVPN announces.
	DeviceMAC func(dev string) (fdb.MAC, error)
}

// withDefaults is h with every nil field Linux's.
func (h Host) withDefaults() Host {
	v, l := reflect.ValueOf(&h).Elem(), reflect.ValueOf(Linux())
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			v.Field(i).Set(l.Field(i))
		}
	}
	return h
}

// Linux is the host vtepd runs on: TAP and TUN devices, UDP and raw
// sockets, routes through netlink.
func Linux() Host {
	return Host{
		UnderlayMTU: dataplane.UnderlayMTU,
		ListenUDP:   dataplane.ListenUDPOffload,
		ListenIPIP:  dataplane.ListenIPIP,
		OpenGroup:   dataplane.ListenGroup,
		CreateTAP:   dataplane.CreateTAP,
		CreateTUN:   dataplane.CreateTUN,
		AddRoute:    dataplane.AddDeviceRoute,
		DelRoute:    dataplane.DelDeviceRoute,
		DeviceMAC:   kernelMAC,
	}
}

// kernelMAC reads a device's MAC address from the kernel: the one vtepd
// gave it, unless somebody changed it since.
func kernelMAC(dev string) (fdb.MAC, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return fdb.MAC{}, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return fdb.MAC{}, fmt.Errorf("%s: no Ethernet address", dev)
	}
	return fdb.MAC(ifi.HardwareAddr), nil
}

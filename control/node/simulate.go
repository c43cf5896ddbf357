package node

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// Simulate answers a what-if (`vtepctl trace --simulate`): it builds the
// frame or packet the expression describes, as the device would hand it
// to vtepd, and asks the network what it would do with it, from its live
// tables, sending nothing.
func (d *Node) Simulate(req control.SimulateRequest) (control.SimulateResult, error) {
	s, err := control.ParseSimulation(req.Expr)
	if err != nil {
		return control.SimulateResult{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if vx, ipip, err := d.simulatedNetLocked(req.Network, s); err != nil {
		return control.SimulateResult{}, err
	} else if vx != nil {
		return d.simulateVXLAN(vx, s)
	} else {
		return d.simulateIPIP(ipip, s)
	}
}

// simulatedNetLocked finds the network a what-if is about: named, by the
// expression's vni, or the only one of the kind its dst implies.
func (d *Node) simulatedNetLocked(name string, s control.Simulation) (*dataplane.Network, *dataplane.IPIPNetwork, error) {
	for _, n := range d.vxlanNets {
		if n.Name() == name || name == "" && s.HasVNI && n.VNI() == s.VNI {
			if !s.IsMAC {
				return nil, nil, control.Errorf(control.ErrInvalid, "dst: %s is a vxlan network: want a MAC, broadcast or arp IP", n.Name())
			}
			return n, nil, nil
		}
	}
	for _, n := range d.ipipNets {
		if n.Name() == name {
			if s.IsMAC {
				return nil, nil, control.Errorf(control.ErrInvalid, "dst: %s is an ipip network: want an IPv4 address", n.Name())
			}
			return nil, n, nil
		}
	}
	switch {
	case name != "":
		return nil, nil, control.Errorf(control.ErrNotFound, "network %q: no such network", name)
	case s.HasVNI:
		return nil, nil, control.Errorf(control.ErrNotFound, "vni %d: no such network", s.VNI)
	case s.IsMAC && len(d.vxlanNets) == 1:
		return d.vxlanNets[0], nil, nil
	case !s.IsMAC && len(d.ipipNets) == 1:
		return nil, d.ipipNets[0], nil
	}
	return nil, nil, control.Errorf(control.ErrInvalid, "network: which one? (give --network, or vni N in the expression)")
}

func (d *Node) simulateVXLAN(n *dataplane.Network, s control.Simulation) (control.SimulateResult, error) {
	res := control.SimulateResult{Network: n.Name(), Kind: control.KindVXLAN}
	src := s.SrcMAC
	if !s.HasSrc || !s.SrcIP.IsValid() && src == (fdb.MAC{}) {
		if m, err := d.host.DeviceMAC(n.Name()); err == nil {
			src = m
		}
	}
	spec := d.specLocked(n.Name())
	srcIP := s.SrcIP
	if !srcIP.IsValid() {
		srcIP = spec.Address.Addr()
	}
	if !srcIP.Is4() {
		srcIP = netip.IPv4Unspecified()
	}
	var frame []byte
	if s.ARP.IsValid() {
		frame = make([]byte, max(s.Len, encap.ARPFrameLen))
		encap.PutARPRequest(frame, src, srcIP, s.ARP)
		res.Frame = fmt.Sprintf("%s > broadcast, ARP who-has %s tell %s", src, s.ARP, srcIP)
	} else {
		// An echo request with DF set, as ping sends: the MTU what-ifs
		// are about such packets.
		dstIP := s.To
		if !dstIP.IsValid() {
			dstIP = srcIP
		}
		frame = echoFrame(s.DstMAC, src, srcIP, dstIP, max(s.Len, encap.EthernetHeaderLen+encap.IPv4MinHeaderLen+8))
		res.Frame = fmt.Sprintf("%s > %s, IPv4 %s > %s ICMP echo request, DF", src, fdb.MAC(s.DstMAC), srcIP, dstIP)
	}
	res.Len = len(frame)
	v := n.WhatIf(frame)
	fill(&res, v)
	switch v.Lookup {
	case dataplane.LookupHit:
		kind := "learnt"
		switch {
		case v.Entry.Extern:
			kind = "extern_learn (BGP EVPN)"
		case v.Entry.Static:
			kind = "static"
		}
		res.Entry = fmt.Sprintf("%s dst %s, %s", v.Entry.MAC, v.Entry.Remote, kind)
	case dataplane.LookupSuppressed:
		res.Answer = v.Answer.String()
	}
	if len(res.Remotes)+len(res.Group) > 0 && res.Drop == "" && v.Lookup != dataplane.LookupSuppressed {
		u := d.underlay.Config()
		to := "each"
		if len(v.Remotes) == 1 && !v.Group.IsValid() {
			to = v.Remotes[0].String()
		}
		res.Outer = fmt.Sprintf("VXLAN vni %d, %s:%d > %s:%d", n.VNI(), u.Local, v.SourcePort, to, u.Port)
	}
	if res.Drop != "" {
		res.Why = vxlanWhy(v, n, len(frame))
	} else if len(v.Remotes) > 0 && v.Lookup != dataplane.LookupSuppressed {
		res.Packet = hex.EncodeToString(n.Encapsulate(frame, v.Remotes[0]))
	}
	return res, nil
}

func (d *Node) simulateIPIP(n *dataplane.IPIPNetwork, s control.Simulation) (control.SimulateResult, error) {
	res := control.SimulateResult{Network: n.Name(), Kind: control.KindIPIP}
	if !s.DstIP.IsValid() {
		return res, control.Errorf(control.ErrInvalid, "dst: want an IPv4 address for ipip network %s", n.Name())
	}
	src := s.SrcIP
	if !src.IsValid() {
		src = n.Config().Address
	}
	if !src.Is4() {
		src = netip.IPv4Unspecified()
	}
	pkt := echoFrame(fdb.MAC{}, fdb.MAC{}, src, s.DstIP, max(s.Len, encap.IPv4MinHeaderLen+8)+encap.EthernetHeaderLen)[encap.EthernetHeaderLen:]
	res.Frame = fmt.Sprintf("IPv4 %s > %s ICMP echo request, DF", src, s.DstIP)
	res.Len = len(pkt)
	v := n.WhatIf(pkt)
	fill(&res, v)
	if v.Lookup == dataplane.LookupRoute {
		res.Route = v.Route.String()
		if res.Drop == "" {
			res.Outer = fmt.Sprintf("IPIP %s > %s", d.ipip.Local(), v.Route.Via)
			res.Packet = hex.EncodeToString(n.Encapsulate(pkt, v.Route.Via))
		}
	}
	switch {
	case !v.Dropped:
	case v.Drop == dataplane.DropNoRemote:
		res.Why = fmt.Sprintf("no route of %s holds %s", n.Name(), s.DstIP)
	case v.Drop == dataplane.DropTooBig:
		res.Why = fmt.Sprintf("%d bytes is over the tunnel's %d (the underlay's MTU less 20); with DF set, the sender gets ICMP fragmentation needed",
			len(pkt), n.Config().PathMTU)
	default:
		res.Why = "the packet is not IPv4 vtepd can carry"
	}
	return res, nil
}

// fill copies what is common to both kinds from a verdict.
func fill(res *control.SimulateResult, v dataplane.Verdict) {
	res.Lookup = v.Lookup
	for _, r := range v.Remotes {
		res.Remotes = append(res.Remotes, r.String())
	}
	if v.Group.IsValid() {
		res.Group = v.Group.String()
	}
	res.OuterLen, res.Fragments = v.Outer, v.Fragments
	if v.Dropped {
		res.Drop = v.Drop.String()
	}
}

func vxlanWhy(v dataplane.Verdict, n *dataplane.Network, l int) string {
	switch v.Drop {
	case dataplane.DropNoRemote:
		return "nowhere to flood it: the flood list is empty and there is no group"
	case dataplane.DropTooBig:
		if v.Outer > 0 {
			return fmt.Sprintf("the outer packet, %d bytes, is over the underlay's MTU (%d) and its DF bit would be set (df %s)",
				v.Outer, n.Config().PathMTU, dfWord(n.Config().DF))
		}
		return fmt.Sprintf("%d bytes is over what the device's MTU (%d) lets through", l, n.Config().MTU)
	case dataplane.DropMalformed:
		return "shorter than an Ethernet header"
	}
	return ""
}

func dfWord(df int8) string {
	switch df {
	case encap.IPIPDFSet:
		return "set"
	case encap.IPIPDFCopy:
		return "inherit"
	}
	return "unset"
}

// echoFrame is an Ethernet frame of length l holding an ICMP echo request
// from src to dst with DF set.
func echoFrame(dstMAC, srcMAC fdb.MAC, src, dst netip.Addr, l int) []byte {
	f := make([]byte, l)
	e := encap.Ethernet(f)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetEtherType(encap.EtherTypeIPv4)
	data := make([]byte, max(l-encap.EthernetHeaderLen-encap.IPv4MinHeaderLen-8, 0))
	if _, err := encap.PutICMPv4Echo(f[encap.EthernetHeaderLen:], src, dst, 0, 8, 1, 1, data); err == nil {
		ip := encap.IPv4(f[encap.EthernetHeaderLen:])
		ip.SetDF(true)
		ip.SetChecksum()
	}
	return f
}

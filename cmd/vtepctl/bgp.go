package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vtepd/vtepd/control"
)

// bgp is `vtepctl bgp [neighbors]` and `vtepctl bgp neighbor add|del`.
func (c *cli) bgp(args []string) error {
	sub := "neighbors"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "neighbors", "summary", "show":
		return c.bgpShow(args)
	case "neighbor":
		if len(args) == 0 {
			return usagef("bgp neighbor: missing command (want add or del)")
		}
		switch args[0] {
		case "add":
			return c.bgpNeighborAdd(args[1:])
		case "del", "delete":
			return c.bgpNeighborDel(args[1:])
		}
		return usagef("bgp neighbor: %q: unknown command (want add or del)", args[0])
	}
	return usagef("bgp: %q: unknown command (want neighbors or neighbor add|del)", sub)
}

func (c *cli) bgpShow(args []string) error {
	var asJSON bool
	if err := options("bgp neighbors", args, nil, &asJSON); err != nil {
		return err
	}
	info, err := c.client.BGP()
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(info)
	}
	fmt.Fprintf(c.out, "BGP router identifier %s, local AS number %d\n\n", info.RouterID, info.ASN)
	fmt.Fprintf(c.out, "%-16s %10s %-12s %9s %9s %9s\n", "Neighbor", "AS", "State", "Up/Down", "Received", "Sent")
	for _, n := range info.Neighbors {
		fmt.Fprintf(c.out, "%-16s %10d %-12s %9s %9d %9d\n", n.Address, n.ASN, n.State,
			upDown(n.UptimeSeconds), n.Received, n.Sent)
		if n.Reason != "" && n.State != "Established" {
			fmt.Fprintf(c.out, "  last reset: %s\n", n.Reason)
		}
	}
	var ignored []string
	for _, k := range slices.Sorted(maps.Keys(info.Ignored)) {
		if v := info.Ignored[k]; v > 0 {
			ignored = append(ignored, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(ignored) > 0 {
		fmt.Fprintf(c.out, "\nRoutes ignored: %s\n", strings.Join(ignored, ", "))
	}
	return nil
}

// upDown is a session's age as FRR shows it: hh:mm:ss, or "never".
func upDown(s float64) string {
	if s <= 0 {
		return "never"
	}
	d := time.Duration(s) * time.Second
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func (c *cli) bgpNeighborAdd(args []string) error {
	const cmd = "bgp neighbor add"
	if len(args) == 0 {
		return usagef("%s: IP: required (want %s IP [asn N] [port P] [password S] [passive] [max-prefixes N])", cmd, cmd)
	}
	addr, err := parseAddr(cmd, "IP", args[0])
	if err != nil {
		return err
	}
	rest := args[1:]
	n := control.Neighbor{Address: addr}
	if i := slices.Index(rest, "passive"); i >= 0 {
		n.Passive = true
		rest = slices.Delete(slices.Clone(rest), i, i+1)
	}
	kw, err := keywords(cmd, rest, "asn", "port", "password", "max-prefixes")
	if err != nil {
		return err
	}
	num := func(word string, lo, hi uint64) (uint64, error) {
		v, err := strconv.ParseUint(kw[word], 10, 32)
		if err != nil || v < lo || v > hi {
			return 0, usagef("%s: %s: want an integer %d..%d, got %q", cmd, word, lo, hi, kw[word])
		}
		return v, nil
	}
	if _, ok := kw["asn"]; ok {
		v, err := num("asn", 1, 1<<32-1)
		if err != nil {
			return err
		}
		n.ASN = uint32(v)
	}
	if _, ok := kw["port"]; ok {
		v, err := num("port", 1, 65535)
		if err != nil {
			return err
		}
		n.Port = uint16(v)
	}
	if _, ok := kw["max-prefixes"]; ok {
		v, err := num("max-prefixes", 0, 1<<31-1)
		if err != nil {
			return err
		}
		n.MaxPrefixes = int(v)
	}
	n.Password = kw["password"]
	return c.client.BGPNeighborAdd(n)
}

func (c *cli) bgpNeighborDel(args []string) error {
	const cmd = "bgp neighbor del"
	if len(args) != 1 {
		return usagef("%s: want %s IP", cmd, cmd)
	}
	addr, err := parseAddr(cmd, "IP", args[0])
	if err != nil {
		return err
	}
	return c.client.BGPNeighborDel(addr)
}

// evpn is `vtepctl evpn routes`.
func (c *cli) evpn(args []string) error {
	sub := "routes"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	if sub != "routes" && sub != "show" {
		return usagef("evpn: %q: unknown command (want routes)", sub)
	}
	var vniArg string
	var asJSON bool
	if err := options("evpn routes", args, map[string]*string{"vni": &vniArg}, &asJSON); err != nil {
		return err
	}
	vni, all, err := optionalVNI("evpn routes", vniArg)
	if err != nil {
		return err
	}
	routes, err := c.client.EVPNRoutes(vni, all)
	if err != nil {
		return err
	}
	if asJSON {
		return printList(c, routes)
	}
	// One line a path, in the words of FRR's show bgp l2vpn evpn: the
	// route as [type]:[MAC]:[IP] or [3]:[endpoint], then its attributes.
	for _, r := range routes {
		best := " "
		if r.Best {
			best = ">"
		}
		var route string
		if r.Type == 2 {
			route = "[2]:[" + r.MAC + "]"
			if r.IP != "" {
				route += ":[" + r.IP + "]"
			}
		} else {
			route = fmt.Sprintf("[%d]:[%s]", r.Type, r.NextHop)
		}
		from := "local"
		if r.Peer != "" {
			from = "from " + r.Peer
		}
		line := fmt.Sprintf("%s vni %d rd %s %s next-hop %s %s", best, r.VNI, r.RD, route, r.NextHop, from)
		if r.Seq > 0 {
			line += fmt.Sprintf(" seq %d", r.Seq)
		}
		fmt.Fprintln(c.out, line)
	}
	return nil
}

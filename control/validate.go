package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate checks the whole config: required fields, ranges, uniqueness of
// names and VNIs, address families, and fields set on the wrong kind of
// network. The error names the field path, like "networks[1].vni".
func (c *Config) Validate() error {
	return c.validate(func(path string) string { return path })
}

// validate is Validate with the field paths rendered by name, so that a
// config built from flags reports the flag instead of the path.
func (c *Config) validate(name func(path string) string) error {
	v := validator{name: name}
	v.underlay(&c.Underlay)
	if v.err != nil {
		return v.err
	}
	if len(c.Networks) == 0 {
		v.fail("networks", "want at least one network")
		return v.err
	}
	names := map[string]int{}
	vnis := map[uint32]int{}
	for i := range c.Networks {
		n := &c.Networks[i]
		p := fmt.Sprintf("networks[%d]", i)
		v.network(p, n, c.Underlay.Local)
		if v.err != nil {
			return v.err
		}
		if j, dup := names[n.Name]; dup {
			v.fail(p+".name", "%q is already used by %s", n.Name, name(fmt.Sprintf("networks[%d]", j)))
			return v.err
		}
		names[n.Name] = i
		if n.Kind == KindVXLAN {
			if j, dup := vnis[n.VNI]; dup {
				v.fail(p+".vni", "%d is already used by %s", n.VNI, name(fmt.Sprintf("networks[%d]", j)))
				return v.err
			}
			vnis[n.VNI] = i
		}
	}
	v.top(c)
	return v.err
}

// validator keeps the first error; later checks are skipped once one failed.
type validator struct {
	name func(path string) string
	err  error
}

func (v *validator) fail(path, format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("%s: %s", v.name(path), fmt.Sprintf(format, args...))
	}
}

// fieldName is how an error names a key the user wrote: as written when it
// reads as a name (letters, digits, '_' and '-'), else quoted in Go syntax,
// so that an empty key or one with spaces, dots, quotes or line breaks
// still stands apart from the path around it and the message stays on one
// line.
func fieldName(s string) string {
	plain := func(r rune) bool { return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	// Bytes that are not UTF-8 range as U+FFFD, which is no letter.
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func (v *validator) underlay(u *Underlay) {
	switch {
	case !u.Local.IsValid():
		v.fail("underlay.local", "required (the source address of outer packets)")
	case u.Local.IsUnspecified() || u.Local.IsMulticast():
		v.fail("underlay.local", "want a unicast address, got %q", u.Local)
	case u.Port == 0:
		v.fail("underlay.port", "want an integer 1..65535, got 0")
	case u.SrcPortMin == 0 || u.SrcPortMin > u.SrcPortMax:
		v.fail("underlay.srcport", "want %s, got %d-%d", wantSrcPort, u.SrcPortMin, u.SrcPortMax)
	case u.TTL == 0:
		v.fail("underlay.ttl", "want an integer 1..255, got 0")
	case u.McastTTL == 0:
		v.fail("underlay.mcast_ttl", "want an integer 1..255, got 0")
	case checkAccept(u.Accept) != nil:
		v.fail("underlay.accept", "%s, got %q", wantAccept, u.Accept)
	case len(u.Allow) > 0 && u.Accept != AcceptPeers:
		v.fail("underlay.allow", "only with %s %s (%s takes packets from everywhere)", v.name("underlay.accept"), AcceptPeers, AcceptAny)
	}
	for i, p := range u.Allow {
		ap := fmt.Sprintf("underlay.allow[%d]", i)
		switch {
		case !p.IsValid():
			v.fail(ap, "want %s, got none", wantAllow)
		case p.Addr().Is4() != u.Local.Is4() || p.Addr().Is4In6():
			v.fail(ap, "want an %s prefix like %s, got %q", family(u.Local), v.name("underlay.local"), p)
		case p != p.Masked():
			v.fail(ap, "want a network prefix like %s, got %q", p.Masked(), p)
		}
	}
}

// peer checks an underlay address of another endpoint.
func (v *validator) peer(path string, a, local netip.Addr) {
	switch {
	case a.Is4() != local.Is4():
		v.fail(path, "want an %s address like %s, got %q", family(local), v.name("underlay.local"), a)
	case a == local:
		v.fail(path, "is %s itself (%s); want another endpoint's address", v.name("underlay.local"), a)
	case a.IsUnspecified() || a.IsMulticast():
		v.fail(path, "want a unicast address, got %q", a)
	}
}

// ifName checks an interface name, required at path.
func (v *validator) ifName(path, s string) {
	if s == "" {
		v.fail(path, "required")
		return
	}
	if err := ifNameError(s); err != nil {
		v.fail(path, "%v", err)
	}
}

// ifNameError says what is wrong with an interface name: what Linux's
// dev_valid_name refuses (empty, IFNAMSIZ or more bytes with the NUL, "."
// or "..", '/', ':' or a byte its isspace takes for a space), and bytes
// that are not UTF-8, which JSON, the API's language, cannot carry.
func ifNameError(s string) error {
	switch {
	case s == "":
		return errors.New(`want an interface name, got ""`)
	case !utf8.ValidString(s):
		return fmt.Errorf("want an interface name in UTF-8, got %q", s)
	case len(s) > maxIfName:
		return fmt.Errorf("want at most %d bytes, got %q (%d)", maxIfName, s, len(s))
	case s == "." || s == "..":
		return fmt.Errorf("want an interface name, got %q", s)
	case strings.ContainsAny(s, "/:") || strings.IndexFunc(s, isSpace) >= 0:
		return fmt.Errorf("want an interface name without '/', ':' or spaces, got %q", s)
	case strings.IndexByte(s, nbsp) >= 0:
		// In UTF-8 the byte ends letters like "à" (c3 a0).
		return fmt.Errorf("want an interface name without the byte 0xa0, which Linux takes for a space, got %q", s)
	}
	return nil
}

func isSpace(r rune) bool { return r == ' ' || (r >= '\t' && r <= '\r') }

// nbsp is Latin-1's no-break space, a space to the kernel's isspace
// (lib/ctype.c) wherever it stands in a name.
const nbsp = 0xa0

func (v *validator) network(p string, n *Network, local netip.Addr) {
	switch n.Kind {
	case KindVXLAN, KindIPIP:
	default:
		v.fail(p+".kind", "want %q or %q, got %q", KindVXLAN, KindIPIP, n.Kind)
		return
	}
	if n.Kind == KindIPIP && n.Name == "" {
		v.fail(p+".name", "required for an %s network (the TUN device to create)", KindIPIP)
		return
	}
	v.ifName(p+".name", n.Name)
	if n.MTU != 0 && (n.MTU < minMTU || n.MTU > maxMTU) {
		v.fail(p+".mtu", "want an integer %d..%d (0 = from the underlay), got %d", minMTU, maxMTU, n.MTU)
	}
	if n.Address.IsValid() && n.Address.Addr().Is6() && n.MTU != 0 && n.MTU < minMTU6 {
		v.fail(p+".mtu", "want at least %d for an IPv6 address (RFC 8200 s5), got %d", minMTU6, n.MTU)
	}
	if n.Kind == KindVXLAN {
		v.vxlan(p, n, local)
	} else {
		v.ipip(p, n, local)
	}
}

func (v *validator) vxlan(p string, n *Network, local netip.Addr) {
	other := func(f string) { v.fail(p+"."+f, "only for %s networks, this one is %s", KindIPIP, KindVXLAN) }
	switch {
	case n.Remote.IsValid():
		other("remote")
	case n.TTL != 0:
		other("ttl")
	case len(n.Routes) > 0:
		other("routes")
	case n.VNI > MaxVNI:
		v.fail(p+".vni", "want an integer 0..%d, got %d", MaxVNI, n.VNI)
	case n.Limit < 1:
		v.fail(p+".limit", "want an integer 1..%d, got %d", maxLimit, n.Limit)
	case n.Ageing < 0:
		v.fail(p+".ageing", "want a duration like 300s (0 = never age), got %s", n.Ageing)
	case n.MACMoves < 0 || n.MACMoves > maxLimit:
		v.fail(p+".mac_moves", "want an integer 0..%d (0 = no limit), got %d", maxLimit, n.MACMoves)
	case n.FloodRate < 0 || n.FloodRate > maxLimit:
		v.fail(p+".flood_rate", "want an integer 0..%d (0 = no limit), got %d", maxLimit, n.FloodRate)
	}
	seen := map[netip.Addr]bool{}
	for i, r := range n.Remotes {
		rp := fmt.Sprintf("%s.remotes[%d]", p, i)
		if r.IsValid() && r.IsMulticast() && r.Is4() == local.Is4() {
			v.fail(rp, "want a unicast address (a multicast group goes in %s), got %q", v.name(p+".group"), r)
		}
		if !r.IsValid() {
			v.fail(rp, "want an IP address, got none")
			continue
		}
		v.peer(rp, r, local)
		if seen[r] {
			v.fail(rp, "%s is listed twice", r)
		}
		seen[r] = true
	}
	if n.Group.IsValid() {
		switch {
		case !n.Group.IsMulticast():
			v.fail(p+".group", "want a multicast address, got %q", n.Group)
		case n.Group.Is4() != local.Is4():
			v.fail(p+".group", "want an %s address like %s, got %q", family(local), v.name("underlay.local"), n.Group)
		case n.Dev == "":
			v.fail(p+".dev", "required with %s (the underlay device to join %s on)", v.name(p+".group"), n.Group)
		}
	}
	if n.Dev != "" {
		v.ifName(p+".dev", n.Dev)
	}
}

func (v *validator) ipip(p string, n *Network, local netip.Addr) {
	other := func(f string) { v.fail(p+"."+f, "only for %s networks, this one is %s", KindVXLAN, KindIPIP) }
	switch {
	case n.VNI != 0:
		other("vni")
	case len(n.Remotes) > 0:
		other("remotes")
	case n.Group.IsValid():
		other("group")
	case n.Dev != "":
		other("dev")
	case n.MACMoves != 0:
		other("mac_moves")
	case n.FloodRate != 0:
		other("flood_rate")
	case !local.Is4():
		// RFC 2003 carries IPv4 in IPv4; the outer header is IPv4.
		v.fail(p+".kind", "%s needs an IPv4 %s (RFC 2003), got %q", KindIPIP, v.name("underlay.local"), local)
	case n.Address.IsValid() && !n.Address.Addr().Is4():
		v.fail(p+".address", "want an IPv4 prefix (%s carries IPv4), got %q", KindIPIP, n.Address)
	}
	if n.Remote.IsValid() {
		v.peer(p+".remote", n.Remote, local)
	}
	seen := map[netip.Prefix]int{}
	for i, r := range n.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		switch {
		case !r.Prefix.IsValid():
			v.fail(rp+".prefix", "required (the destination prefix, like 10.244.1.0/24)")
		case !r.Prefix.Addr().Is4():
			v.fail(rp+".prefix", "want an IPv4 prefix (%s carries IPv4), got %q", KindIPIP, r.Prefix)
		case r.Prefix != r.Prefix.Masked():
			v.fail(rp+".prefix", "want a network prefix like %s, got %q", r.Prefix.Masked(), r.Prefix)
		case !r.Via.IsValid():
			v.fail(rp+".via", "required (the remote endpoint for %s)", r.Prefix)
		}
		if v.err != nil {
			return
		}
		v.peer(rp+".via", r.Via, local)
		if j, dup := seen[r.Prefix]; dup {
			v.fail(rp+".prefix", "%s is already routed by %s", r.Prefix, v.name(fmt.Sprintf("%s.routes[%d]", p, j)))
		}
		seen[r.Prefix] = i
	}
}

func (v *validator) top(c *Config) {
	switch {
	case c.Control == "":
		v.fail("control", "required (the control socket path, like %s)", DefaultControl)
	case len(c.Control) > maxSocketPath:
		v.fail("control", "want a socket path of at most %d bytes, got %d bytes", maxSocketPath, len(c.Control))
	}
	if c.Metrics != "" {
		host, port, err := net.SplitHostPort(c.Metrics)
		n, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil || n == 0 || strings.ContainsAny(host, " /") {
			v.fail("metrics", "want host:port like 127.0.0.1:9470, got %q", c.Metrics)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log_level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if err := checkOnDeviceLoss(c.OnDeviceLoss); err != nil {
		v.fail("on_device_loss", "%v, got %q", err, c.OnDeviceLoss)
	}
}

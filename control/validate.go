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
// The error is a *FieldError, printed by the file's paths; Names gives the
// words of the front end the config came from.
func (c *Config) Validate() error {
	v := validator{}
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
			v.fail(p+".name", "%q is already used by %s", n.Name, v.ref(fmt.Sprintf("networks[%d]", j)))
			return v.err
		}
		names[n.Name] = i
		if n.Kind == KindVXLAN {
			if j, dup := vnis[n.VNI]; dup {
				v.fail(p+".vni", "%d is already used by %s", n.VNI, v.ref(fmt.Sprintf("networks[%d]", j)))
				return v.err
			}
			vnis[n.VNI] = i
		}
	}
	bgpNet := -1
	for i, n := range c.Networks {
		if n.EVPN && c.BGP == nil {
			v.fail(fmt.Sprintf("networks[%d].evpn", i), "needs a BGP speaker: bgp with an asn and neighbors (--bgp-asn, --bgp-neighbor)")
			return v.error()
		}
		if !n.BGP {
			continue
		}
		if c.BGP == nil {
			v.fail(fmt.Sprintf("networks[%d].bgp", i), "needs a BGP speaker: bgp with an asn and neighbors (--bgp-asn, --bgp-neighbor)")
			return v.error()
		}
		if bgpNet >= 0 {
			// The peers' blocks are routed into one device, as into
			// Calico's one tunl0.
			v.fail(fmt.Sprintf("networks[%d].bgp", i), "only one ipip network takes part in BGP; %s already does", v.ref(fmt.Sprintf("networks[%d]", bgpNet)))
			return v.error()
		}
		bgpNet = i
	}
	if c.BGP != nil {
		for i, nb := range c.BGP.Neighbors {
			if nb.Address.IsUnspecified() || nb.Address.IsMulticast() {
				v.fail(fmt.Sprintf("bgp.neighbors[%d].address", i), "want a unicast address, got %q", nb.Address)
				return v.error()
			}
		}
	}
	v.top(c)
	return v.error()
}

// validator keeps the first error; later checks are skipped once one failed.
type validator struct {
	err  *FieldError
	refs []string // other fields named by the message being built (ref)
}

// error is the first failure, or nil: never a nil *FieldError in an error.
func (v *validator) error() error {
	if v.err == nil {
		return nil
	}
	return v.err
}

// ref names the field at path inside a message, in the words the error
// is printed with.
func (v *validator) ref(path string) string {
	v.refs = append(v.refs, path)
	return refMark(len(v.refs) - 1)
}

func (v *validator) fail(path, format string, args ...any) {
	refs := v.refs
	v.refs = nil
	if v.err == nil {
		v.err = &FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Refs: refs}
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
		v.fail("underlay.allow", "only with %s %s (%s takes packets from everywhere)", v.ref("underlay.accept"), AcceptPeers, AcceptAny)
	}
	for i, p := range u.Allow {
		ap := fmt.Sprintf("underlay.allow[%d]", i)
		switch {
		case !p.IsValid():
			v.fail(ap, "want %s, got none", wantAllow)
		case p.Addr().Is4() != u.Local.Is4() || p.Addr().Is4In6():
			v.fail(ap, "want an %s prefix like %s, got %q", family(u.Local), v.ref("underlay.local"), p)
		case p != p.Masked():
			v.fail(ap, "want a network prefix like %s, got %q", p.Masked(), p)
		}
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

// network checks one network at path p ("networks[1]"; "" for a network
// on its own, whose paths are then "remotes[0]" and the like). local is the
// underlay's address: its peers must be of its family and not local
// itself. Checked on its own (local invalid: ParseNetworkFlags, the API),
// the network's endpoints need only agree with each other, which is all
// that can be told before the daemon that runs it; what needs the daemon's
// other networks (names and VNIs in use) is Validate's or the daemon's.
func (v *validator) network(p string, n *Network, local netip.Addr) {
	at := func(f string) string {
		if p == "" {
			return f
		}
		return p + "." + f
	}
	switch n.Kind {
	case KindVXLAN, KindIPIP:
	default:
		v.fail(at("kind"), "want %q or %q, got %q", KindVXLAN, KindIPIP, n.Kind)
		return
	}
	if n.Kind == KindIPIP && n.Name == "" {
		v.fail(at("name"), "required for an %s network (the TUN device to create)", KindIPIP)
		return
	}
	v.ifName(at("name"), n.Name)
	if n.MTU != 0 && (n.MTU < minMTU || n.MTU > maxMTU) {
		v.fail(at("mtu"), "want an integer %d..%d (0 = from the underlay), got %d", minMTU, maxMTU, n.MTU)
	}
	if n.Address.IsValid() && n.Address.Addr().Is6() && n.MTU != 0 && n.MTU < minMTU6 {
		v.fail(at("mtu"), "want at least %d for an IPv6 address (RFC 8200 s5), got %d", minMTU6, n.MTU)
	}
	e := endpoints{v: v, local: local}
	if n.Kind == KindVXLAN {
		v.vxlan(at, n, &e)
	} else {
		// RFC 2003 carries IPv4 in IPv4: every endpoint is an IPv4 address.
		e.wantFamily = "IPv4"
		v.ipip(at, n, &e)
	}
}

// endpoints checks the underlay addresses of one network: each is a
// unicast address; with the underlay's address known (local), of its
// family and not local itself; else all of one family, that of the first
// one seen or wantFamily when set beforehand.
type endpoints struct {
	v          *validator
	local      netip.Addr // invalid for a network checked on its own
	first      netip.Addr
	firstPath  string
	wantFamily string // "" until the first address
}

// check checks the address of another endpoint at path.
func (e *endpoints) check(path string, a netip.Addr) {
	v := e.v
	switch {
	case !a.IsValid():
		v.fail(path, "want an IP address, got none")
	case !e.local.IsValid() && (a.IsUnspecified() || a.IsMulticast()):
		v.fail(path, "want a unicast address, got %q", a)
	case !e.local.IsValid():
		e.family(path, a)
	case a.Is4() != e.local.Is4():
		e.family(path, a)
	case a == e.local:
		v.fail(path, "is %s itself (%s); want another endpoint's address", v.ref("underlay.local"), a)
	case a.IsUnspecified() || a.IsMulticast():
		v.fail(path, "want a unicast address, got %q", a)
	}
}

// family checks that a, at path, is of the family of the others.
func (e *endpoints) family(path string, a netip.Addr) {
	v := e.v
	switch {
	case e.local.IsValid():
		if a.Is4() != e.local.Is4() {
			v.fail(path, "want an %s address like %s, got %q", family(e.local), v.ref("underlay.local"), a)
		}
	case e.wantFamily == "":
		e.first, e.firstPath, e.wantFamily = a, path, family(a)
	case family(a) != e.wantFamily && e.first.IsValid():
		v.fail(path, "want an %s address like %s (%s), got %q", e.wantFamily, v.ref(e.firstPath), e.first, a)
	case family(a) != e.wantFamily:
		v.fail(path, "want an %s address (%s runs over %s, RFC 2003), got %q", e.wantFamily, KindIPIP, e.wantFamily, a)
	}
}

func (v *validator) vxlan(at func(string) string, n *Network, e *endpoints) {
	other := func(f string) { v.fail(at(f), "only for %s networks, this one is %s", KindIPIP, KindVXLAN) }
	switch {
	case n.Remote.IsValid():
		other("remote")
	case n.TTL != 0:
		other("ttl")
	case len(n.Routes) > 0:
		other("routes")
	case n.VNI > MaxVNI:
		v.fail(at("vni"), "want an integer 0..%d, got %d", MaxVNI, n.VNI)
	case n.Limit < 1 || n.Limit > maxLimit:
		v.fail(at("limit"), "want an integer 1..%d, got %d", maxLimit, n.Limit)
	case n.Ageing < 0:
		v.fail(at("ageing"), "want a duration like 300s (0 = never age), got %s", n.Ageing)
	case n.MACMoves < 0 || n.MACMoves > maxLimit:
		v.fail(at("mac_moves"), "want an integer 0..%d (0 = no limit), got %d", maxLimit, n.MACMoves)
	case n.FloodRate < 0 || n.FloodRate > maxLimit:
		v.fail(at("flood_rate"), "want an integer 0..%d (0 = no limit), got %d", maxLimit, n.FloodRate)
	}
	seen := map[netip.Addr]bool{}
	for i, r := range n.Remotes {
		rp := fmt.Sprintf("%s[%d]", at("remotes"), i)
		// A group of the underlay's other family is told as such below.
		if r.IsMulticast() && (!e.local.IsValid() || r.Is4() == e.local.Is4()) {
			v.fail(rp, "want a unicast address (a multicast group goes in %s), got %q", v.ref(at("group")), r)
		}
		e.check(rp, r)
		if seen[r] {
			v.fail(rp, "%s is listed twice", r)
		}
		seen[r] = true
	}
	if n.Group.IsValid() {
		if !n.Group.IsMulticast() {
			v.fail(at("group"), "want a multicast address, got %q", n.Group)
		}
		e.family(at("group"), n.Group)
		if n.Dev == "" {
			v.fail(at("dev"), "required with %s (the underlay device to join %s on)", v.ref(at("group")), n.Group)
		}
	}
	if n.Dev != "" {
		v.ifName(at("dev"), n.Dev)
	}
}

func (v *validator) ipip(at func(string) string, n *Network, e *endpoints) {
	other := func(f string) { v.fail(at(f), "only for %s networks, this one is %s", KindVXLAN, KindIPIP) }
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
	case e.local.IsValid() && !e.local.Is4():
		// RFC 2003 carries IPv4 in IPv4; the outer header is IPv4.
		v.fail(at("kind"), "%s needs an IPv4 %s (RFC 2003), got %q", KindIPIP, v.ref("underlay.local"), e.local)
	case n.Address.IsValid() && !n.Address.Addr().Is4():
		v.fail(at("address"), "want an IPv4 prefix (%s carries IPv4), got %q", KindIPIP, n.Address)
	}
	if n.Remote.IsValid() {
		e.check(at("remote"), n.Remote)
	}
	seen := map[netip.Prefix]int{}
	for i, r := range n.Routes {
		rp := fmt.Sprintf("%s[%d]", at("routes"), i)
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
		e.check(rp+".via", r.Via)
		if j, dup := seen[r.Prefix]; dup {
			v.fail(rp+".prefix", "%s is already routed by %s", r.Prefix, v.ref(fmt.Sprintf("%s[%d]", at("routes"), j)))
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

package dataplane

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// Filter is a parsed match expression, the small language trace and
// capture take. It is matched against the inner frame of every event, so a
// frame that matches does so at every stage. The language:
//
//	expr      = term { "and" term }
//	term      = [ "not" ] primitive
//	primitive = [ "src" | "dst" ] "host" ADDR    IPv4 or IPv6 address; ARP's too
//	          | [ "src" | "dst" ] "net" PREFIX   like 10.1.0.0/16
//	          | [ "src" | "dst" ] "mac" MAC      like aa:bb:cc:dd:ee:ff
//	          | [ "src" | "dst" ] "port" N       TCP or UDP port
//	          | "tcp" | "udp" | "icmp" | "icmp6" | "arp" | "ip" | "ip6"
//
// "tcp port 80" and "udp dst port 53" read as the protocol and the port.
// There is no "or" and no parentheses: run two traces instead.
type Filter struct {
	text  string
	terms []filterTerm
}

type primKind uint8

const (
	primHost primKind = iota + 1
	primNet
	primMAC
	primPort
	primProto // IP protocol (IPv4) or next header (IPv6)
	primARP
	primIPv4
	primIPv6
)

// direction of a src/dst qualifier.
type direction uint8

const (
	either direction = iota
	srcOnly
	dstOnly
)

type filterTerm struct {
	not    bool
	kind   primKind
	dir    direction
	prefix netip.Prefix // host is a full-length prefix
	mac    [6]byte
	port   uint16
	proto  uint8
	ip6    bool // primProto: in IPv6 only (icmp6)
}

// FilterError is an expression ParseFilter refuses: it names the word at
// fault and says what was wanted there.
type FilterError struct {
	Word  int    // 1-based position of Token among the words
	Token string // "" at the end of the expression
	Want  string
}

func (e *FilterError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("match: at the end: %s", e.Want)
	}
	return fmt.Sprintf("match: %q (word %d): %s", e.Token, e.Word, e.Want)
}

const wantPrimitive = "want host, net, mac, port, tcp, udp, icmp, icmp6, arp, ip or ip6 (after an optional not, src or dst)"

var protocols = map[string]filterTerm{
	"tcp":   {kind: primProto, proto: encap.ProtocolTCP},
	"udp":   {kind: primProto, proto: encap.ProtocolUDP},
	"icmp":  {kind: primProto, proto: encap.ProtocolICMP},
	"icmp6": {kind: primProto, proto: encap.ProtocolICMPv6, ip6: true},
	"arp":   {kind: primARP},
	"ip":    {kind: primIPv4},
	"ip6":   {kind: primIPv6},
}

// ParseFilter parses a match expression; "" matches everything. Errors are
// *FilterError.
func ParseFilter(expr string) (*Filter, error) {
	words := strings.Fields(expr)
	f := &Filter{text: strings.Join(words, " ")}
	i := 0
	word := func(k int) string {
		if k < len(words) {
			return words[k]
		}
		return ""
	}
	fail := func(want string) error { return &FilterError{Word: i + 1, Token: word(i), Want: want} }
	portNext := false // "tcp port 80": a port term may follow without "and"
	for i < len(words) {
		if len(f.terms) > 0 && !portNext {
			switch word(i) {
			case "and", "&&":
				i++
			case "or", "||":
				return nil, fail(`"or" is not supported: terms combine with "and" only`)
			default:
				return nil, fail(`want "and" between terms`)
			}
			if i == len(words) {
				return nil, &FilterError{Word: i, Token: words[i-1], Want: "want a term after it"}
			}
		}
		portNext = false
		var t filterTerm
		if w := word(i); w == "not" || w == "!" {
			t.not = true
			i++
		}
		if p, ok := protocols[word(i)]; ok {
			p.not = t.not
			k := i + 1
			if w := word(k); w == "src" || w == "dst" {
				k++
			}
			if word(k) == "port" && p.kind == primProto && (p.proto == encap.ProtocolTCP || p.proto == encap.ProtocolUDP) {
				if t.not {
					return nil, fail(`cannot negate a protocol with its port: write "not port N" or "not tcp" on its own`)
				}
				portNext = true
			}
			f.terms = append(f.terms, p)
			i++
			continue
		}
		switch word(i) {
		case "src":
			t.dir = srcOnly
			i++
		case "dst":
			t.dir = dstOnly
			i++
		}
		prim, arg := word(i), word(i+1)
		var want string
		switch prim {
		case "host":
			want = "host wants an IP address like 10.1.1.1"
		case "net":
			want = "net wants a prefix like 10.1.0.0/16"
		case "mac":
			want = "mac wants a MAC address like aa:bb:cc:dd:ee:ff"
		case "port":
			want = "port wants a number 0..65535"
		default:
			return nil, fail(wantPrimitive)
		}
		if arg == "" {
			return nil, fail(want + " after it")
		}
		i++
		switch prim {
		case "host":
			a, err := netip.ParseAddr(arg)
			if err != nil {
				return nil, fail(want)
			}
			a = a.Unmap()
			t.kind, t.prefix = primHost, netip.PrefixFrom(a, a.BitLen())
		case "net":
			p, err := netip.ParsePrefix(arg)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.prefix = primNet, p.Masked()
		case "mac":
			m, err := fdb.ParseMAC(arg)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.mac = primMAC, [6]byte(m)
		case "port":
			p, err := strconv.ParseUint(arg, 10, 16)
			if err != nil {
				return nil, fail(want)
			}
			t.kind, t.port = primPort, uint16(p)
		}
		i++
		f.terms = append(f.terms, t)
	}
	return f, nil
}

// String is the expression, words separated by one space.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// Match reports whether e's inner frame passes f. A nil or empty filter
// passes everything; an event without an inner frame passes only those.
func (f *Filter) Match(e *Event) bool {
	if f == nil || len(f.terms) == 0 {
		return true
	}
	var v encap.Inner
	decodeInner(&v, e)
	return f.match(&v)
}

func (f *Filter) match(v *encap.Inner) bool {
	for i := range f.terms {
		if f.terms[i].match(v) == f.terms[i].not {
			return false
		}
	}
	return true
}

func (t *filterTerm) match(v *encap.Inner) bool {
	switch t.kind {
	case primHost, primNet:
		if !v.Src.IsValid() {
			return false
		}
		return (t.dir != dstOnly && t.prefix.Contains(v.Src)) || (t.dir != srcOnly && t.prefix.Contains(v.Dst))
	case primMAC:
		if !v.Ethernet {
			return false
		}
		return (t.dir != dstOnly && v.SrcMAC == t.mac) || (t.dir != srcOnly && v.DstMAC == t.mac)
	case primPort:
		if !v.Ports {
			return false
		}
		return (t.dir != dstOnly && v.SrcPort == t.port) || (t.dir != srcOnly && v.DstPort == t.port)
	case primProto:
		return v.L3 && v.EtherType != encap.EtherTypeARP && v.Protocol == t.proto && (!t.ip6 || v.EtherType == encap.EtherTypeIPv6)
	case primARP:
		return v.EtherType == encap.EtherTypeARP
	case primIPv4:
		return v.L3 && v.EtherType == encap.EtherTypeIPv4
	case primIPv6:
		return v.L3 && v.EtherType == encap.EtherTypeIPv6
	}
	return false
}

// decodeInner decodes the inner frame of e into v, if its bytes hold one.
func decodeInner(v *encap.Inner, e *Event) {
	at := e.Stage
	if at == StageDrop {
		at = e.At
	}
	off := innerOffset(e.Kind, at, e.UDPPayload, e.Bytes)
	if off < 0 {
		*v = encap.Inner{}
		return
	}
	encap.DecodeInner(v, e.Bytes[off:], e.Kind == kindIPIP)
}

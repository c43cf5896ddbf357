package control

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// A value is one field as a front end read it, before it means anything:
// a YAML node, a flag's text or a field of a JSON request, with the field's
// path in the config file. Each front end makes values its own way; what a
// value is wanted as, and the error when it is not, is said once, here.
type value struct {
	path  string
	kind  valueKind
	text  string // a scalar as written
	num   int64  // a valueInt's number; 1 or 0 for a valueBool
	items []value
}

type valueKind uint8

const (
	valueAbsent valueKind = iota // not given
	valueNull                    // given as null: the same as not given
	valueString
	valueInt
	valueBool
	valueNumber // a number that is no integer vtepd takes (a float, a huge int)
	valueText   // a flag's text: whatever it parses as
	valueList
	valueMap
	valueOther
)

// field makes the value of a YAML node at path.
func field(path string, n *yaml.Node) value {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	v := value{path: path, text: n.Value}
	switch n.Kind {
	case 0:
		v.kind = valueAbsent
	case yaml.MappingNode:
		v.kind = valueMap
	case yaml.SequenceNode:
		v.kind = valueList
		for i, c := range n.Content {
			v.items = append(v.items, field(fmt.Sprintf("%s[%d]", path, i), c))
		}
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			v.kind = valueNull
		case "!!int":
			v.kind = valueNumber
			if n.Decode(&v.num) == nil {
				v.kind = valueInt
			}
		case "!!bool":
			var b bool
			v.kind = valueOther
			if n.Decode(&b) == nil {
				v.kind = valueBool
				if b {
					v.num = 1
				}
			}
		case "!!float":
			v.kind = valueNumber
		default:
			v.kind = valueString
		}
	default:
		v.kind = valueOther
	}
	return v
}

// textValue is a flag's text at path; given says whether the flag was.
func textValue(path string, given bool, text string) value {
	if !given {
		return value{path: path}
	}
	return value{path: path, kind: valueText, text: text}
}

// Values of a JSON request's fields, which encoding/json has typed already.

func jsonString(path, s string) value {
	if s == "" {
		return value{path: path}
	}
	return value{path: path, kind: valueString, text: s}
}

func jsonInt[T int | uint32](path string, p *T) value {
	if p == nil {
		return value{path: path}
	}
	return value{path: path, kind: valueInt, num: int64(*p), text: strconv.FormatInt(int64(*p), 10)}
}

func jsonBool(path string, p *bool) value {
	if p == nil {
		return value{path: path}
	}
	v := value{path: path, kind: valueBool, text: strconv.FormatBool(*p)}
	if *p {
		v.num = 1
	}
	return v
}

func jsonStrings(path string, ss []string) value {
	if ss == nil {
		return value{path: path}
	}
	v := value{path: path, kind: valueList}
	for i, s := range ss {
		v.items = append(v.items, value{path: fmt.Sprintf("%s[%d]", path, i), kind: valueString, text: s})
	}
	return v
}

func (s value) errorf(format string, args ...any) error {
	return &FieldError{Path: s.path, Msg: fmt.Sprintf(format, args...)}
}

// present reports whether the field was given a non-null value.
func (s value) present() bool { return s.kind != valueAbsent && s.kind != valueNull }

// got describes the value for an error message: strings quoted, numbers and
// booleans as written, collections by their kind.
func (s value) got() string {
	switch s.kind {
	case valueMap:
		return "a mapping"
	case valueList:
		return "a list"
	case valueNull:
		return "null"
	case valueInt, valueBool, valueNumber:
		return s.text
	case valueAbsent, valueOther:
		return "nothing"
	}
	return strconv.Quote(s.text)
}

// plainString returns the value of a scalar of any kind.
func (s value) plainString() (string, bool) {
	switch s.kind {
	case valueList, valueMap, valueOther, valueAbsent:
		return "", false
	}
	return s.text, true
}

func (s value) str(def string) (string, error) {
	if !s.present() {
		return def, nil
	}
	v, ok := s.plainString()
	if !ok {
		return "", s.errorf("want a string, got %s", s.got())
	}
	return v, nil
}

func (s value) int64() (int64, bool) {
	switch s.kind {
	case valueInt:
		return s.num, true
	case valueText:
		v, err := strconv.ParseInt(s.text, 10, 64)
		return v, err == nil
	}
	return 0, false
}

func (s value) isZeroInt() bool {
	v, ok := s.int64()
	return ok && v == 0
}

func (s value) integer(lo, hi, def int64) (int64, error) { return s.integerOr(lo, hi, def, "") }

// integerOr is integer with what a special value means said in the error,
// like "(0 = no limit)".
func (s value) integerOr(lo, hi, def int64, means string) (int64, error) {
	if !s.present() {
		return def, nil
	}
	v, ok := s.int64()
	if !ok || v < lo || v > hi {
		if means != "" {
			means = " " + means
		}
		return 0, s.errorf("want an integer %d..%d%s, got %s", lo, hi, means, s.got())
	}
	return v, nil
}

func (s value) boolean(def bool) (bool, error) {
	if !s.present() {
		return def, nil
	}
	switch s.kind {
	case valueBool:
		return s.num == 1, nil
	case valueText:
		if v, err := strconv.ParseBool(s.text); err == nil {
			return v, nil
		}
	}
	return false, s.errorf("want true or false, got %s", s.got())
}

func (s value) duration(def time.Duration) (time.Duration, error) {
	if !s.present() {
		return def, nil
	}
	v, ok := s.plainString()
	if ok {
		if d, ok := parseDuration(v); ok {
			return d, nil
		}
	}
	return 0, s.errorf("want a duration like 300s (0 = never age), got %s", s.got())
}

func (s value) addr() (netip.Addr, error) {
	v, ok := s.plainString()
	if ok {
		if a, err := netip.ParseAddr(v); err == nil {
			return a, nil
		}
	}
	return netip.Addr{}, s.errorf("want an IP address, got %s", s.got())
}

// prefix parses a CIDR. With masked, host bits must be zero (a route's
// destination); without, they name the device's own address.
func (s value) prefix(masked bool) (netip.Prefix, error) {
	v, ok := s.plainString()
	like := "10.244.1.0/24"
	if ok {
		p, err := netip.ParsePrefix(v)
		if err == nil && (!masked || p == p.Masked()) {
			return p, nil
		}
		if err == nil {
			like = p.Masked().String()
		}
	}
	if masked {
		return netip.Prefix{}, s.errorf("want a network prefix like %s, got %s", like, s.got())
	}
	return netip.Prefix{}, s.errorf("want an address with prefix length like 192.168.42.1/24, got %s", s.got())
}

func (s value) addrList() ([]netip.Addr, error) {
	return listOf(s, "a list of IP addresses", value.addr)
}

func (s value) prefixList() ([]netip.Prefix, error) {
	return listOf(s, "a list of prefixes like [10.0.0.0/24]", func(e value) (netip.Prefix, error) {
		v, ok := e.plainString()
		p, good := parseAllow(v)
		if !ok || !good {
			return p, e.errorf("want %s, got %s", wantAllow, e.got())
		}
		return p, nil
	})
}

// listOf reads a list (want, when it is something else) whose items item
// reads; not given, it is none.
func listOf[T any](s value, want string, item func(value) (T, error)) ([]T, error) {
	if !s.present() {
		return nil, nil
	}
	if s.kind != valueList {
		return nil, s.errorf("want %s, got %s", want, s.got())
	}
	out := make([]T, 0, len(s.items))
	for _, e := range s.items {
		v, err := item(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

package fdb

import "fmt"

// MAC is an IEEE 802 48-bit MAC address. It is a value type so that tables
// can key on it without allocation.
type MAC [6]byte

// macStringLen is the length of "aa:bb:cc:dd:ee:ff".
const macStringLen = 17

// groupBit is the I/G bit of the first octet (IEEE 802-2014 section 8.2):
// set for group (multicast and broadcast) addresses.
const groupBit = 0x01

// ParseMAC parses the colon form that iproute2 prints and accepts,
// "aa:bb:cc:dd:ee:ff" (either case; '-' is accepted as the separator too,
// used consistently). Each octet is exactly two hex digits.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != macStringLen {
		return m, fmt.Errorf("%w %q: want 6 hex octets like aa:bb:cc:dd:ee:ff", ErrBadMAC, s)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, fmt.Errorf("%w %q: octets must be separated by ':'", ErrBadMAC, s)
	}
	for i := range m {
		o := i * 3
		if i > 0 && s[o-1] != sep {
			return m, fmt.Errorf("%w %q: octets must be separated by %q", ErrBadMAC, s, sep)
		}
		hi, ok1 := unhex(s[o])
		lo, ok2 := unhex(s[o+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("%w %q: %q is not a hex octet", ErrBadMAC, s, s[o:o+2])
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the lower-case colon form, as iproute2 prints it.
func (m MAC) String() string {
	const digits = "0123456789abcdef"
	var b [macStringLen]byte
	for i, o := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = digits[o>>4]
		b[i*3+1] = digits[o&0x0f]
	}
	return string(b[:])
}

// IsZero reports whether m is 00:00:00:00:00:00, the address the kernel's
// vxlan uses for the default (flood) destination.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsMulticast reports whether the group bit is set; broadcast
// ff:ff:ff:ff:ff:ff is a group address too.
func (m MAC) IsMulticast() bool { return m[0]&groupBit != 0 }

// key packs m into the low 48 bits of a uint64, in network byte order, so
// that keys compare like the addresses they come from.
func (m MAC) key() uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 |
		uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func macFromKey(k uint64) MAC {
	return MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

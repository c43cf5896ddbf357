package encap

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex written with optional spaces, for readable fixtures.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// naiveSum is the textbook one's complement sum of RFC 1071 section 4.1:
// 16-bit words, an odd byte padded with zero, carries folded back in. It is
// the reference the fast Checksum is held against.
func naiveSum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// naiveChecksum is the value to store for b: the complement of naiveSum.
func naiveChecksum(b []byte) uint16 { return ^naiveSum(b, 0) }

// clone returns a copy, so a table case can change bytes without touching
// the shared fixture.
func clone(b []byte) []byte { return append([]byte(nil), b...) }

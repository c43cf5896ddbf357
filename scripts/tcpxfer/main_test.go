package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1048576", 1 << 20, false},
		{"64MiB", 64 << 20, false},
		{"2GiB", 2 << 30, false},
		{"3KiB", 3 << 10, false},
		{"0", 0, false},
		{"64MB", 0, true},
		{"-1", 0, true},
		{"", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "-bytes") {
					t.Errorf("got %d, %v; want an error naming -bytes", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// The stream is what makes a transfer checkable: one seed, one byte
// sequence, whatever the chunking; another seed, other bytes.
func TestWriteStreamIsDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	for _, s := range []struct {
		buf  *bytes.Buffer
		seed uint64
	}{{&a, 7}, {&b, 7}, {&c, 8}} {
		if err := writeStream(s.buf, 100_000, s.seed); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != 100_000 {
		t.Errorf("length: got %d, want 100000", a.Len())
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("seed 7 twice: got different bytes, want the same")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("seeds 7 and 8: got the same bytes, want different")
	}
}

package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	scratch := make([]byte, 2048)
	good := make([]byte, 200)
	fill(good, 42, 7)
	if seq, ok := check(good, scratch); !ok || seq != 42 {
		t.Fatalf("check of a whole datagram: got %d %v, want 42 true", seq, ok)
	}
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"a byte flipped", func(b []byte) []byte { b[150] ^= 1; return b }},
		{"cut short", func(b []byte) []byte { return b[:199] }},
		{"shorter than the header", func(b []byte) []byte { return b[:15] }},
		{"another datagram's number", func(b []byte) []byte { b[7]++; return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mod(append([]byte(nil), good...))
			if _, ok := check(b, scratch); ok {
				t.Errorf("check: got whole, want corrupt")
			}
		})
	}
}

func TestSizeOf(t *testing.T) {
	for i := 0; i < 64; i++ {
		got := sizeOf(i, 64, 16)
		if i%16 != 15 && got != 64 {
			t.Errorf("sizeOf(%d): got %d, want 64", i, got)
		}
		if i%16 == 15 && (got > 63 || got < 57) {
			t.Errorf("sizeOf(%d), last of a burst: got %d, want 57..63", i, got)
		}
	}
}

// TestLoopback sends over loopback, plainly and with UDP_SEGMENT and
// UDP_GRO, and checks the report counts every datagram, and trains exactly
// when both are on (loopback hands a GSO send to a GRO socket whole).
func TestLoopback(t *testing.T) {
	for _, tc := range []struct{ gso, gro bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("gso=%v gro=%v", tc.gso, tc.gro), func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := pc.LocalAddr().String()
			pc.Close()
			done := make(chan report, 1)
			errc := make(chan error, 1)
			go func() {
				r, err := serve(addr, 100, 10*time.Second, tc.gro)
				errc <- err
				done <- r
			}()
			time.Sleep(100 * time.Millisecond)
			if err := send(addr, 100, 300, 10, time.Millisecond, 3, tc.gso); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.received != 100 || r.corrupt != 0 || r.duplicate != 0 {
				t.Errorf("report: got %v, want 100 of 100 received and nothing corrupt", r)
			}
			if trains := r.trains > 0; trains != (tc.gso && tc.gro) {
				t.Errorf("report: got %d trains, want some: %v", r.trains, tc.gso && tc.gro)
			}
		})
	}
}

func TestSendRefusesOversizedGSOBurst(t *testing.T) {
	for _, tc := range []struct{ size, burst int }{{1400, 50}, {16, 65}} {
		err := send("127.0.0.1:9", 10, tc.size, tc.burst, 0, 1, true)
		if err == nil || !strings.Contains(err.Error(), "-gso") {
			t.Errorf("send -gso of %d×%d bytes: got %v, want an error naming -gso", tc.burst, tc.size, err)
		}
	}
}

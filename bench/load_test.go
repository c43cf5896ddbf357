package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func listenLoad(t *testing.T) *LoadServer {
	t.Helper()
	s, err := ListenLoad("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	return s
}

// TestLoadTCP: every byte the flows hand the kernel is counted by the
// server, and the run says how many flows and how long.
func TestLoadTCP(t *testing.T) {
	s := listenLoad(t)
	for _, flows := range []int{1, 3} {
		run, err := LoadTCP(context.Background(), s.Addr(), flows, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Flows != flows || run.BytesSent <= 0 || run.BytesReceived != run.BytesSent || run.Seconds < 0.3 || run.Gbps <= 0 {
			t.Errorf("%d flows: got %+v, want that many flows, every byte sent received, at least 0.3 s and a rate", flows, run)
		}
	}
}

// TestLoadUDP: the server counts the datagrams of one test only, no more
// than were sent, and a buffer asked for one test does not stay for the
// next.
func TestLoadUDP(t *testing.T) {
	s := listenLoad(t)
	def := s.rcvbuf
	for _, tc := range []struct{ payload, window int }{{64, 0}, {1400, 1 << 20}, {64, 0}} {
		run, err := LoadUDP(context.Background(), s.Addr(), tc.payload, tc.window, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Payload != tc.payload || run.PacketsSent <= 0 || run.PacketsReceived <= 0 ||
			run.PacketsReceived > run.PacketsSent || run.PacketsLost != run.PacketsSent-run.PacketsReceived || run.PPS <= 0 {
			t.Errorf("%+v: got %+v, want datagrams sent and received, no more received than sent, the rest lost", tc, run)
		}
		// Without a window the socket keeps the size it was opened with,
		// as iperf3's does; with one, the kernel doubles what is asked, up
		// to net.core.rmem_max.
		if tc.window == 0 && run.RcvbufActual != int64(def) {
			t.Errorf("%+v: server's receive buffer %d, want the socket's own %d", tc, run.RcvbufActual, def)
		}
		if tc.window > 0 && run.RcvbufActual <= int64(def) {
			t.Errorf("%+v: server's receive buffer %d, want more than the socket's own %d", tc, run.RcvbufActual, def)
		}
	}
}

// TestLoadServerRefusesUnknownCommands answers a line it does not know
// with an error that says what it wants.
func TestLoadServerRefusesUnknownCommands(t *testing.T) {
	s := listenLoad(t)
	for _, line := range []string{"bogus", "udp -3 100", "udp", "udp 0"} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%s\n", line)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(got, "error: want") || !strings.Contains(got, line) {
			t.Errorf("%q: got %q (%v), want an error naming what was expected and what came", line, got, err)
		}
	}
	if _, err := LoadTCP(context.Background(), "127.0.0.1:1", 1, time.Millisecond); err == nil {
		t.Error("LoadTCP to a closed port: got no error")
	}
}

// TestLoadServerOutlivesVanishedClients: a UDP test whose client never
// says "end" holds the server for its time and loadGrace, no longer; and
// Close ends the connections still open instead of waiting on them.
func TestLoadServerOutlivesVanishedClients(t *testing.T) {
	defer func(g time.Duration) { loadGrace = g }(loadGrace)
	loadGrace = 300 * time.Millisecond
	s, err := ListenLoad("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	fmt.Fprintf(gone, "udp 0 100\n")
	if line, err := bufio.NewReader(gone).ReadString('\n'); err != nil || !strings.HasPrefix(line, "ok ") {
		t.Fatalf("udp test start: got %q (%v)", line, err)
	}
	// Say nothing more: the next test must still run.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := LoadUDP(ctx, s.Addr(), 64, 0, 100*time.Millisecond); err != nil {
		t.Fatalf("a test after a vanished client: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a test after a vanished client took %v, want the vanished one's time and grace, under a second", took)
	}
	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "tcp\n")
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited on an open data stream")
	}
}

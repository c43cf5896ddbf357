package netnstest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// echoPayload is the size of the data in each request, as ping(8) sends by
// default, so an overlay MTU problem shows the same way it would there.
const echoPayload = 56

// echoSeq tells concurrent probes of one process apart in the ICMP
// identifier, since every raw ICMP socket sees every reply.
var echoSeq atomic.Uint32

// PingStats is the outcome of a run of ICMP echo requests.
type PingStats struct {
	Dst      netip.Addr
	Sent     int
	Received int
	RTTs     []time.Duration // one per reply, in arrival order
	SendErr  error           // the first failed send, if any (it counts as lost)
}

// Min, Avg and Max summarise RTTs; all are 0 when nothing came back.
func (s PingStats) Min() time.Duration { return s.summary().min }
func (s PingStats) Avg() time.Duration { return s.summary().avg }
func (s PingStats) Max() time.Duration { return s.summary().max }

type rttSummary struct{ min, avg, max, mdev time.Duration }

func (s PingStats) summary() rttSummary {
	if len(s.RTTs) == 0 {
		return rttSummary{}
	}
	r := rttSummary{min: s.RTTs[0], max: s.RTTs[0]}
	var sum, sumSq float64
	for _, d := range s.RTTs {
		r.min, r.max = min(r.min, d), max(r.max, d)
		sum += float64(d)
		sumSq += float64(d) * float64(d)
	}
	n := float64(len(s.RTTs))
	mean := sum / n
	r.avg = time.Duration(mean)
	r.mdev = time.Duration(math.Sqrt(max(0, sumSq/n-mean*mean)))
	return r
}

// String reads like the last two lines of ping(8).
func (s PingStats) String() string {
	loss := 0.0
	if s.Sent > 0 {
		loss = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets transmitted, %d received, %.0f%% packet loss", s.Sent, s.Received, loss)
	if s.SendErr != nil {
		fmt.Fprintf(&b, " (send: %v)", s.SendErr)
	}
	if r := s.summary(); s.Received > 0 {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		fmt.Fprintf(&b, "\nrtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms", ms(r.min), ms(r.avg), ms(r.max), ms(r.mdev))
	}
	return b.String()
}

// Echo sends count ICMP echo requests to dst, one every interval, from the
// network namespace of the calling thread, and collects the replies that
// arrive until wait after the last request (or until all are in). It needs
// root for the raw socket. Replies that are lost are not an error; a socket
// that cannot be opened or read is.
func Echo(dst netip.Addr, count int, interval, wait time.Duration) (PingStats, error) {
	conn, err := listenICMP()
	if err != nil {
		return PingStats{Dst: dst}, err
	}
	defer conn.Close()
	return echo(conn, dst, count, interval, wait)
}

// pingWait is how long Ping waits for the last reply: long enough for two
// race-built daemons on a loaded 2-core machine, where a reply that takes a
// second is slow but not lost.
const pingWait = 3 * time.Second

// Ping is Echo from inside n: the socket is opened there. It fails t only
// when the probe cannot run; losses are for the caller to judge.
func (n *NS) Ping(t testing.TB, dst string, count int, interval time.Duration) PingStats {
	t.Helper()
	addr, err := netip.ParseAddr(dst)
	if err != nil || !addr.Is4() {
		t.Fatalf("netnstest: Ping: destination %q: want an IPv4 address", dst)
	}
	var conn *icmp.PacketConn
	if err := n.Do(t, func() (err error) { conn, err = listenICMP(); return err }); err != nil {
		t.Fatalf("netnstest: Ping in %s: %v", n.Name, err)
	}
	defer conn.Close()
	st, err := echo(conn, addr, count, interval, pingWait)
	if err != nil {
		t.Fatalf("netnstest: Ping %s in %s: %v", dst, n.Name, err)
	}
	return st
}

func listenICMP() (*icmp.PacketConn, error) {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("open ICMP socket: %w", err)
	}
	return c, nil
}

func echo(conn *icmp.PacketConn, dst netip.Addr, count int, interval, wait time.Duration) (PingStats, error) {
	st := PingStats{Dst: dst}
	if count <= 0 {
		return st, nil
	}
	id := int(uint16(os.Getpid()<<4) ^ uint16(echoSeq.Add(1)))
	sentAt := make([]atomic.Int64, count) // UnixNano of each request, 0 until sent
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(time.Duration(count-1)*interval + wait)); err != nil {
		return st, err
	}

	type reply struct {
		rtts []time.Duration
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		var r reply
		seen := make([]bool, count)
		buf := make([]byte, 1500)
		for len(r.rtts) < count {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					r.err = err
				}
				break
			}
			got := time.Now()
			if ip, ok := peer.(*net.IPAddr); !ok || ip.IP.String() != dst.String() {
				continue
			}
			m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMP's protocol number
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			e, ok := m.Body.(*icmp.Echo)
			if !ok || e.ID != id || e.Seq < 0 || e.Seq >= count || seen[e.Seq] {
				continue
			}
			sent := sentAt[e.Seq].Load()
			if sent == 0 {
				continue
			}
			seen[e.Seq] = true
			r.rtts = append(r.rtts, got.Sub(time.Unix(0, sent)))
		}
		replies <- r
	}()

	payload := make([]byte, echoPayload)
	for seq := range count {
		if seq > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(seq) * interval)))
		}
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return st, err
		}
		sentAt[seq].Store(time.Now().UnixNano())
		st.Sent++
		if _, err := conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil && st.SendErr == nil {
			st.SendErr = err
		}
	}
	r := <-replies
	st.RTTs = r.rtts
	st.Received = len(r.rtts)
	return st, r.err
}

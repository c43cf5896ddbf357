//go:build linux

package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// deviceQueues counts the transmit queues the kernel shows for dev on h.
func deviceQueues(t *testing.T, h *host, dev string) int {
	t.Helper()
	return strings.Count(h.ns.Run(t, "ls", "/sys/class/net/"+dev+"/queues"), "tx-")
}

// vxlanSockets counts the UDP sockets on h's VXLAN port.
func vxlanSockets(t *testing.T, h *host) int {
	t.Helper()
	return strings.Count(h.ns.Run(t, "ss", "-H", "-u", "-a", "-n"), fmt.Sprintf("%s:%d ", h.under, vxlanPort))
}

// flowReport is one udpxfer flow's server line, parsed.
type flowReport struct {
	port                                    int
	received, corrupt, duplicate, reordered int
	line                                    string
}

// parallelFlows sends flows concurrent UDP flows of count numbered
// datagrams from client to server (ports 5100 on), each flow its own
// udpxfer pair, and returns what each server saw.
func parallelFlows(t *testing.T, bin binaries, client, server *netnstest.NS, dst string, flows, count int) []flowReport {
	t.Helper()
	var srvs []*netnstest.Proc
	for i := range flows {
		addr := net.JoinHostPort(dst, strconv.Itoa(5100+i))
		srv := server.Start(t, bin.udpxfer, "-listen", addr, "-count", strconv.Itoa(count), "-timeout", "30s")
		srvs = append(srvs, srv)
	}
	for i, srv := range srvs {
		netnstest.WaitFor(t, 10*time.Second, fmt.Sprintf("UDP server %d to listen", i), func() bool {
			return strings.Contains(srv.Output(), "listening on")
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, flows)
	outs := make([]string, flows)
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := net.JoinHostPort(dst, strconv.Itoa(5100+i))
			outs[i], errs[i] = client.Try(bin.udpxfer, "-connect", addr, "-count", strconv.Itoa(count),
				"-size", "200", "-burst", "8", "-gap", "1ms", "-seed", strconv.Itoa(i+1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("udpxfer client %d: %v\n%s", i, err, outs[i])
		}
	}
	var out []flowReport
	for i, srv := range srvs {
		select {
		case <-srv.Done():
		case <-time.After(20 * time.Second):
		}
		err := srv.Stop()
		m := udpReport.FindStringSubmatch(srv.Output())
		r := flowReport{port: 5100 + i}
		if m == nil {
			t.Fatalf("udpxfer server %d: %v: got %q, want a report", i, err, srv.Output())
		}
		// udpReport does not capture the reordered count: read it here.
		if _, perr := fmt.Sscanf(m[0], "received %d of %d, corrupt %d, duplicate %d, reordered %d",
			&r.received, new(int), &r.corrupt, &r.duplicate, &r.reordered); perr != nil {
			t.Fatalf("udpxfer server %d: %q: %v", i, m[0], perr)
		}
		r.line = m[0]
		out = append(out, r)
	}
	return out
}

// queueSpread reads stats with read, checks that the per-queue figures add
// up to the totals and returns the stats and how many queues carried
// traffic each way.
//
// The totals and the queues are two passes over live counters, so a packet
// between them (a late TCP FIN or ACK, an ARP probe) can set them apart:
// it reads again until they add up, or until two reads in a row are the
// same (no packet came between, so what they say holds), for 10 s at most.
func queueSpread(t *testing.T, who string, queues int, read func() control.NetworkStats) (s control.NetworkStats, tx, rx int) {
	t.Helper()
	s = read()
	deadline := time.Now().Add(10 * time.Second)
	for !queuesAddUp(s) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		next := read()
		quiet := sameTraffic(s, next)
		s = next
		if quiet {
			break
		}
	}
	if len(s.Queues) != queues {
		t.Fatalf("%s: stats list %d queues, want %d: %+v", who, len(s.Queues), queues, s.Queues)
	}
	var txp, rxp, txb, rxb uint64
	for i, q := range s.Queues {
		if q.Queue != i {
			t.Errorf("%s: queue entry %d is numbered %d", who, i, q.Queue)
		}
		txp, rxp, txb, rxb = txp+q.TxPackets, rxp+q.RxPackets, txb+q.TxBytes, rxb+q.RxBytes
		if q.TxPackets > 0 {
			tx++
		}
		if q.RxPackets > 0 {
			rx++
		}
	}
	if txp != s.TxPackets || rxp != s.RxPackets || txb != s.TxBytes || rxb != s.RxBytes {
		t.Errorf("%s: queues add up to tx %d packets %d bytes, rx %d packets %d bytes; the totals say tx %d %d, rx %d %d",
			who, txp, txb, rxp, rxb, s.TxPackets, s.TxBytes, s.RxPackets, s.RxBytes)
	}
	return s, tx, rx
}

// queuesAddUp says whether the per-queue figures of s add up to its totals.
func queuesAddUp(s control.NetworkStats) bool {
	var sum control.QueueStats
	for _, q := range s.Queues {
		sum.TxPackets, sum.TxBytes = sum.TxPackets+q.TxPackets, sum.TxBytes+q.TxBytes
		sum.RxPackets, sum.RxBytes = sum.RxPackets+q.RxPackets, sum.RxBytes+q.RxBytes
	}
	return sum.TxPackets == s.TxPackets && sum.TxBytes == s.TxBytes && sum.RxPackets == s.RxPackets && sum.RxBytes == s.RxBytes
}

// sameTraffic says whether a and b, two reads of one network's stats, show
// the same traffic, in total and on each queue (the workers' time moves on
// regardless).
func sameTraffic(a, b control.NetworkStats) bool {
	traffic := func(q control.QueueStats) [5]uint64 {
		return [5]uint64{uint64(q.Queue), q.RxPackets, q.RxBytes, q.TxPackets, q.TxBytes}
	}
	return a.TxPackets == b.TxPackets && a.TxBytes == b.TxBytes && a.RxPackets == b.RxPackets && a.RxBytes == b.RxBytes &&
		slices.EqualFunc(a.Queues, b.Queues, func(x, y control.QueueStats) bool { return traffic(x) == traffic(y) })
}

// orderedFlows sends flows concurrent UDP flows of count numbered
// datagrams from client to dst and checks that each arrived in order and
// whole, least datagrams of it at the least (loss is the CPU's business: a race
// build on two cores loses about half at one queue while other packages
// test). when says at what point of the test, for the errors.
func orderedFlows(t *testing.T, bin binaries, client, server *netnstest.NS, dst string, flows, count, least int, when string) {
	t.Helper()
	for _, r := range parallelFlows(t, bin, client, server, dst, flows, count) {
		if r.reordered != 0 || r.corrupt != 0 || r.duplicate != 0 || r.received < least {
			t.Errorf("%sflow to port %d: %s; want every datagram in order, none corrupt or doubled, at least %d arrived",
				when, r.port, r.line, least)
		}
	}
}

// checkWorkerTime checks a host's workers' time after traffic: the
// underlay lists a queue per receiving socket, whose packets add up to what
// it received; each of its receiving workers and of the network nw's
// transmit workers has run and was busy no longer than it ran; and the
// receiving workers, which carried the flows, were busy some of it.
func checkWorkerTime(t *testing.T, who string, queues int, underlay func() control.NetworkStats, nw control.NetworkStats) {
	t.Helper()
	var under control.NetworkStats
	var rx uint64
	for range 20 { // a packet may land between the totals and the queues
		under, rx = underlay(), 0
		for _, q := range under.Queues {
			rx += q.RxPackets
		}
		if rx == under.RxPackets {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(under.Queues) != queues {
		t.Fatalf("%s: the underlay lists %d queues, want one per socket, %d: %+v", who, len(under.Queues), queues, under.Queues)
	}
	if rx != under.RxPackets {
		t.Errorf("%s: the underlay's queues received %d packets, its total says %d", who, rx, under.RxPackets)
	}
	sane := func(kind string, q control.QueueStats) {
		if q.WorkerUpSeconds <= 0 || q.WorkerBusySeconds < 0 || q.WorkerBusySeconds > q.WorkerUpSeconds {
			t.Errorf("%s: %s %d's worker: busy %v s of %v s up", who, kind, q.Queue, q.WorkerBusySeconds, q.WorkerUpSeconds)
		}
	}
	busy := 0.0
	for _, q := range under.Queues {
		sane("underlay socket", q)
		busy += q.WorkerBusySeconds
	}
	if busy <= 0 {
		t.Errorf("%s: the receiving workers were never busy: %+v", who, under.Queues)
	}
	for _, q := range nw.Queues {
		sane("device queue", q)
	}
}

// TestE2EQueues runs vtepd at both ends with one queue and with four: the
// device and the VXLAN port have that many queues and sockets, eight
// concurrent UDP flows of numbered datagrams each arrive whole and in
// order, a checked TCP transfer goes both ways, the per-queue counters add
// up to the totals and, with four queues, show the flows spread over more
// than one worker each way.
func TestE2EQueues(t *testing.T) {
	bin := buildBinaries(t)
	for _, queues := range []int{1, 4} {
		t.Run(fmt.Sprintf("queues=%d", queues), func(t *testing.T) {
			a, b := twoHosts(t)
			a.extra = []string{"--queues", strconv.Itoa(queues)}
			b.extra = a.extra
			a.start(t, bin, b.under)
			b.start(t, bin, a.under)
			for _, h := range []*host{a, b} {
				if got := deviceQueues(t, h, tapName); got != queues {
					t.Errorf("%s on %s: %d queues, want %d", tapName, h.under, got, queues)
				}
				if got := vxlanSockets(t, h); got != queues {
					t.Errorf("sockets on %s:%d: got %d, want %d", h.under, vxlanPort, got, queues)
				}
			}
			pingAll(t, a.ns, b.over, 3)

			const flows, count = 8, 2000
			orderedFlows(t, bin, a.ns, b.ns, b.over, flows, count, count/4, "")
			transfer(t, bin, a.ns, b.ns, b.over, 40+queues)
			transfer(t, bin, b.ns, a.ns, a.over, 50+queues)

			sa, txA, _ := queueSpread(t, "sender "+a.under, queues, func() control.NetworkStats { return a.stats(t, bin) })
			sb, _, rxB := queueSpread(t, "receiver "+b.under, queues, func() control.NetworkStats { return b.stats(t, bin) })
			t.Logf("sender's queues %+v; receiver's queues %+v", sa.Queues, sb.Queues)
			if queues > 1 && (txA < 2 || rxB < 2) {
				t.Errorf("%d flows over %d queues: %d queues of the sender sent, %d of the receiver's were written to; want at least 2 each",
					flows, queues, txA, rxB)
			}
			checkWorkerTime(t, "sender "+a.under, queues, func() control.NetworkStats { return a.underlayStats(t, bin) }, sa)
			checkWorkerTime(t, "receiver "+b.under, queues, func() control.NetworkStats { return b.underlayStats(t, bin) }, sb)
			text := a.ctl(t, bin, "stats", "--queues")
			if want := fmt.Sprintf("queue %d: RX packets", queues-1); !strings.Contains(text, want) {
				t.Errorf("vtepctl stats --queues: got\n%s\nwant a line per queue, up to %q", text, want)
			}
			if !strings.Contains(text, "worker busy") {
				t.Errorf("vtepctl stats --queues: got\n%s\nwant each worker's busy share", text)
			}
			if strings.Contains(a.ctl(t, bin, "stats"), "queue 0:") {
				t.Error("vtepctl stats without --queues lists the queues")
			}

			// The device deleted under vtepd: every queue's worker ends, the
			// loss is reported once, and the device comes back with as many
			// queues, each with a worker again.
			old := tryIfindex(b.ns, tapName)
			b.ns.Run(t, "ip", "link", "del", tapName)
			netnstest.WaitFor(t, faultBound, tapName+" made again", func() bool {
				i := tryIfindex(b.ns, tapName)
				return i != 0 && i != old && devReady(b.ns, devAddr{tapName, b.over + "/24"})
			})
			if got := deviceQueues(t, b, tapName); got != queues {
				t.Errorf("%s made again: %d queues, want %d", tapName, got, queues)
			}
			msg := "device " + tapName + " deleted under vtepd: recreating it"
			if got := strings.Count(b.vtepd.Output(), msg); got != 1 {
				t.Errorf("log lines %q: got %d, want one for all %d queues\n%s", msg, got, queues, b.vtepd.Output())
			}
			if _, ok := firstReply(t, a.ns, b.over, faultBound); !ok {
				t.Fatalf("ping %s after %s was made again: no reply within %v", b.over, tapName, faultBound)
			}
			orderedFlows(t, bin, b.ns, a.ns, a.over, flows, count/2, count/4, "after the device came back, ")
			if _, tx, _ := queueSpread(t, "recreated "+b.under, queues, func() control.NetworkStats { return b.stats(t, bin) }); queues > 1 && tx < 2 {
				t.Errorf("after the device came back, %d flows left from %d of its %d queues; want at least 2", flows, tx, queues)
			}
		})
	}
}

// TestE2EQueuesKernelVXLAN pairs vtepd with one queue, with several, and
// with several and busy polling with Linux's vxlan: ping and checked
// transfers both ways, and the per-queue counters add up.
func TestE2EQueuesKernelVXLAN(t *testing.T) {
	bin := buildBinaries(t)
	for _, tc := range []struct {
		queues int
		extra  []string
	}{
		{1, nil},
		{3, nil},
		{2, []string{"--busy-poll", "50us"}},
	} {
		t.Run(strings.Join(append([]string{"queues=" + strconv.Itoa(tc.queues)}, tc.extra...), " "), func(t *testing.T) {
			a, b := twoHosts(t)
			a.extra = append([]string{"--queues", strconv.Itoa(tc.queues)}, tc.extra...)
			a.start(t, bin, b.under)
			kernelVXLAN(t, b, a.under)
			pingAll(t, a.ns, b.over, 3)
			transfer(t, bin, a.ns, b.ns, b.over, 60+tc.queues)
			transfer(t, bin, b.ns, a.ns, a.over, 70+tc.queues)
			s, _, _ := queueSpread(t, a.under, tc.queues, func() control.NetworkStats { return a.stats(t, bin) })
			if s.RxBytes < xferSize || s.TxBytes < xferSize {
				t.Errorf("vtepd %v: rx %d tx %d bytes, want at least %d each way", a.extra, s.RxBytes, s.TxBytes, xferSize)
			}
		})
	}
}

// ipipSockets counts the raw sockets of protocol 4 bound to h's underlay
// address (/proc/net/raw lists each as ADDR:0004, the address in the
// kernel's byte order).
func ipipSockets(t *testing.T, h *host) int {
	t.Helper()
	a := netip.MustParseAddr(h.under).As4()
	want := fmt.Sprintf("%02X%02X%02X%02X:0004 ", a[3], a[2], a[1], a[0])
	return strings.Count(h.ns.Run(t, "cat", "/proc/net/raw"), want)
}

// ipipFanout counts the packet sockets for IPv4 in h's namespace
// (/proc/net/packet, protocol 0800):
// with several queues, the IPIP underlay's fanout group.
func ipipFanout(t *testing.T, h *host) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(h.ns.Run(t, "cat", "/proc/net/packet"), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 3 && f[3] == "0800" {
			n++
		}
	}
	return n
}

// TestE2EQueuesIPIP: an IPIP network with 1 and 4 queues: the TUN device
// has as many, each with a transmit worker; one raw socket receives, or,
// with --ipip-receive fanout, a fanout group of as many packet sockets as
// queues, a worker each, the raw socket kept open beside it (README,
// "Queues and workers"). Eight flows of numbered datagrams arrive in order
// and none twice, the flows are spread over the sender's queues and, with
// a fanout group, over the receiver's workers, and checked TCP transfers
// pass both ways.
func TestE2EQueuesIPIP(t *testing.T) {
	bin := buildBinaries(t)
	for _, tc := range []struct {
		queues int
		fanout bool
	}{{1, false}, {4, false}, {4, true}} {
		queues := tc.queues
		name := fmt.Sprintf("queues=%d", queues)
		if tc.fanout {
			name += " fanout"
		}
		t.Run(name, func(t *testing.T) {
			a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
			q := []string{"--queues", strconv.Itoa(queues)}
			if tc.fanout {
				q = append(q, "--ipip-receive", "fanout")
			}
			startIPIP(t, bin, a, append(q, "--route", "10.244.1.0/24=10.0.0.2")...)
			startIPIP(t, bin, b, append(q, "--route", "10.244.0.0/24=10.0.0.1")...)
			for _, h := range []*host{a, b} {
				if got := deviceQueues(t, h, ipipDev); got != queues {
					t.Errorf("%s on %s: %d queues, want %d", ipipDev, h.under, got, queues)
				}
				if got := ipipSockets(t, h); got != 1 {
					t.Errorf("raw protocol-4 sockets on %s: got %d, want 1", h.under, got)
				}
				want := 0
				if tc.fanout {
					want = queues
				}
				if got := ipipFanout(t, h); got != want {
					t.Errorf("packet sockets for IPv4 beside %s: got %d, want %d", h.under, got, want)
				}
				const warn = "IPIP received through a fanout group: netfilter, rp_filter and IPsec policy do not apply to it"
				if got := strings.Contains(h.vtepd.Output(), warn); got != tc.fanout {
					t.Errorf("vtepd on %s says %q: %v, want %v", h.under, warn, got, tc.fanout)
				}
			}
			pingAll(t, a.ns, b.over, 3)

			const flows, count = 8, 2000
			orderedFlows(t, bin, a.ns, b.ns, b.over, flows, count, count/4, "")
			transfer(t, bin, a.ns, b.ns, b.over, 80+queues)
			transfer(t, bin, b.ns, a.ns, a.over, 90+queues)

			sa, txA, _ := queueSpread(t, "sender "+a.under, queues, func() control.NetworkStats { return statsOf(t, bin, a, ipipDev) })
			sb, _, rxB := queueSpread(t, "receiver "+b.under, queues, func() control.NetworkStats { return statsOf(t, bin, b, ipipDev) })
			t.Logf("sender's queues %+v; receiver's queues %+v", sa.Queues, sb.Queues)
			if queues > 1 && txA < 2 {
				t.Errorf("%d flows over %d queues: %d of the sender's queues sent, want at least 2", flows, queues, txA)
			}
			if tc.fanout && rxB < 2 {
				t.Errorf("%d flows over a fanout group of %d: %d of the receiver's queues were written to, want at least 2", flows, queues, rxB)
			}
			if !tc.fanout && rxB != 1 {
				t.Errorf("%d flows through one raw socket: %d of the receiver's queues were written to, want 1", flows, rxB)
			}
			if d := statsOf(t, bin, b, ipipUnderStats); d.Drops["malformed"] != 0 || d.Drops["unknown_source"] != 0 {
				t.Errorf("drops on %s's IPIP underlay: %v, want none", b.under, d.Drops)
			}
			receivers := 1 // the raw socket
			if tc.fanout {
				receivers = queues
			}
			checkWorkerTime(t, "receiver "+b.under, receivers, func() control.NetworkStats { return statsOf(t, bin, b, ipipUnderStats) }, sb)
			// The raw socket, read or not, keeps the kernel, which has no
			// handler for protocol 4, from answering each packet.
			if n := mib(t, b.ns, "/proc/net/snmp", "Icmp")["OutDestUnreachs"]; n != 0 {
				t.Errorf("%s's kernel sent %d ICMP destination unreachable, want none", b.under, n)
			}
		})
	}
}

//go:build linux

package main

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// offloadModes are the --offload settings every offload test runs with:
// everything on (the default), everything off, and each offload off alone.
var offloadModes = []string{"on", "off", "tso=off", "gso=off", "gro=off"}

// iffVnetHdr is IFF_VNET_HDR in /sys/class/net/DEV/tun_flags: the device
// carries a virtio-net header, which vtepd asks for exactly when tso is on.
const iffVnetHdr = 0x4000

// wantVnetHdr checks that dev on h was opened with a virtio-net header
// exactly when the offload mode keeps TSO on.
func wantVnetHdr(t *testing.T, h *host, dev, mode string) {
	t.Helper()
	out := strings.TrimSpace(h.ns.Run(t, "cat", "/sys/class/net/"+dev+"/tun_flags"))
	flags, err := strconv.ParseUint(strings.TrimPrefix(out, "0x"), 16, 32)
	if err != nil {
		t.Fatalf("tun_flags of %s: %q: %v", dev, out, err)
	}
	want := mode == "on" || mode == "gso=off" || mode == "gro=off"
	if got := flags&iffVnetHdr != 0; got != want {
		t.Errorf("--offload %s: %s tun_flags %#x, IFF_VNET_HDR %v, want %v", mode, dev, flags, got, want)
	}
}

// addOverlay6 gives h's device an IPv6 address without duplicate address
// detection, so it is usable at once (IPv6 is off on new devices in the
// test namespaces).
func addOverlay6(t *testing.T, h *host, dev, addr string) {
	t.Helper()
	h.ns.Run(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6")
	h.ns.Run(t, "ip", "-6", "addr", "add", addr+"/64", "dev", dev, "nodad")
}

// TestE2EOffloadModes runs vtepd at both ends with each offload setting:
// ping, a checked 16 MiB transfer over IPv4 and one over IPv6 inside the
// tunnel. With everything on, also transfers whose segments are as small
// as TCP allows (MSS 88), an old default (536) and the largest the MTU
// takes, with lengths that end in a partial segment.
func TestE2EOffloadModes(t *testing.T) {
	bin := buildBinaries(t)
	for i, mode := range offloadModes {
		t.Run(mode, func(t *testing.T) {
			a, b := twoHosts(t)
			a.extra = []string{"--offload", mode}
			b.extra = []string{"--offload", mode}
			a.start(t, bin, b.under)
			b.start(t, bin, a.under)
			wantVnetHdr(t, a, tapName, mode)
			addOverlay6(t, a, tapName, "fd42::1")
			addOverlay6(t, b, tapName, "fd42::2")

			pingAll(t, a.ns, b.over, 3)
			before := b.stats(t, bin)
			transfer(t, bin, a.ns, b.ns, b.over, 100+i)
			transfer(t, bin, b.ns, a.ns, a.over, 200+i)
			transferWith(t, bin, a.ns, b.ns, "fd42::2", 300+i, 4<<20+1, 0)
			after := b.stats(t, bin)
			if got := after.RxBytes - before.RxBytes; got < xferSize {
				t.Errorf("rx_bytes of %s: got %d more, want at least the %d bytes sent", b.under, got, xferSize)
			}
			checkOffloadCounters(t, bin, a, b, mode)
			// Bursts of small datagrams, the last of each burst shorter: with
			// GSO they leave in trains, and must come out whole.
			sentBefore, rcvdBefore := a.stats(t, bin).Offload, b.stats(t, bin).Offload
			udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 3000, size: 64, burst: 16})
			udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 1000, size: 1422, burst: 8}) // 1450 - 20 - 8
			udpTransfer(t, bin, a.ns, b.ns, "fd42::2", udpBurst{count: 1000, size: 1402, burst: 8})
			sent, rcvd := a.stats(t, bin).Offload, b.stats(t, bin).Offload
			sends, dgrams := sent.GSOSends-sentBefore.GSOSends, sent.GSODatagrams-sentBefore.GSODatagrams
			if gso := mode == "on" || mode == "gro=off"; gso != (dgrams > sends) {
				t.Errorf("--offload %s: the UDP bursts left in %d GSO sends of %d datagrams, want trains (more datagrams than sends) %v",
					mode, sends, dgrams, gso)
			}
			// UDP segmentation offload on the device (Linux 6.2 on): trains
			// that arrive whole are written as one super-frame; without
			// a virtio-net header, never.
			uso := kernelHasUSO(t) && (mode == "on" || mode == "gso=off" || mode == "gro=off")
			coalesced := rcvd.CoalescedWrites - rcvdBefore.CoalescedWrites
			if (mode == "on" || !uso) && (coalesced > 0) != (mode == "on" && uso) {
				t.Errorf("--offload %s: the UDP bursts were written to %s in %d coalesced writes, want some: %v",
					mode, tapName, coalesced, mode == "on" && uso)
			}
			// UDP as QUIC stacks send it, one UDP_SEGMENT send per burst,
			// read at the far end with UDP_GRO: with USO the device hands
			// vtepd super-frames to cut, and trains reach the reader whole.
			sentBefore = a.stats(t, bin).Offload
			trains := udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 2000, size: 1000, burst: 16, gso: true, gro: true})
			trains += udpTransfer(t, bin, a.ns, b.ns, "fd42::2", udpBurst{count: 1000, size: 1402, burst: 8, gso: true, gro: true})
			trains += udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 1280, size: 64, burst: 64, gso: true, gro: true})
			sent = a.stats(t, bin).Offload
			if got := sent.TSOFrames - sentBefore.TSOFrames; (got > 0) != uso {
				t.Errorf("--offload %s: %d UDP super-frames read from %s, want some: %v", mode, got, tapName, uso)
			}
			if (mode == "on" || !uso) && (trains > 0) != (mode == "on" && uso) {
				t.Errorf("--offload %s: the UDP_GRO reader got %d trains, want some: %v", mode, trains, mode == "on" && uso)
			}
			if mode != "on" {
				return
			}
			for _, mss := range []struct {
				mss, size int
				v6        bool
			}{
				{88, 1<<20 + 87, false},
				{536, 4<<20 + 1, false},
				{1410, 8<<20 + 1409, false}, // 1450 - 20 - 20
				{1390, 4<<20 + 7, true},     // 1450 - 40 - 20
				{88, 1<<20 + 3, true},
			} {
				dst := b.over
				if mss.v6 {
					dst = "fd42::2"
				}
				transferWith(t, bin, a.ns, b.ns, dst, mss.mss, mss.size, mss.mss)
			}
			for _, h := range []*host{a, b} {
				for reason, n := range h.stats(t, bin).Drops {
					if n != 0 {
						t.Errorf("drops on %s after the transfers: got %d %s, want none", h.under, n, reason)
					}
				}
			}
		})
	}
}

// TestE2EKernelVXLANOffloads pairs vtepd, with each offload setting, with
// Linux's vxlan and moves checked bytes both ways.
func TestE2EKernelVXLANOffloads(t *testing.T) {
	bin := buildBinaries(t)
	for i, mode := range offloadModes {
		t.Run(mode, func(t *testing.T) {
			a, b := twoHosts(t)
			a.extra = []string{"--offload", mode}
			a.start(t, bin, b.under)
			kernelVXLAN(t, b, a.under)
			pingAll(t, a.ns, b.over, 3)
			pingAll(t, b.ns, a.over, 3)
			transferWith(t, bin, a.ns, b.ns, b.over, 400+i, 8<<20+5, 0)
			transferWith(t, bin, b.ns, a.ns, a.over, 500+i, 8<<20+5, 0)
		})
	}
}

// TestE2EIPIPOffloads moves checked bytes over vtepd IPIP with offloads on
// and off, segment sizes at the edges included.
func TestE2EIPIPOffloads(t *testing.T) {
	bin := buildBinaries(t)
	for i, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
			startIPIP(t, bin, a, "--offload", mode, "--route", "10.244.1.0/24=10.0.0.2")
			startIPIP(t, bin, b, "--offload", mode, "--route", "10.244.0.0/24=10.0.0.1")
			wantVnetHdr(t, a, ipipDev, mode)
			pingAll(t, a.ns, b.over, 3)
			transfer(t, bin, a.ns, b.ns, b.over, 600+i)
			transfer(t, bin, b.ns, a.ns, a.over, 700+i)
			for _, mss := range []int{88, 1440} { // 1480 - 20 - 20
				transferWith(t, bin, a.ns, b.ns, b.over, 800+mss, 2<<20+mss-1, mss)
			}
			// UDP super-frames from a UDP_SEGMENT sender, cut for the raw
			// socket and coalesced again into the far TUN device.
			trains := udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 2000, size: 1000, burst: 16, gso: true, gro: true})
			trains += udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 1280, size: 1452, burst: 20, gso: true, gro: true}) // 1480 - 20 - 8
			if want := mode == "on" && kernelHasUSO(t); (trains > 0) != want {
				t.Errorf("--offload %s: the UDP_GRO reader behind %s got %d trains, want some: %v", mode, ipipDev, trains, want)
			}
		})
	}
}

// checkOffloadCounters checks, after TCP transfers from a to b, that the
// offloads the mode leaves on did their work and the others did none: a
// cut TSO super-frames and sent GSO trains, b received GRO trains and wrote
// coalesced super-frames.
func checkOffloadCounters(t *testing.T, bin binaries, a, b *host, mode string) {
	t.Helper()
	tx, rxNet, rxUnder := a.stats(t, bin).Offload, b.stats(t, bin).Offload, b.underlayStats(t, bin).Offload
	tso := mode == "on" || mode == "gso=off" || mode == "gro=off"
	gso := mode == "on" || mode == "gro=off" // GSO sends the segments TSO brings
	// With GSO and GRO on, trains arrive whole and their segments are
	// coalesced; with TSO off the device takes no super-frame. With only
	// GSO or GRO off, neighbours may or may not meet in one read: unknown.
	coalesceKnown := mode == "on" || mode == "off" || mode == "tso=off"
	checks := []struct {
		what  string
		got   uint64
		want  bool
		known bool
	}{
		{"tso_frames on " + a.under, tx.TSOFrames, tso, true},
		{"tso_segments on " + a.under, tx.TSOSegments, tso, true},
		{"gso_sends on " + a.under, tx.GSOSends, gso, true},
		{"gro_trains on the underlay of " + b.under, rxUnder.GROTrains, mode == "on", true},
		{"coalesced_writes on " + b.under, rxNet.CoalescedWrites, mode == "on", coalesceKnown},
	}
	for _, c := range checks {
		if c.known && (c.got > 0) != c.want {
			t.Errorf("--offload %s: %s: got %d, want more than 0: %v", mode, c.what, c.got, c.want)
		}
	}
	if tx.TSOSegments < 2*tx.TSOFrames || (mode == "on" && rxUnder.GRODatagrams < 2*rxUnder.GROTrains) {
		t.Errorf("--offload %s: got %d TSO frames of %d segments, %d GRO trains of %d datagrams, want at least 2 per frame or train",
			mode, tx.TSOFrames, tx.TSOSegments, rxUnder.GROTrains, rxUnder.GRODatagrams)
	}
}

// udpReport is udpxfer's server line.
var udpReport = regexp.MustCompile(`received (\d+) of (\d+), corrupt (\d+), duplicate (\d+), reordered \d+, trains (\d+)`)

// udpBurst is what udpTransfer sends: count numbered datagrams of size
// bytes in bursts of burst, each burst in one UDP_SEGMENT send with gso,
// read with UDP_GRO with gro.
type udpBurst struct {
	count, size, burst int
	gso, gro           bool
}

// udpTransfer sends u from client to server and checks that no datagram
// arrived damaged or twice, and that most arrived (UDP may lose some; a
// path that loses most is broken). It returns the reads that held more
// than one datagram (with u.gro).
func udpTransfer(t *testing.T, bin binaries, client, server *netnstest.NS, dst string, u udpBurst) int {
	t.Helper()
	addr := net.JoinHostPort(dst, "5002")
	srvArgs := []string{bin.udpxfer, "-listen", addr, "-count", strconv.Itoa(u.count), "-timeout", "30s"}
	cliArgs := []string{bin.udpxfer, "-connect", addr, "-count", strconv.Itoa(u.count), "-size", strconv.Itoa(u.size), "-burst", strconv.Itoa(u.burst)}
	if u.gro {
		srvArgs = append(srvArgs, "-gro")
	}
	if u.gso {
		cliArgs = append(cliArgs, "-gso")
	}
	srv := server.Start(t, srvArgs...)
	netnstest.WaitFor(t, 10*time.Second, "the UDP server to listen", func() bool {
		return strings.Contains(srv.Output(), "listening on")
	})
	if out, err := client.Try(cliArgs...); err != nil {
		t.Fatalf("udpxfer to %s: %v\n%s", addr, err, out)
	}
	// The server ends by itself: all arrived, or a second of quiet.
	select {
	case <-srv.Done():
	case <-time.After(20 * time.Second):
	}
	err := srv.Stop()
	m := udpReport.FindStringSubmatch(srv.Output())
	if m == nil {
		t.Fatalf("udpxfer server: %v: got %q, want a report", err, srv.Output())
	}
	got, _ := strconv.Atoi(m[1])
	trains, _ := strconv.Atoi(m[5])
	if m[3] != "0" || m[4] != "0" || err != nil || got < u.count/2 {
		t.Errorf("UDP to %s, %+v: got %q (%v), want none corrupt or doubled and at least half arrived",
			addr, u, m[0], err)
	}
	t.Logf("UDP to %s, %+v: %s", addr, u, m[0])
	return trains
}

// kernelHasUSO reports whether the running kernel takes UDP segmentation
// offload on TAP and TUN devices (TUN_F_USO4/6, Linux 6.2).
func kernelHasUSO(t *testing.T) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release[:], err)
	}
	return major > 6 || major == 6 && minor >= 2
}

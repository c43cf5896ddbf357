//go:build linux

package main

// End-to-end tests of what goes beyond one network with a fixed flood list:
// VXLAN over a multicast group (vtepd with vtepd, and with Linux's vxlan),
// several networks from one config file, a SIGHUP reload, networks and
// peers changed at run time with vtepctl, and the Prometheus metrics. Like
// the other end-to-end tests they run the real binaries in namespaces of
// their own and check what a user would: ping, a checked TCP transfer,
// vtepctl's output, the kernel's device counters, the frames on the
// underlay and the /metrics page. They need root and skip without it;
// select them with -run E2EMulti.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netns"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane/netnstest"
)

const (
	mcastGroup = "239.1.1.1"
	// mcastGroupMAC is the Ethernet address of mcastGroup: 01:00:5e and the
	// group's low 23 bits (RFC 1112 section 6.4).
	mcastGroupMAC = "01:00:5e:01:01:01"

	// vxlanPort is the IANA-assigned VXLAN UDP port (RFC 7348 section 5).
	vxlanPort = 4789
	// vxlanHeaderLen and vxlanFlagI: the 8-byte VXLAN header, whose I flag
	// says the VNI field is valid (RFC 7348 section 5).
	vxlanHeaderLen = 8
	vxlanFlagI     = 0x08
	// minFrameLen is the shortest Ethernet frame, 64 bytes, less the
	// 4-byte FCS the NIC adds (IEEE 802.3 clause 3.2.7).
	minFrameLen = 60
	// etherTypeExperimental is IEEE 802's "local experimental" EtherType 1,
	// a frame no stack interprets.
	etherTypeExperimental = 0x88b5

	// metricsAddr is where vtepd serves /metrics, inside its namespace.
	metricsAddr = "127.0.0.1:9470"

	// echoLen is the IPv4 length of an echo request as ping(8) sends it:
	// the header, the 8-byte ICMP echo header (RFC 792) and the data.
	echoLen = ipv4HeaderLen + 8 + icmpEchoData

	// pingBatch is how many echo requests a pinger sends per socket; it
	// keeps sending batches until halted.
	pingBatch = 20
)

// goraceAtStart is GORACE as the tests were started with, goraceSet
// whether it was set at all.
var goraceAtStart, goraceSet = os.LookupEnv("GORACE")

// quickRaceExit makes race-built vtepctl and tcpxfer exit at once for the
// rest of t: a program built with -race sleeps a second at exit (GORACE
// atexit_sleep_ms, 1000 by default), and these tests run vtepctl dozens of
// times. startVtepd gives vtepd the GORACE the tests started with.
func quickRaceExit(t *testing.T) {
	if raceBuild {
		t.Setenv("GORACE", strings.TrimSpace(goraceAtStart+" atexit_sleep_ms=0"))
	}
}

// devAddr is a device vtepd must bring up and the address it must carry,
// with its prefix length.
type devAddr struct{ dev, addr string }

// devReady reports whether d is up in ns with its address.
func devReady(ns *netnstest.NS, d devAddr) bool {
	out, err := ns.Try("ip", "-o", "addr", "show", "dev", d.dev, "up")
	return err == nil && strings.Contains(out, "inet "+d.addr+" ")
}

// startVtepd runs vtepd with args on h and waits until every device of devs
// is up with its address and the control socket h.control answers; args
// must make vtepd listen there. When t ends, vtepd must stop with exit
// status 0.
func startVtepd(t *testing.T, bin binaries, h *host, devs []devAddr, args ...string) {
	t.Helper()
	cmd := []string{bin.vtepd}
	if raceBuild {
		// env execs vtepd in place: the pid, and the signals, stay its.
		if goraceSet {
			cmd = []string{"env", "GORACE=" + goraceAtStart, bin.vtepd}
		} else {
			cmd = []string{"env", "-u", "GORACE", bin.vtepd}
		}
	}
	p := h.ns.Start(t, append(cmd, args...)...)
	h.vtepd = p
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("vtepd on %s when stopped: got %v, want exit status 0", h.under, err)
		}
	})
	exited := false
	netnstest.WaitFor(t, 15*time.Second, fmt.Sprintf("vtepd on %s to bring up %v and its control socket", h.under, devs), func() bool {
		select {
		case <-p.Done():
			exited = true
			return true
		default:
		}
		for _, d := range devs {
			if !devReady(h.ns, d) {
				return false
			}
		}
		_, err := h.ns.Try(bin.vtepctl, "--control", h.control, "stats")
		return err == nil
	})
	if exited {
		t.Fatalf("vtepd on %s exited before it was ready: %v\n%s", h.under, p.Stop(), p.Output())
	}
}

// startGroup runs vtepd on h for one VXLAN network in mcastGroup, joined on
// eth0, with no flood list: VNI id, its device vx<id> with the address addr
// (with prefix length), and the extra flags given.
func startGroup(t *testing.T, bin binaries, h *host, id int, addr string, extra ...string) {
	t.Helper()
	dev := fmt.Sprintf("vx%d", id)
	args := append([]string{"--vni", strconv.Itoa(id), "--local", h.under, "--group", mcastGroup, "--dev", "eth0",
		"--addr", addr, "--control", h.control, "--log-level", "debug"}, extra...)
	startVtepd(t, bin, h, []devAddr{{dev, addr}}, args...)
}

// startFlags runs vtepd on h as host.start does, for VNI 42 with the flood
// list remotes; see startVtepd.
func startFlags(t *testing.T, bin binaries, h *host, remotes ...string) {
	t.Helper()
	args := []string{"--vni", vni, "--local", h.under, "--addr", h.over + "/24", "--control", h.control, "--log-level", "debug"}
	for _, r := range remotes {
		args = append(args, "--remote", r)
	}
	startVtepd(t, bin, h, []devAddr{{tapName, h.over + "/24"}}, args...)
}

// configYAML is a vtepd config for h: its underlay address, its control
// socket, debug logs and the networks given, each a YAML flow mapping.
func configYAML(h *host, networks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "underlay: {local: %s}\ncontrol: %s\nlog_level: debug\nnetworks:\n", h.under, h.control)
	for _, n := range networks {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	return b.String()
}

// vxlanNet is a VXLAN network of a config: vx<vni> with addr and remotes.
func vxlanNet(vni int, addr string, remotes ...string) string {
	return fmt.Sprintf("{name: vx%d, vni: %d, address: %s, remotes: [%s]}", vni, vni, addr, strings.Join(remotes, ", "))
}

// ipipNet is an IPIP network of a config: ipip0 with addr and one route.
func ipipNet(addr, prefix, via string) string {
	return fmt.Sprintf("{name: %s, kind: ipip, address: %s, routes: [{prefix: %s, via: %s}]}", ipipDev, addr, prefix, via)
}

// writeConfig replaces the file at path with text the way an editor that
// saves atomically would: a new file renamed over the old one.
func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("write config: %v", err)
	}
}

// startConfig writes text to a config file and runs `vtepd --config` on h
// with it; see startVtepd. It returns the file's path.
func startConfig(t *testing.T, bin binaries, h *host, text string, devs ...devAddr) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vtepd.yaml")
	writeConfig(t, path, text)
	startVtepd(t, bin, h, devs, "--config", path)
	return path
}

// hangup sends SIGHUP to h's vtepd.
func hangup(t *testing.T, h *host) {
	t.Helper()
	if err := syscall.Kill(h.vtepd.Pid(), syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to vtepd on %s: %v", h.under, err)
	}
}

// running fails t unless h's vtepd still runs.
func running(t *testing.T, h *host, when string) {
	t.Helper()
	select {
	case <-h.vtepd.Done():
		t.Fatalf("vtepd on %s %s: exited (%v), want it running\n%s", h.under, when, h.vtepd.Stop(), h.vtepd.Output())
	default:
	}
}

// ifindex is the interface index of dev in ns: it stays the same only as
// long as the device is not made again.
func ifindex(t *testing.T, ns *netnstest.NS, dev string) int {
	t.Helper()
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	out := ns.Run(t, "ip", "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show dev %s in %s: got %q (%v), want one device", dev, ns.Name, out, err)
	}
	return links[0].Ifindex
}

// noDevice fails t if dev exists in ns.
func noDevice(t *testing.T, ns *netnstest.NS, dev, when string) {
	t.Helper()
	if out, err := ns.Try("ip", "link", "show", "dev", dev); err == nil {
		t.Errorf("ip link show %s in %s %s: got\n%s\nwant no such device", dev, ns.Name, when, out)
	}
}

// networkShow is one element of `vtepctl network show --json`.
type networkShow struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	VNI     uint32   `json:"vni"`
	Address string   `json:"address"`
	Remotes []string `json:"remotes"`
}

// networksOn returns what `vtepctl network show --json` says on h.
func networksOn(t *testing.T, bin binaries, h *host) []networkShow {
	t.Helper()
	out := h.ctl(t, bin, "network", "show", "--json")
	var nets []networkShow
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		t.Fatalf("vtepctl network show --json on %s: %v\n%s", h.under, err, out)
	}
	return nets
}

// networkNames returns the sorted names of `vtepctl network show --json`.
func networkNames(t *testing.T, bin binaries, h *host) []string {
	t.Helper()
	var names []string
	for _, n := range networksOn(t, bin, h) {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

// fdbVNILine returns the line of `vtepctl fdb show --vni N` on h for mac.
func fdbVNILine(t *testing.T, bin binaries, h *host, vni int, mac string) (line, show string) {
	t.Helper()
	show = h.ctl(t, bin, "fdb", "show", "--vni", strconv.Itoa(vni))
	return fdbLine(show, mac), show
}

// hasFDBLine reports whether `vtepctl fdb show` output has the line want.
func hasFDBLine(show, want string) bool {
	for _, l := range strings.Split(show, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

// pinger sends echo requests from a namespace, pingBatch at a time, until
// halted, and counts requests and replies. Its goroutine enters the
// namespace itself, so it never touches the *testing.T.
type pinger struct {
	dst, from        string
	interval         time.Duration
	sent, received   atomic.Int64
	stop             chan struct{}
	done             chan error
	haltOnce         sync.Once
	haltErr          error
	haltSent, haltRx int
}

// startPinger pings dst from ns every interval until halt; t's cleanup
// halts it, before the namespace goes.
func startPinger(t *testing.T, ns *netnstest.NS, dst string, interval time.Duration) *pinger {
	t.Helper()
	addr, err := netip.ParseAddr(dst)
	if err != nil {
		t.Fatalf("pinger: destination %q: %v", dst, err)
	}
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatalf("pinger: open %s: %v", ns.Name, err)
	}
	p := &pinger{dst: dst, from: ns.Name, interval: interval, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		defer target.Close()
		p.done <- p.run(target, addr, interval)
	}()
	t.Cleanup(func() { p.halt() })
	return p
}

// run pings from inside target until stopped. It leaves the namespace and
// unlocks its thread before it returns, never letting the thread end: the
// processes netnstest.Start forked on a thread get SIGKILL when it exits
// (Pdeathsig), and any goroutine may have forked on this one before.
func (p *pinger) run(target netns.NsHandle, addr netip.Addr, interval time.Duration) (err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter the namespace: %w", err)
	}
	defer func() {
		if serr := netns.Set(orig); serr != nil {
			err = errors.Join(err, fmt.Errorf("leave the namespace: %w", serr))
			return // still locked: the thread must not run anything else
		}
		runtime.UnlockOSThread()
	}()
	for {
		select {
		case <-p.stop:
			return nil
		default:
		}
		st, err := netnstest.Echo(addr, pingBatch, interval, 3*time.Second) // slow under -race is not lost
		p.sent.Add(int64(st.Sent))
		p.received.Add(int64(st.Received))
		if err == nil {
			err = st.SendErr
		}
		if err != nil {
			return fmt.Errorf("ping %s: %w", addr, err)
		}
	}
}

// halt ends the pinger after its current batch and returns the totals and
// the first error that stopped it early.
func (p *pinger) halt() (sent, received int, err error) {
	p.haltOnce.Do(func() {
		close(p.stop)
		p.haltErr = <-p.done
		p.haltSent, p.haltRx = int(p.sent.Load()), int(p.received.Load())
	})
	return p.haltSent, p.haltRx, p.haltErr
}

// waitReplies waits until the pinger has n more replies than it had at
// from, so traffic is known to flow across whatever happened since.
func (p *pinger) waitReplies(t *testing.T, from int64, n int, what string) {
	t.Helper()
	netnstest.WaitFor(t, 15*time.Second, fmt.Sprintf("%d more replies from %s %s", n, p.dst, what), func() bool {
		return p.received.Load() >= from+int64(n)
	})
}

// wantNoLoss halts p and fails t unless every request it sent was answered.
func wantNoLoss(t *testing.T, p *pinger, during string) {
	t.Helper()
	sent, received, err := p.halt()
	if err != nil {
		t.Errorf("ping %s from %s during %s: %v", p.dst, p.from, during, err)
	}
	if sent == 0 || received != sent {
		t.Errorf("ping %s from %s every %v during %s: got %d replies to %d requests, want all answered", p.dst, p.from, p.interval, during, received, sent)
	}
	t.Logf("ping %s from %s during %s: %d requests, %d replies", p.dst, p.from, during, sent, received)
}

// pinNeighbor gives ns a permanent ARP entry for ip on dev. The kernel then
// sends no ARP for it, neither to resolve nor to confirm, and the overlay
// carries only the frames the test sends.
func pinNeighbor(t *testing.T, ns *netnstest.NS, dev, ip, mac string) {
	t.Helper()
	ns.Run(t, "ip", "neigh", "replace", ip, "lladdr", mac, "dev", dev, "nud", "permanent")
}

// sendVXLAN sends count UDP datagrams from inside ns to dst's VXLAN port,
// each a VXLAN header (RFC 7348 section 5) with the I flag and vni, around a
// broadcast Ethernet frame of the minimum size.
func sendVXLAN(t *testing.T, ns *netnstest.NS, dst string, vni uint32, count int) {
	t.Helper()
	pkt := make([]byte, vxlanHeaderLen+minFrameLen)
	pkt[0] = vxlanFlagI
	pkt[4], pkt[5], pkt[6] = byte(vni>>16), byte(vni>>8), byte(vni)
	eth := pkt[vxlanHeaderLen:]
	copy(eth[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(eth[6:12], []byte{0x02, 0, 0, 0, 0x56, 0x4e}) // locally administered
	eth[12], eth[13] = etherTypeExperimental>>8, etherTypeExperimental&0xff
	var conn *net.UDPConn
	err := ns.Do(t, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), vxlanPort)))
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket to %s:%d in %s: %v", dst, vxlanPort, ns.Name, err)
	}
	defer conn.Close()
	for range count {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatalf("send a VXLAN datagram of vni %d to %s from %s: %v", vni, dst, ns.Name, err)
		}
	}
}

// sendBroadcast sends count UDP datagrams from inside ns to the broadcast
// address bcast (port 9, discard): each leaves as one Ethernet broadcast.
func sendBroadcast(t *testing.T, ns *netnstest.NS, bcast string, count int) {
	t.Helper()
	var conn *net.UDPConn
	// Go's UDP sockets have SO_BROADCAST set.
	err := ns.Do(t, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(bcast), 9)))
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket to %s in %s: %v", bcast, ns.Name, err)
	}
	defer conn.Close()
	for range count {
		if _, err := conn.Write([]byte("broadcast")); err != nil {
			t.Fatalf("send to %s from %s: %v", bcast, ns.Name, err)
		}
	}
}

// TestE2EMultiGroup puts three vtepds on one bridged underlay, all in the
// group 239.1.1.1 and none with a flood list: hosts 1 and 2 serve VNI 42,
// host 3 VNI 43. 1 and 2 find each other through the group and ping; host
// 3 gets the flooded ARP request, drops it as unknown_vni and delivers
// nothing to its TAP. Once learnt, unicast goes direct: host 3 sees no more.
func TestE2EMultiGroup(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	hub := netnstest.NewNS(t, "mchub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "mc1"), netnstest.NewNS(t, "mc2"), netnstest.NewNS(t, "mc3")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	// With snooping the bridge would forward the group only to ports that
	// sent IGMP reports, and nobody here runs a querier.
	hub.Run(t, "ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	hosts := make([]*host, len(ports))
	for i, p := range ports {
		hosts[i] = newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("192.168.42.%d", i+1))
	}
	h1, h2, h3 := hosts[0], hosts[1], hosts[2]
	h3.over = "192.168.43.3"
	startGroup(t, bin, h1, 42, h1.over+"/24")
	startGroup(t, bin, h2, 42, h2.over+"/24")
	startGroup(t, bin, h3, 43, h3.over+"/24")

	unknown3 := statsOf(t, bin, h3, "underlay").Drops["unknown_vni"]
	rx3 := statsOf(t, bin, h3, "vx43").RxPackets
	tap3 := showLink(t, h3.ns, "vx43").Stats64.RX.Packets

	pingAll(t, h1.ns, h2.over, 3)
	pingAll(t, h2.ns, h1.over, 3)

	wantFDB(t, bin, h1, showLink(t, h2.ns, tapName).Address, h2.under)
	wantFDB(t, bin, h2, showLink(t, h1.ns, tapName).Address, h1.under)
	show := h1.ctl(t, bin, "fdb", "show")
	if want := "00:00:00:00:00:00 dev vx42 dst " + mcastGroup + " self permanent"; !hasFDBLine(show, want) {
		t.Errorf("vtepctl fdb show on %s: got\n%s\nwant a line %q", h1.under, show, want)
	}

	got3 := statsOf(t, bin, h3, "underlay").Drops["unknown_vni"]
	if got3 <= unknown3 {
		t.Errorf("unknown_vni drops on %s (vni 43 only) after 1 and 2 met in the group: got %d, want more than %d (the flooded ARP request of vni 42)", h3.under, got3, unknown3)
	}
	if got := statsOf(t, bin, h3, "vx43").RxPackets; got != rx3 {
		t.Errorf("rx_packets of vx43 on %s: got %d, want it to stay %d (nothing of vni 42 may reach it)", h3.under, got, rx3)
	}
	if got := showLink(t, h3.ns, "vx43").Stats64.RX.Packets; got != tap3 {
		t.Errorf("frames delivered to vx43 on %s: got %d, want it to stay %d", h3.under, got, tap3)
	}

	// Learnt both ways: the unicast that follows goes to the other member
	// only, never to the group.
	pingAll(t, h1.ns, h2.over, 30)
	if got := statsOf(t, bin, h3, "underlay").Drops["unknown_vni"]; got != got3 {
		t.Errorf("unknown_vni drops on %s while 1 pinged 2 thirty times after learning: got %d, want it to stay %d (unicast must not go to the group)", h3.under, got, got3)
	}
}

// TestE2EMultiKernelGroup pairs vtepd with Linux's vxlan driver, both in the
// group 239.1.1.1 on VNI 42 and neither with a remote. Each direction runs
// on a fresh pair, so the side that pings first floods to the group; vtepd's
// flooded frames are checked as captured on the kernel's side, their outer
// TTL 1 by default and as --mcast-ttl sets it.
func TestE2EMultiKernelGroup(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	for _, tc := range []struct {
		name       string
		vtepdFirst bool
		flags      []string
		ttl        uint8 // of vtepd's frames to the group
		seed       int
	}{
		{"vtepd pings the kernel", true, nil, 1, 21},
		{"vtepd with --mcast-ttl 3 pings the kernel", true, []string{"--mcast-ttl", "3"}, 3, 22},
		{"the kernel pings vtepd", false, nil, 1, 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoHosts(t)
			startGroup(t, bin, a, 42, a.over+"/24", tc.flags...)
			b.ns.Run(t, "ip", "link", "add", "vxk", "type", "vxlan", "id", vni, "group", mcastGroup,
				"dev", "eth0", "dstport", strconv.Itoa(vxlanPort), "local", b.under)
			b.ns.Run(t, "ip", "addr", "add", b.over+"/24", "dev", "vxk")
			b.ns.Run(t, "ip", "link", "set", "vxk", "up")
			kernelMAC := showLink(t, b.ns, "vxk").Address
			vtepdMAC := showLink(t, a.ns, tapName).Address

			sock := capture(t, b.ns, "eth0")
			if tc.vtepdFirst {
				pingAll(t, a.ns, b.over, 5)
				checkGroupFrames(t, sock.drain(t), a.under, tc.ttl)
				pingAll(t, b.ns, a.over, 5)
			} else {
				pingAll(t, b.ns, a.over, 5)
				pingAll(t, a.ns, b.over, 5)
			}
			wantFDB(t, bin, a, kernelMAC, b.under)
			kernelFDB := b.ns.Run(t, "bridge", "fdb", "show", "dev", "vxk")
			if got, want := fdbLine(kernelFDB, vtepdMAC), vtepdMAC+" dst "+a.under+" self"; got != want {
				t.Errorf("bridge fdb show dev vxk, line for %s: got %q, want %q\nfull output:\n%s", vtepdMAC, got, want, kernelFDB)
			}

			if tc.vtepdFirst {
				transfer(t, bin, a.ns, b.ns, b.over, tc.seed)
			} else {
				transfer(t, bin, b.ns, a.ns, a.over, tc.seed)
			}
		})
	}
}

// checkGroupFrames checks the VXLAN frames to the group among frames
// captured on the underlay while vtepd at src flooded: there is at least
// one, to the group's MAC, with outer TTL ttl, VNI 42 and an ARP request
// inside.
func checkGroupFrames(t *testing.T, frames [][]byte, src string, ttl uint8) {
	t.Helper()
	n := 0
	for i, f := range frames {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.DstIP.String() != mcastGroup || ip.SrcIP.String() != src {
			continue
		}
		n++
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		vx, _ := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
		arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		switch {
		case eth.DstMAC.String() != mcastGroupMAC:
			t.Errorf("frame %d to %s: got Ethernet destination %s, want %s", i, mcastGroup, eth.DstMAC, mcastGroupMAC)
		case ip.TTL != ttl:
			t.Errorf("frame %d to %s: got outer TTL %d, want %d", i, mcastGroup, ip.TTL, ttl)
		case udp == nil || udp.DstPort != vxlanPort:
			t.Errorf("frame %d to %s: got UDP %v, want destination port %d\n%s", i, mcastGroup, udp, vxlanPort, p.Dump())
		case vx == nil || !vx.ValidIDFlag || vx.VNI != 42:
			t.Errorf("frame %d to %s: got VXLAN header %v, want the I flag and VNI 42\n%s", i, mcastGroup, vx, p.Dump())
		case arp == nil || arp.Operation != layers.ARPRequest:
			t.Errorf("frame %d to %s: got inner %v, want an ARP request\n%s", i, mcastGroup, p.Layers(), p.Dump())
		}
	}
	if n == 0 {
		t.Errorf("frames from %s to %s on the underlay while it flooded: got none of %d captured, want the ARP request", src, mcastGroup, len(frames))
	}
}

// TestE2EMultiConfigNetworks runs two vtepds from config files with the same
// three networks: VXLAN VNIs 42 and 43 and an IPIP tunnel. All three carry
// pings. vx43 is given the MAC of vx42 on each host, so the two VNIs share
// one MAC space: each has its own entry for the peer's MAC, and traffic of
// one never shows in the other's counters.
func TestE2EMultiConfigNetworks(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	type side struct {
		h              *host
		peer           string
		v42, v43, ipip string // the devices' addresses
		ipipPeer       string // the peer's block, routed over ipip0
	}
	sides := []side{
		{a, b.under, "192.168.42.1/24", "192.168.43.1/24", "10.244.0.1/24", "10.244.1.0/24"},
		{b, a.under, "192.168.42.2/24", "192.168.43.2/24", "10.244.1.1/24", "10.244.0.0/24"},
	}
	for _, s := range sides {
		cfg := configYAML(s.h, vxlanNet(42, s.v42, s.peer), vxlanNet(43, s.v43, s.peer), ipipNet(s.ipip, s.ipipPeer, s.peer))
		startConfig(t, bin, s.h, cfg, devAddr{"vx42", s.v42}, devAddr{"vx43", s.v43}, devAddr{ipipDev, s.ipip})
	}
	if got := networkNames(t, bin, a); !slices.Equal(got, []string{"ipip0", "vx42", "vx43"}) {
		t.Errorf("vtepctl network show --json on %s: got networks %q, want ipip0, vx42, vx43", a.under, got)
	}

	macA, macB := showLink(t, a.ns, "vx42").Address, showLink(t, b.ns, "vx42").Address
	a.ns.Run(t, "ip", "link", "set", "dev", "vx43", "address", macA)
	b.ns.Run(t, "ip", "link", "set", "dev", "vx43", "address", macB)
	// No ARP in vx43: a neighbour probe there while vx42 carries the pings
	// below would move vx43's counters for reasons of its own.
	pinNeighbor(t, a.ns, "vx43", "192.168.43.2", macB)
	pinNeighbor(t, b.ns, "vx43", "192.168.43.1", macA)

	for _, tc := range []struct {
		name   string
		toB    string
		toA    string
		vniMAC int // the VXLAN network whose fdb must hold the peer's MAC; 0 for IPIP
	}{
		{"vx42", "192.168.42.2", "192.168.42.1", 42},
		{"vx43", "192.168.43.2", "192.168.43.1", 43},
		{"ipip0", "10.244.1.1", "10.244.0.1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pingAll(t, a.ns, tc.toB, 3)
			pingAll(t, b.ns, tc.toA, 3)
			if tc.vniMAC == 0 {
				return
			}
			want := fmt.Sprintf("%s dev vx%d dst %s self", macB, tc.vniMAC, b.under)
			if got, show := fdbVNILine(t, bin, a, tc.vniMAC, macB); got != want {
				t.Errorf("vtepctl fdb show --vni %d on %s, line for %s: got %q, want %q\nfull output:\n%s", tc.vniMAC, a.under, macB, got, want, show)
			}
		})
	}

	// Only vx42 carries the next pings; nothing of them may show in vx43
	// or ipip0, though vx43 has the very MAC the frames are sent to.
	type counts struct{ rx, tx, tap uint64 }
	read := func(h *host, dev string) counts {
		s := statsOf(t, bin, h, dev)
		return counts{s.RxPackets, s.TxPackets, showLink(t, h.ns, dev).Stats64.RX.Packets}
	}
	before := map[string]counts{}
	for _, h := range []*host{a, b} {
		for _, dev := range []string{"vx42", "vx43", ipipDev} {
			before[h.under+" "+dev] = read(h, dev)
		}
	}
	const pings = 20
	pingAll(t, a.ns, "192.168.42.2", pings)
	for _, h := range []*host{a, b} {
		for _, dev := range []string{"vx43", ipipDev} {
			if got, want := read(h, dev), before[h.under+" "+dev]; got != want {
				t.Errorf("counters of %s on %s (rx, tx, TAP rx) while vx42 carried %d pings: got %+v, want them to stay %+v", dev, h.under, pings, got, want)
			}
		}
	}
	if got := read(b, "vx42").rx - before[b.under+" vx42"].rx; got < pings {
		t.Errorf("rx_packets of vx42 on %s during %d pings to it: got %d more, want at least %d", b.under, pings, got, pings)
	}
}

// TestE2EMultiReload starts two vtepds from config files with vx42 and vx43
// and pings across vx42 every 10 ms while both configs are rewritten (vx43
// dropped, vx44 added, vx42 as it was) and both daemons get SIGHUP: vx43
// goes, vx44 comes and carries pings, and vx42, untouched, loses no ping.
// A second reload changes only vx42's flood list, which is updated in
// place. Then configs with another underlay or a bad field are refused on
// SIGHUP with an error in the log, and nothing changes.
func TestE2EMultiReload(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	type side struct {
		h    *host
		peer string
		n    int // host part of the overlay addresses
		path string
	}
	sides := []*side{{h: a, peer: b.under, n: 1}, {h: b, peer: a.under, n: 2}}
	overlay := func(s *side, id int) string { return fmt.Sprintf("192.168.%d.%d/24", id, s.n) }
	config := func(s *side, vnis ...int) string {
		var nets []string
		for _, v := range vnis {
			nets = append(nets, vxlanNet(v, overlay(s, v), s.peer))
		}
		return configYAML(s.h, nets...)
	}
	for _, s := range sides {
		s.path = startConfig(t, bin, s.h, config(s, 42, 43), devAddr{"vx42", overlay(s, 42)}, devAddr{"vx43", overlay(s, 43)})
	}
	pingAll(t, a.ns, "192.168.43.2", 2)
	index := map[*host]int{a: ifindex(t, a.ns, "vx42"), b: ifindex(t, b.ns, "vx42")}

	p := startPinger(t, a.ns, "192.168.42.2", 10*time.Millisecond)
	p.waitReplies(t, 0, pingBatch, "before the reload")
	for _, s := range sides {
		writeConfig(t, s.path, config(s, 42, 44))
		hangup(t, s.h)
	}
	for _, s := range sides {
		h := s.h
		netnstest.WaitFor(t, 15*time.Second, "vtepd on "+h.under+" to log the reload and bring up vx44", func() bool {
			return strings.Contains(h.vtepd.Output(), "SIGHUP: config reloaded") && devReady(h.ns, devAddr{"vx44", overlay(s, 44)})
		})
	}
	p.waitReplies(t, p.received.Load(), pingBatch, "after the reload")
	wantNoLoss(t, p, "the reload")

	for _, s := range sides {
		h := s.h
		running(t, h, "after SIGHUP")
		noDevice(t, h.ns, "vx43", "after a reload without it")
		if got := ifindex(t, h.ns, "vx42"); got != index[h] {
			t.Errorf("ifindex of vx42 on %s after a reload that left it as it was: got %d, want %d (the device must not be made again)", h.under, got, index[h])
		}
		if out := h.vtepd.Output(); strings.Contains(out, "restarting network") {
			t.Errorf("log of vtepd on %s: got a network restarted by a reload that changed none, want none\n%s", h.under, out)
		}
		if got := networkNames(t, bin, h); !slices.Equal(got, []string{"vx42", "vx44"}) {
			t.Errorf("vtepctl network show --json on %s after the reload: got %q, want vx42, vx44", h.under, got)
		}
	}
	pingAll(t, a.ns, "192.168.44.2", 3)
	pingAll(t, b.ns, "192.168.44.1", 3)

	// vx42 floods to one more address: no restart, the list updated.
	const extra = "10.0.0.9" // on a's segment, but nobody's
	s := sides[0]
	reloaded := strings.Count(a.vtepd.Output(), "SIGHUP: config reloaded")
	p = startPinger(t, a.ns, "192.168.42.2", 10*time.Millisecond)
	p.waitReplies(t, 0, pingBatch, "before the flood list changed")
	writeConfig(t, s.path, configYAML(a, vxlanNet(42, overlay(s, 42), s.peer, extra), vxlanNet(44, overlay(s, 44), s.peer)))
	hangup(t, a)
	netnstest.WaitFor(t, 15*time.Second, "vtepd on "+a.under+" to log a second reload", func() bool {
		return strings.Count(a.vtepd.Output(), "SIGHUP: config reloaded") > reloaded
	})
	p.waitReplies(t, p.received.Load(), pingBatch, "after the flood list changed")
	wantNoLoss(t, p, "a reload of vx42's flood list")
	if got := ifindex(t, a.ns, "vx42"); got != index[a] {
		t.Errorf("ifindex of vx42 on %s after a reload that changed its remotes only: got %d, want %d (updated in place)", a.under, got, index[a])
	}
	if out := a.vtepd.Output(); strings.Contains(out, "restarting network") {
		t.Errorf("log of vtepd on %s: got a network restarted by a reload of remotes only, want none\n%s", a.under, out)
	}
	for _, n := range networksOn(t, bin, a) {
		if want := []string{s.peer, extra}; n.Name == "vx42" && !slices.Equal(n.Remotes, want) {
			t.Errorf("remotes of vx42 in vtepctl network show --json on %s after the reload: got %q, want %q", a.under, n.Remotes, want)
		}
	}
	if show, want := a.ctl(t, bin, "fdb", "show"), "00:00:00:00:00:00 dev vx42 dst "+extra+" self permanent"; !hasFDBLine(show, want) {
		t.Errorf("vtepctl fdb show on %s after the reload: got\n%s\nwant a line %q", a.under, show, want)
	}

	// Configs a reload refuses whole: vx44 stays though each drops it, and
	// the error is logged.
	keep := config(s, 42)
	for _, tc := range []struct {
		name string
		text string
		log  string // in the error logged
	}{
		{
			"another underlay port",
			strings.Replace(keep, "underlay: {local: "+a.under+"}", "underlay: {local: "+a.under+", port: 4790}", 1),
			"underlay: changed",
		},
		{
			"a VNI out of range",
			strings.Replace(keep, "vni: 42,", "vni: 16777216,", 1),
			"networks[0].vni: want an integer 0..16777215, got 16777216",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.text == keep {
				t.Fatalf("config with %s: got it unchanged:\n%s", tc.name, tc.text)
			}
			reloaded := strings.Count(a.vtepd.Output(), "SIGHUP: config reloaded")
			logged := strings.Count(a.vtepd.Output(), tc.log)
			writeConfig(t, s.path, tc.text)
			hangup(t, a)
			netnstest.WaitFor(t, 15*time.Second, fmt.Sprintf("vtepd on %s to log %q", a.under, tc.log), func() bool {
				return strings.Count(a.vtepd.Output(), tc.log) > logged
			})
			running(t, a, "after SIGHUP with "+tc.name)
			if line := logLine(a.vtepd.Output(), tc.log); logLevel(line) != "error" {
				t.Errorf("log line of the refused reload on %s: got %q, want one at level error", a.under, line)
			}
			if got := strings.Count(a.vtepd.Output(), "SIGHUP: config reloaded"); got != reloaded {
				t.Errorf("\"SIGHUP: config reloaded\" lines on %s after a refused reload: got %d, want still %d", a.under, got, reloaded)
			}
			if got := networkNames(t, bin, a); !slices.Equal(got, []string{"vx42", "vx44"}) {
				t.Errorf("vtepctl network show --json on %s after the refused reload: got %q, want vx42, vx44 as before", a.under, got)
			}
			pingAll(t, a.ns, "192.168.42.2", 3)
			pingAll(t, a.ns, "192.168.44.2", 3)
		})
	}
}

// logLevel returns the level of a line of vtepd's log, whose fields are
// time, level, message and the rest, tab-separated.
func logLevel(line string) string {
	if f := strings.Split(line, "\t"); len(f) > 1 {
		return f[1]
	}
	return ""
}

// logLine returns the first line of log that contains s.
func logLine(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestE2EMultiRuntime changes a running vtepd with vtepctl on a bridged
// underlay of three hosts, 1 and 2 flooding to each other and 3 flooding to
// 1. While 1 pings 2 across vx42 every 10 ms, vx43 is added on 1 and 2,
// carries pings and is removed again; vx42 loses nothing. `peer add` and
// `peer del` on 1 decide whether host 3 gets 1's broadcasts; `fdb flush`
// leaves only the permanent entries.
func TestE2EMultiRuntime(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	hub := netnstest.NewNS(t, "rthub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "rt1"), netnstest.NewNS(t, "rt2"), netnstest.NewNS(t, "rt3")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	hosts := make([]*host, len(ports))
	for i, p := range ports {
		hosts[i] = newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("192.168.42.%d", i+1))
	}
	h1, h2, h3 := hosts[0], hosts[1], hosts[2]
	startFlags(t, bin, h1, h2.under)
	startFlags(t, bin, h2, h1.under)
	startFlags(t, bin, h3, h1.under)
	// No ARP between 1 and 2: the counts below are of the test's frames
	// only, and nothing relearns an entry behind fdb flush.
	mac1, mac2 := showLink(t, h1.ns, tapName).Address, showLink(t, h2.ns, tapName).Address
	pinNeighbor(t, h1.ns, tapName, h2.over, mac2)
	pinNeighbor(t, h2.ns, tapName, h1.over, mac1)

	t.Run("network add and del", func(t *testing.T) {
		p := startPinger(t, h1.ns, h2.over, 10*time.Millisecond)
		p.waitReplies(t, 0, pingBatch, "before network add")

		addVX43(t, bin, h1, h2)
		var vx43 *networkShow
		for _, n := range networksOn(t, bin, h1) {
			if n.Name == "vx43" {
				vx43 = &n
			}
		}
		want := networkShow{Name: "vx43", Kind: "vxlan", VNI: 43, Address: "192.168.43.1/24", Remotes: []string{h2.under}}
		if vx43 == nil || vx43.Kind != want.Kind || vx43.VNI != want.VNI || vx43.Address != want.Address || !slices.Equal(vx43.Remotes, want.Remotes) {
			t.Errorf("vtepctl network show --json on %s, vx43: got %+v, want %+v", h1.under, vx43, want)
		}
		if show := h1.ctl(t, bin, "network", "show"); !strings.Contains(show, "vx43: vxlan vni 43 local "+h1.under) {
			t.Errorf("vtepctl network show on %s: got\n%s\nwant a line starting %q", h1.under, show, "vx43: vxlan vni 43 local "+h1.under)
		}
		pingAll(t, h1.ns, "192.168.43.2", 3)
		pingAll(t, h2.ns, "192.168.43.1", 3)

		for _, h := range []*host{h1, h2} {
			h.ctl(t, bin, "network", "del", "vx43")
			noDevice(t, h.ns, "vx43", "after network del")
			if got := networkNames(t, bin, h); !slices.Equal(got, []string{tapName}) {
				t.Errorf("vtepctl network show --json on %s after network del vx43: got %q, want only %s", h.under, got, tapName)
			}
		}
		if out, err := h1.ns.Try(bin.vtepctl, "--control", h1.control, "network", "del", "vx43"); err == nil || !strings.Contains(out, "vx43") {
			t.Errorf("vtepctl network del vx43 a second time: got %v\n%s\nwant an error naming vx43", err, out)
		}
		p.waitReplies(t, p.received.Load(), pingBatch, "after network del")
		wantNoLoss(t, p, "network add and del of vx43")
	})

	t.Run("peer add and del", func(t *testing.T) {
		const frames = 5
		floodLine := fmt.Sprintf("00:00:00:00:00:00 dev %s dst %s self permanent", tapName, h3.under)
		for _, tc := range []struct {
			name    string
			cmd     []string // run on 1 first
			listed  bool     // 3 in 1's flood list
			toHost3 uint64   // broadcasts host 3 gets of the frames sent
		}{
			{"before peer add", nil, false, 0},
			{"after peer add", []string{"peer", "add", h3.under, "vni", vni}, true, frames},
			{"after peer del", []string{"peer", "del", h3.under, "vni", vni}, false, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.cmd != nil {
					h1.ctl(t, bin, tc.cmd...)
				}
				if show := h1.ctl(t, bin, "fdb", "show"); hasFDBLine(show, floodLine) != tc.listed {
					t.Errorf("vtepctl fdb show on %s: got\n%s\nwant the line %q listed: %v", h1.under, show, floodLine, tc.listed)
				}
				flooded := statsOf(t, bin, h1, tapName).Flooded
				rx2 := statsOf(t, bin, h2, tapName).RxPackets
				rx3 := statsOf(t, bin, h3, tapName).RxPackets
				tap3 := showLink(t, h3.ns, tapName).Stats64.RX.Packets

				copies := uint64(frames)
				if tc.listed {
					copies *= 2
				}
				sendBroadcast(t, h1.ns, "192.168.42.255", frames)
				what := fmt.Sprintf("host 2 to receive the %d broadcasts, host 1 to count %d copies flooded and host 3 to receive %d", frames, copies, tc.toHost3)
				netnstest.WaitFor(t, 15*time.Second, what, func() bool {
					return statsOf(t, bin, h2, tapName).RxPackets-rx2 >= frames &&
						statsOf(t, bin, h1, tapName).Flooded-flooded >= copies &&
						statsOf(t, bin, h3, tapName).RxPackets-rx3 >= tc.toHost3 &&
						(tc.toHost3 == 0 || showLink(t, h3.ns, tapName).Stats64.RX.Packets > tap3)
				})
				if tc.toHost3 == 0 {
					// Nothing to wait for on host 3: give a copy sent there
					// by mistake a moment to show.
					time.Sleep(200 * time.Millisecond)
				}

				if got := statsOf(t, bin, h3, tapName).RxPackets - rx3; got != tc.toHost3 {
					t.Errorf("rx_packets of %s on %s after 1 sent %d broadcasts: got %d more, want %d", tapName, h3.under, frames, got, tc.toHost3)
				}
				// The device counts a coalesced write as one packet, as it
				// counts one of GRO's: the broadcasts, one UDP flow, may
				// arrive as fewer packets than frames, but not as none.
				if got := showLink(t, h3.ns, tapName).Stats64.RX.Packets - tap3; (got > 0) != (tc.toHost3 > 0) || got > tc.toHost3 {
					want := "none"
					if tc.toHost3 > 0 {
						want = fmt.Sprintf("1 to %d", tc.toHost3)
					}
					t.Errorf("packets delivered to %s on %s after 1 sent %d broadcasts: got %d more, want %s", tapName, h3.under, frames, got, want)
				}
				if got := statsOf(t, bin, h1, tapName).Flooded - flooded; got != copies {
					t.Errorf("flooded of %s on %s for %d broadcasts: got %d more, want %d (one per flood-list peer)", tapName, h1.under, frames, got, copies)
				}
			})
		}
	})

	t.Run("fdb flush", func(t *testing.T) {
		// Two networks, so that flushing one is seen to leave the other.
		addVX43(t, bin, h1, h2)
		mac43 := showLink(t, h2.ns, "vx43").Address
		pinNeighbor(t, h1.ns, "vx43", "192.168.43.2", mac43)
		pinNeighbor(t, h2.ns, "vx43", "192.168.43.1", showLink(t, h1.ns, "vx43").Address)
		learnt42 := fmt.Sprintf("%s dev vx42 dst %s self", mac2, h2.under)
		learnt43 := fmt.Sprintf("%s dev vx43 dst %s self", mac43, h2.under)
		flood42 := fmt.Sprintf("00:00:00:00:00:00 dev vx42 dst %s self permanent", h2.under)
		flood43 := fmt.Sprintf("00:00:00:00:00:00 dev vx43 dst %s self permanent", h2.under)
		for _, tc := range []struct {
			name    string
			args    []string
			flushed int      // learnt entries: 2's MAC, once per network flushed
			want    []string // the lines of fdb show after
		}{
			{"--vni 42", []string{"fdb", "flush", "--vni", vni}, 1, []string{flood42, flood43, learnt43}},
			{"every network", []string{"fdb", "flush"}, 2, []string{flood42, flood43}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pingAll(t, h1.ns, h2.over, 2)
				pingAll(t, h1.ns, "192.168.43.2", 2)
				before := fdbShowLines(t, bin, h1)
				for _, want := range []string{learnt42, learnt43} {
					if !slices.Contains(before, want) {
						t.Fatalf("vtepctl fdb show on %s after the pings: got %q, want a line %q", h1.under, before, want)
					}
				}
				cmd := strings.Join(tc.args, " ")
				if out, want := strings.TrimSpace(h1.ctl(t, bin, tc.args...)), fmt.Sprintf("flushed %d entries", tc.flushed); out != want {
					t.Errorf("vtepctl %s on %s: got %q, want %q", cmd, h1.under, out, want)
				}
				want := slices.Sorted(slices.Values(tc.want))
				if got := fdbShowLines(t, bin, h1); !slices.Equal(got, want) {
					t.Errorf("vtepctl fdb show on %s after %s: got %q, want %q", h1.under, cmd, got, want)
				}
			})
		}
	})
}

// addVX43 starts VNI 43 with `vtepctl network add` on a and b, each with the
// other as its remote and 192.168.43.<n>/24 on vx43, n the host's number in
// the underlay; it checks the device is up with the address once vtepctl
// returns.
func addVX43(t *testing.T, bin binaries, a, b *host) {
	t.Helper()
	for _, n := range [][2]*host{{a, b}, {b, a}} {
		h, peer := n[0], n[1]
		addr := "192.168.43." + strings.TrimPrefix(h.under, "10.0.0.") + "/24"
		h.ctl(t, bin, "network", "add", "--vni", "43", "--remote", peer.under, "--addr", addr)
		if !devReady(h.ns, devAddr{"vx43", addr}) {
			out, _ := h.ns.Try("ip", "addr", "show", "dev", "vx43")
			t.Errorf("vx43 on %s once network add returned: got\n%s\nwant it up with %s", h.under, out, addr)
		}
	}
}

// fdbShowLines returns the lines of `vtepctl fdb show` on h, trimmed and
// sorted.
func fdbShowLines(t *testing.T, bin binaries, h *host) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(h.ctl(t, bin, "fdb", "show"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// metricSample is one line of the Prometheus text format.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the samples of a Prometheus text exposition.
func parseMetrics(text string) ([]metricSample, error) {
	var out []metricSample
	for i, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+1, line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseSample reads `name{label="value",...} number [timestamp]`.
func parseSample(line string) (metricSample, error) {
	s := metricSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, errors.New("want a metric name and a value")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for !strings.HasPrefix(line, "}") {
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return s, errors.New(`want label="value"`)
			}
			key := line[:eq]
			line = line[eq+2:]
			var v strings.Builder
			j := 0
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
					if line[j] == 'n' {
						v.WriteByte('\n')
						continue
					}
				}
				v.WriteByte(line[j])
			}
			if j == len(line) {
				return s, fmt.Errorf("label %s: unterminated value", key)
			}
			s.labels[key] = v.String()
			line = strings.TrimPrefix(line[j+1:], ",")
		}
		line = line[1:]
	}
	f := strings.Fields(line)
	if len(f) == 0 || len(f) > 2 {
		return s, errors.New("want a value and at most a timestamp after the labels")
	}
	var err error
	s.value, err = strconv.ParseFloat(f[0], 64)
	return s, err
}

// metricValue returns the value of the one series of name whose labels
// include want; it fails t unless exactly one matches.
func metricValue(t *testing.T, samples []metricSample, name string, want map[string]string) float64 {
	t.Helper()
	var found []metricSample
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			match = match && s.labels[k] == v
		}
		if match {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("metric %s%v: got %d series, want exactly 1: %v", name, want, len(found), found)
	}
	return found[0].value
}

// scrape GETs http://addr/metrics from inside ns, as a Prometheus on that
// host would, and returns its samples.
func scrape(t *testing.T, ns *netnstest.NS, addr string) []metricSample {
	t.Helper()
	var conn net.Conn
	// The socket belongs to the namespace it is opened in; the request
	// then goes over it from anywhere.
	if err := ns.Do(t, func() (err error) {
		conn, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connect to the metrics listener %s in %s: %v", addr, ns.Name, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatalf("GET http://%s/metrics in %s: %v", addr, ns.Name, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("GET http://%s/metrics in %s: %v", addr, ns.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET http://%s/metrics in %s: reading the body: %v", addr, ns.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET http://%s/metrics in %s: got %s, want 200 OK\n%s", addr, ns.Name, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type of /metrics: got %q, want the text format (text/plain)", ct)
	}
	samples, err := parseMetrics(string(body))
	if err != nil {
		t.Fatalf("/metrics of %s: %v", ns.Name, err)
	}
	return samples
}

// TestE2EMultiMetrics scrapes vtepd's /metrics inside its namespace and
// checks it against the traffic and against `vtepctl stats --json` read at
// the same moment; then hand-built VXLAN datagrams of a VNI nobody serves
// move the underlay's unknown_vni drops by exactly their number.
func TestE2EMultiMetrics(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	startVtepd(t, bin, a, []devAddr{{tapName, a.over + "/24"}},
		"--vni", vni, "--local", a.under, "--remote", b.under, "--addr", a.over+"/24",
		"--control", a.control, "--metrics", metricsAddr)
	startFlags(t, bin, b, a.under)

	const pings = 10
	pingAll(t, a.ns, b.over, pings)
	if n := strings.Count(a.vtepd.Output(), "metrics listening"); n != 1 || !strings.Contains(a.vtepd.Output(), `"address": "`+metricsAddr+`"`) {
		t.Errorf("the metrics address logged %d times, want once with one key, address:\n%s", n, a.vtepd.Output())
	}

	vx42 := map[string]string{"network": tapName, "kind": "vxlan", "vni": vni}
	figures := []struct {
		metric string
		stats  func(control.NetworkStats) uint64 // the same figure in vtepctl stats --json
		least  float64                           // what the pings must have made it at least
	}{
		{"vtepd_rx_packets_total", func(s control.NetworkStats) uint64 { return s.RxPackets }, pings},
		{"vtepd_rx_bytes_total", func(s control.NetworkStats) uint64 { return s.RxBytes }, pings * echoLen},
		{"vtepd_tx_packets_total", func(s control.NetworkStats) uint64 { return s.TxPackets }, pings},
		{"vtepd_tx_bytes_total", func(s control.NetworkStats) uint64 { return s.TxBytes }, pings * echoLen},
		{"vtepd_fdb_entries", func(s control.NetworkStats) uint64 { return uint64(s.FDBEntries) }, 1},   // b's MAC
		{"vtepd_fdb_learn_events_total", func(s control.NetworkStats) uint64 { return s.Learnt }, 1},    // b's MAC
		{"vtepd_flood_replications_total", func(s control.NetworkStats) uint64 { return s.Flooded }, 1}, // the ARP request
	}
	read := func(samples []metricSample) map[string]float64 {
		m := map[string]float64{}
		for _, f := range figures {
			m[f.metric] = metricValue(t, samples, f.metric, vx42)
		}
		return m
	}
	// Counters move only with traffic. Two scrapes that agree around the
	// stats prove none came between.
	var got map[string]float64
	var st control.NetworkStats
	for try := 1; ; try++ {
		first := read(scrape(t, a.ns, metricsAddr))
		st = statsOf(t, bin, a, tapName)
		got = read(scrape(t, a.ns, metricsAddr))
		if maps.Equal(first, got) {
			break
		}
		if try == 5 {
			t.Fatalf("/metrics on %s: changed between the two scrapes around vtepctl stats %d times over (last %v, then %v), want a quiet moment", a.under, try, first, got)
		}
	}
	for _, f := range figures {
		t.Run(f.metric, func(t *testing.T) {
			if want := float64(f.stats(st)); got[f.metric] != want {
				t.Errorf("%s%v on %s: got %v, want %v as vtepctl stats --json says at the same moment", f.metric, vx42, a.under, got[f.metric], want)
			}
			if got[f.metric] < f.least {
				t.Errorf("%s%v on %s after %d answered pings: got %v, want at least %v", f.metric, vx42, a.under, pings, got[f.metric], f.least)
			}
		})
	}

	underlay := map[string]string{"network": "underlay", "kind": "underlay", "reason": "unknown_vni"}
	before := metricValue(t, scrape(t, a.ns, metricsAddr), "vtepd_drops_total", underlay)
	const stray = 3
	sendVXLAN(t, b.ns, a.under, 4242, stray)
	var after float64
	netnstest.WaitFor(t, 5*time.Second, "the datagrams of vni 4242 to be counted", func() bool {
		after = metricValue(t, scrape(t, a.ns, metricsAddr), "vtepd_drops_total", underlay)
		return after-before >= stray
	})
	time.Sleep(200 * time.Millisecond) // room for a miscount to show
	after = metricValue(t, scrape(t, a.ns, metricsAddr), "vtepd_drops_total", underlay)
	if after-before != stray {
		t.Errorf("vtepd_drops_total%v on %s after %d datagrams of vni 4242: got %v more, want %d", underlay, a.under, stray, after-before, stray)
	}
	if got := statsOf(t, bin, a, "underlay").Drops["unknown_vni"]; float64(got) != after {
		t.Errorf("unknown_vni of the underlay in vtepctl stats --json on %s: got %d, want %v as /metrics says", a.under, got, after)
	}
}

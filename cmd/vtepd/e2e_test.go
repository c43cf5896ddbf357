//go:build linux

package main

// End-to-end tests: real vtepd and vtepctl binaries in network namespaces,
// checked the way a user would check them: ping, a TCP transfer whose bytes
// are verified, `vtepctl fdb show`, `vtepctl stats --json`, the kernel's own
// counters, and the kernel's vxlan driver as the peer. They need root and
// skip without it; select them with -run E2E.

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane/netnstest"
)

const (
	vni      = "42"
	tapName  = "vx42"   // vtepd's default --name for VNI 42
	xferPort = "5001"   // the TCP transfer's port on the overlay
	xferSize = 16 << 20 // bytes per checked transfer
)

// raceBuild is set by e2e_race_test.go when the tests run under -race; the
// daemon is then built with -race too, so the whole path is checked.
var raceBuild bool

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	// A program built with -race sleeps a second as it exits, to let late
	// reports out; the tests run vtepctl hundreds of times. Races are still
	// reported, and fail the daemon's exit status, when they happen.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries are the programs under test and the transfer helper, built once
// per test binary, on first use.
type binaries struct{ vtepd, vtepctl, tcpxfer, udpxfer string }

func buildBinaries(t *testing.T) binaries {
	t.Helper()
	netnstest.RequireRoot(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vtepd-e2e-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + "/"}
		if raceBuild {
			args = append(args, "-race")
		}
		args = append(args,
			"github.com/vtepd/vtepd/cmd/vtepd",
			"github.com/vtepd/vtepd/cmd/vtepctl",
			"github.com/vtepd/vtepd/scripts/tcpxfer",
			"github.com/vtepd/vtepd/scripts/udpxfer")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binaries: %v", buildErr)
	}
	return binaries{
		vtepd:   filepath.Join(binDir, "vtepd"),
		vtepctl: filepath.Join(binDir, "vtepctl"),
		tcpxfer: filepath.Join(binDir, "tcpxfer"),
		udpxfer: filepath.Join(binDir, "udpxfer"),
	}
}

// host is one namespace with an underlay address and, once started, a vtepd.
type host struct {
	ns      *netnstest.NS
	under   string // underlay address, 10.x
	over    string // overlay address on the TAP, 192.168.42.x
	control string // vtepd's control socket
	vtepd   *netnstest.Proc
	extra   []string // more vtepd flags for start
	bits    int      // the overlay address's prefix length; 0 is 24
}

func newHost(t *testing.T, ns *netnstest.NS, under, over string) *host {
	return &host{ns: ns, under: under, over: over, control: filepath.Join(t.TempDir(), "vtepd.sock")}
}

// twoHosts is the smallest topology: a and b on one veth, 10.0.0.1 and 10.0.0.2.
func twoHosts(t *testing.T) (a, b *host) {
	t.Helper()
	nsA, nsB := netnstest.NewNS(t, "a"), netnstest.NewNS(t, "b")
	netnstest.Veth(t, nsA, "eth0", "10.0.0.1/24", nsB, "eth0", "10.0.0.2/24")
	return newHost(t, nsA, "10.0.0.1", "192.168.42.1"), newHost(t, nsB, "10.0.0.2", "192.168.42.2")
}

// start runs vtepd on h with the given flood list and waits until it is
// ready: its TAP is up with the overlay address and its control socket
// answers.
func (h *host) start(t *testing.T, bin binaries, remotes ...string) {
	t.Helper()
	args := []string{bin.vtepd, "--vni", vni, "--local", h.under, "--addr", h.over + "/24",
		"--control", h.control, "--log-level", "debug"}
	for _, r := range remotes {
		args = append(args, "--remote", r)
	}
	args = append(args, h.extra...)
	h.run(t, bin, tapName, args)
}

// run starts vtepd with args on h and waits until dev is up with h.over/24
// and the control socket answers. Whatever the test does, the daemon must
// stop cleanly; under -race this also catches a data race it reported
// (exit status 66).
func (h *host) run(t *testing.T, bin binaries, dev string, args []string) {
	t.Helper()
	h.vtepd = h.ns.Start(t, args...)
	t.Cleanup(func() {
		if err := h.vtepd.Stop(); err != nil {
			t.Errorf("vtepd on %s when stopped: got %v, want exit status 0", h.under, err)
		}
	})
	exited := false
	netnstest.WaitFor(t, 15*time.Second, "vtepd on "+h.under+" to bring up "+dev+" and its control socket", func() bool {
		select {
		case <-h.vtepd.Done():
			exited = true
			return true
		default:
		}
		out, err := h.ns.Try("ip", "-o", "addr", "show", "dev", dev, "up")
		if err != nil || !strings.Contains(out, fmt.Sprintf("inet %s/%d", h.over, cmp.Or(h.bits, 24))) {
			return false
		}
		_, err = h.ns.Try(bin.vtepctl, "--control", h.control, "stats")
		return err == nil
	})
	if exited {
		t.Fatalf("vtepd on %s exited before it was ready: %v\n%s", h.under, h.vtepd.Stop(), h.vtepd.Output())
	}
}

// ctl runs vtepctl against h's daemon, inside h.
func (h *host) ctl(t *testing.T, bin binaries, args ...string) string {
	t.Helper()
	return h.ns.Run(t, append([]string{bin.vtepctl, "--control", h.control}, args...)...)
}

// link is what `ip -j -s link show` says about one device.
type link struct {
	Address string `json:"address"`
	MTU     int    `json:"mtu"`
	Stats64 struct {
		RX struct {
			Packets uint64 `json:"packets"`
		} `json:"rx"`
	} `json:"stats64"`
}

func showLink(t *testing.T, ns *netnstest.NS, dev string) link {
	t.Helper()
	var links []link
	out := ns.Run(t, "ip", "-j", "-s", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show dev %s in %s: got %q (%v), want one device", dev, ns.Name, out, err)
	}
	return links[0]
}

// stats returns the counters of VNI 42 on h.
func (h *host) stats(t *testing.T, bin binaries) control.NetworkStats {
	t.Helper()
	return h.statsOf(t, bin, "of vni "+vni, func(s control.NetworkStats) bool { return strconv.FormatUint(uint64(s.VNI), 10) == vni })
}

// underlayStats returns the counters of h's VXLAN underlay socket.
func (h *host) underlayStats(t *testing.T, bin binaries) control.NetworkStats {
	t.Helper()
	return statsOf(t, bin, h, "underlay")
}

// statsOf returns the entry named name of `vtepctl stats --json` on h:
// a network's name, "underlay" or ipipUnderStats for an underlay's drops.
func statsOf(t *testing.T, bin binaries, h *host, name string) control.NetworkStats {
	t.Helper()
	return h.statsOf(t, bin, fmt.Sprintf("named %q", name), func(s control.NetworkStats) bool { return s.Name == name })
}

// statsOf returns the first entry of `vtepctl stats --json` on h that
// match accepts; what describes the entry for the failure message.
func (h *host) statsOf(t *testing.T, bin binaries, what string, match func(control.NetworkStats) bool) control.NetworkStats {
	t.Helper()
	all, out := h.allStats(t, bin)
	for _, s := range all {
		if match(s) {
			return s
		}
	}
	t.Fatalf("vtepctl stats --json on %s: no entry %s in\n%s", h.under, what, out)
	return control.NetworkStats{}
}

// allStats returns every entry of `vtepctl stats --json` on h, and the
// output they were decoded from.
func (h *host) allStats(t *testing.T, bin binaries) ([]control.NetworkStats, string) {
	t.Helper()
	out := h.ctl(t, bin, "stats", "--json")
	var all []control.NetworkStats
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("vtepctl stats --json on %s: %v\n%s", h.under, err, out)
	}
	return all, out
}

// fdbLine finds the line of `vtepctl fdb show` for mac, "" if none.
func fdbLine(show, mac string) string {
	for _, line := range strings.Split(show, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == mac {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// wantFDB checks that `vtepctl fdb show` on h sends mac to dst, as a learnt
// (not permanent) entry of VNI 42.
func wantFDB(t *testing.T, bin binaries, h *host, mac, dst string) {
	t.Helper()
	show := h.ctl(t, bin, "fdb", "show")
	want := fmt.Sprintf("%s dev %s dst %s self", mac, tapName, dst)
	if got := fdbLine(show, mac); got != want {
		t.Errorf("vtepctl fdb show on %s, line for %s: got %q, want %q\nfull output:\n%s", h.under, mac, got, want, show)
	}
}

// pingAll pings dst from ns and fails unless every request is answered.
func pingAll(t *testing.T, ns *netnstest.NS, dst string, count int) {
	t.Helper()
	st := ns.Ping(t, dst, count, 50*time.Millisecond)
	if st.Received != count {
		t.Fatalf("ping %s from %s: got %d of %d replies, want all\n%v", dst, ns.Name, st.Received, count, st)
	}
}

var xferLine = regexp.MustCompile(`(?m)^(sent|received) (\d+) bytes .* sha256 ([0-9a-f]{64})$`)

// transfer moves xferSize seeded pseudo-random bytes over TCP from client to
// server (dst is the server's overlay address) and checks that the server
// got exactly what the client sent: length and SHA-256 reported by each side.
func transfer(t *testing.T, bin binaries, client, server *netnstest.NS, dst string, seed int) {
	t.Helper()
	transferWith(t, bin, client, server, dst, seed, xferSize, 0)
}

// transferWith is transfer of size bytes with the client's TCP segments
// capped at mss bytes (0: the path's own).
func transferWith(t *testing.T, bin binaries, client, server *netnstest.NS, dst string, seed, size, mss int) {
	t.Helper()
	addr := net.JoinHostPort(dst, xferPort)
	srv := server.Start(t, bin.tcpxfer, "-listen", addr, "-timeout", "60s")
	netnstest.WaitFor(t, 10*time.Second, "the transfer server to listen", func() bool {
		return strings.Contains(srv.Output(), "listening on")
	})
	out, err := client.Try(bin.tcpxfer, "-connect", addr, "-mss", strconv.Itoa(mss),
		"-bytes", strconv.Itoa(size), "-seed", strconv.Itoa(seed), "-timeout", "60s")
	if err != nil {
		t.Fatalf("transfer to %s: %v\nclient: %s\nserver: %s", addr, err, out, srv.Output())
	}
	// The server exits by itself once it has answered; a signal before
	// that would fail a transfer that went well.
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("transfer server: %v\n%s", err, srv.Output())
	}
	sent, recv := xferLine.FindStringSubmatch(out), xferLine.FindStringSubmatch(srv.Output())
	if sent == nil || recv == nil || sent[1] != "sent" || recv[1] != "received" {
		t.Fatalf("transfer reports: got client %q, server %q, want a sent and a received line", out, srv.Output())
	}
	if want := strconv.Itoa(size); sent[2] != want || recv[2] != want {
		t.Errorf("transfer length: got sent %s, received %s bytes, want %s both", sent[2], recv[2], want)
	}
	if sent[3] != recv[3] {
		t.Errorf("transfer sha256: got received %s, want the sent %s", recv[3], sent[3])
	}
	t.Logf("transfer to %s (mss %d): %s", addr, mss, strings.TrimSpace(out))
}

// TestE2EVtepdToVtepd runs vtepd at both ends of a veth: ping both ways, a
// checked 16 MiB TCP transfer, the learnt entries and the counters.
func TestE2EVtepdToVtepd(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)

	if got := showLink(t, a.ns, tapName).MTU; got != 1450 {
		t.Errorf("MTU of %s: got %d, want 1450 (underlay 1500 - 50 of VXLAN over IPv4)", tapName, got)
	}
	pingAll(t, a.ns, b.over, 5)
	pingAll(t, b.ns, a.over, 5)

	macB := showLink(t, b.ns, tapName).Address
	wantFDB(t, bin, a, macB, b.under)
	wantFDB(t, bin, b, showLink(t, a.ns, tapName).Address, a.under)

	// The same entry as JSON, the form scripts read: bridge -j fdb show's.
	var entries []struct {
		MAC    string   `json:"mac"`
		IfName string   `json:"ifname"`
		Dst    string   `json:"dst"`
		Flags  []string `json:"flags"`
		State  string   `json:"state"`
	}
	out := a.ctl(t, bin, "fdb", "show", "--json")
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("vtepctl fdb show --json: %v\n%s", err, out)
	}
	found := false
	for _, e := range entries {
		if e.MAC == macB {
			found = true
			if e.Dst != b.under || e.IfName != tapName || e.State != "" || len(e.Flags) != 1 || e.Flags[0] != "self" {
				t.Errorf("fdb show --json entry for %s: got %+v, want dst %s, ifname %s, flags [self], state \"\"", macB, e, b.under, tapName)
			}
		}
	}
	if !found {
		t.Errorf("vtepctl fdb show --json on %s: got\n%s\nwant an entry for %s", a.under, out, macB)
	}

	before := b.stats(t, bin)
	transfer(t, bin, a.ns, b.ns, b.over, 1)
	after := b.stats(t, bin)
	if got := after.RxBytes - before.RxBytes; got < xferSize {
		t.Errorf("rx_bytes of %s during the transfer: got %d more, want at least the %d bytes sent", b.under, got, xferSize)
	}
	if got := after.TxPackets - before.TxPackets; got == 0 {
		t.Errorf("tx_packets of %s during the transfer: got no more, want the TCP acks counted", b.under)
	}
}

// kernelVXLAN makes the kernel's vxlan device vxk on h, as ip-link would for
// a peer of vtepd: same VNI and port, flooding to remote. It returns vxk's MAC.
//
// h's veth keeps its transmit checksum offload, as a user's would: the
// kernel then leaves the inner TCP and UDP checksums of what vxk sends
// unfinished, the pseudo-header sum alone, and vtepd finishes them.
func kernelVXLAN(t *testing.T, h *host, remote string) string {
	t.Helper()
	h.ns.Run(t, "ip", "link", "add", "vxk", "type", "vxlan", "id", vni, "dstport", "4789",
		"local", h.under, "remote", remote, "dev", "eth0")
	h.ns.Run(t, "ip", "addr", "add", h.over+"/24", "dev", "vxk")
	h.ns.Run(t, "ip", "link", "set", "vxk", "up")
	return showLink(t, h.ns, "vxk").Address
}

// TestE2EKernelVXLAN pairs vtepd with Linux's vxlan driver. Each direction
// runs on a fresh pair, so the side that pings first has to flood the ARP
// request and learn from the answer.
func TestE2EKernelVXLAN(t *testing.T) {
	bin := buildBinaries(t)
	for _, tc := range []struct {
		name       string
		vtepdFirst bool
	}{
		{"vtepd pings the kernel", true},
		{"the kernel pings vtepd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoHosts(t)
			a.start(t, bin, b.under)
			kernelMAC := kernelVXLAN(t, b, a.under)
			vtepdMAC := showLink(t, a.ns, tapName).Address

			if tc.vtepdFirst {
				pingAll(t, a.ns, b.over, 5)
				pingAll(t, b.ns, a.over, 5)
			} else {
				pingAll(t, b.ns, a.over, 5)
				pingAll(t, a.ns, b.over, 5)
			}
			wantFDB(t, bin, a, kernelMAC, b.under)

			// The kernel learnt vtepd's MAC from the outer source address.
			kernelFDB := b.ns.Run(t, "bridge", "fdb", "show", "dev", "vxk")
			if got, want := fdbLine(kernelFDB, vtepdMAC), vtepdMAC+" dst "+a.under+" self"; got != want {
				t.Errorf("bridge fdb show dev vxk, line for %s: got %q, want %q\nfull output:\n%s", vtepdMAC, got, want, kernelFDB)
			}
			sameFDBShape(t, b.ns.Run(t, "bridge", "-j", "-s", "fdb", "show", "dev", "vxk"), vtepdMAC,
				a.ctl(t, bin, "fdb", "show", "dev", tapName, "-s", "--json"), kernelMAC)

			// TCP and UDP both ways, with the kernel's checksums left for
			// offload: vtepd finishes them, and no receiver counts one bad.
			before := csumErrors(t, a.ns)
			transfer(t, bin, a.ns, b.ns, b.over, 2)
			transfer(t, bin, b.ns, a.ns, a.over, 3)
			udpTransfer(t, bin, a.ns, b.ns, b.over, udpBurst{count: 300, size: 600, burst: 1})
			udpTransfer(t, bin, b.ns, a.ns, a.over, udpBurst{count: 300, size: 600, burst: 1})
			if after := csumErrors(t, a.ns); after != before {
				t.Errorf("TCP and UDP checksum errors on vtepd's host: %d before, %d after; want none", before, after)
			}
			if got := a.stats(t, bin).CsumCompleted; got < 300 {
				t.Errorf("csum_completed: got %d, want at least the 300 UDP datagrams the kernel sent", got)
			}
			if !tc.vtepdFirst {
				return
			}
			// A checksum that is really wrong is passed on as it is, and
			// the receiver drops the datagram, as it would over the kernel.
			completed, udpErrs := a.stats(t, bin).CsumCompleted, mib(t, a.ns, "/proc/net/snmp", "Udp")["InCsumErrors"]
			sendBadUDP(t, b.ns, b.over, a.over)
			netnstest.WaitFor(t, 5*time.Second, "UdpInCsumErrors on vtepd's host", func() bool {
				return mib(t, a.ns, "/proc/net/snmp", "Udp")["InCsumErrors"] > udpErrs
			})
			if got := a.stats(t, bin).CsumCompleted; got != completed {
				t.Errorf("csum_completed after a wrong checksum: got %d, want %d as before", got, completed)
			}
		})
	}
}

// sameFDBShape checks that the learnt entry for kernelSide in `bridge -j -s
// fdb show` of a kernel vxlan and the one for vtepdSide in `vtepctl fdb
// show -s --json` have the same keys with values of the same types, and
// that both flood entries do too: a script written for the one reads the
// other.
func sameFDBShape(t *testing.T, kernel, kernelSide, vtepd, vtepdSide string) {
	t.Helper()
	shape := func(what, out, mac string) map[string]string {
		var entries []map[string]any
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		for _, e := range entries {
			if e["mac"] != mac {
				continue
			}
			m := map[string]string{}
			for k, v := range e {
				// viaIf is the underlay device a kernel entry names
				// (ip link add ... dev eth0); vtepd's entries name none.
				if k != "viaIf" {
					m[k] = fmt.Sprintf("%T", v)
				}
			}
			return m
		}
		t.Fatalf("%s: no entry for %s in\n%s", what, mac, out)
		return nil
	}
	for _, mac := range [][2]string{{kernelSide, vtepdSide}, {"00:00:00:00:00:00", "00:00:00:00:00:00"}} {
		k, v := shape("bridge -j -s fdb show", kernel, mac[0]), shape("vtepctl fdb show -s --json", vtepd, mac[1])
		if !reflect.DeepEqual(k, v) {
			t.Errorf("entry %s: the kernel's has keys %v, vtepd's %v; want the same", mac[1], k, v)
		}
	}
}

// csumErrors is TcpInCsumErrors plus UdpInCsumErrors in ns.
func csumErrors(t *testing.T, ns *netnstest.NS) uint64 {
	t.Helper()
	return mib(t, ns, "/proc/net/snmp", "Tcp")["InCsumErrors"] + mib(t, ns, "/proc/net/snmp", "Udp")["InCsumErrors"]
}

// sendBadUDP sends, from ns, one UDP datagram from src to dst port 9 whose
// checksum is wrong (and not the pseudo-header sum an offloading sender
// leaves): a raw socket writes the UDP header as given.
func sendBadUDP(t *testing.T, ns *netnstest.NS, src, dst string) {
	t.Helper()
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	pkt := make([]byte, 20+8+16)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, 17 // IPv4, TTL 64, UDP
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	copy(pkt[12:], s[:])
	copy(pkt[16:], d[:])
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], 9)
	binary.BigEndian.PutUint16(pkt[24:], 8+16)
	binary.BigEndian.PutUint16(pkt[26:], 0x1234) // wrong
	if err := ns.Do(t, func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		return syscall.Sendto(fd, pkt, 0, &syscall.SockaddrInet4{Addr: d})
	}); err != nil {
		t.Fatalf("sending a datagram with a wrong checksum: %v", err)
	}
}

// TestE2EThreeHosts joins three vtepds on one bridged segment, each flooding
// to the other two. Once 1 and 2 have learnt each other, their unicast goes
// to one another only: host 3 sees nothing more of it.
func TestE2EThreeHosts(t *testing.T) {
	bin := buildBinaries(t)
	hub := netnstest.NewNS(t, "hub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "h1"), netnstest.NewNS(t, "h2"), netnstest.NewNS(t, "h3")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	hosts := make([]*host, len(ports))
	for i, p := range ports {
		hosts[i] = newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("192.168.42.%d", i+1))
	}
	for i, h := range hosts {
		var remotes []string
		for j, o := range hosts {
			if j != i {
				remotes = append(remotes, o.under)
			}
		}
		h.start(t, bin, remotes...)
	}
	h1, h2, h3 := hosts[0], hosts[1], hosts[2]

	pingAll(t, h1.ns, h2.over, 3)

	show := h1.ctl(t, bin, "fdb", "show")
	for _, want := range []string{
		fmt.Sprintf("%s dev %s dst %s self", showLink(t, h2.ns, tapName).Address, tapName, h2.under),
		fmt.Sprintf("00:00:00:00:00:00 dev %s dst %s self permanent", tapName, h2.under),
		fmt.Sprintf("00:00:00:00:00:00 dev %s dst %s self permanent", tapName, h3.under),
	} {
		found := false
		for _, line := range strings.Split(show, "\n") {
			found = found || strings.TrimSpace(line) == want
		}
		if !found {
			t.Errorf("vtepctl fdb show on %s: got\n%s\nwant a line %q", h1.under, show, want)
		}
	}

	// Host 3 did get the flooded ARP request: its counters work and start
	// above zero, so "unchanged" below means something.
	rx3 := h3.stats(t, bin).RxPackets
	tap3 := showLink(t, h3.ns, tapName).Stats64.RX.Packets
	if rx3 == 0 {
		t.Fatalf("rx_packets of %s after 1 pinged 2: got 0, want the flooded ARP request counted", h3.under)
	}

	pingAll(t, h1.ns, h2.over, 50)

	if got := h3.stats(t, bin).RxPackets; got != rx3 {
		t.Errorf("rx_packets of %s while 1 pinged 2 fifty times: got %d, want it to stay %d (unicast must not flood)", h3.under, got, rx3)
	}
	if got := showLink(t, h3.ns, tapName).Stats64.RX.Packets; got != tap3 {
		t.Errorf("frames delivered to %s on %s while 1 pinged 2: got %d, want it to stay %d", tapName, h3.under, got, tap3)
	}
}

// TestE2EStopRemovesTAPAndSocket stops vtepd the way an init system or a
// terminal would and checks it exits 0 and leaves nothing behind.
func TestE2EStopRemovesTAPAndSocket(t *testing.T) {
	bin := buildBinaries(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			a, b := twoHosts(t)
			a.start(t, bin, b.under)
			if err := a.vtepd.StopWith(sig); err != nil {
				t.Fatalf("vtepd after %v: got %v, want exit status 0\n%s", sig, err, a.vtepd.Output())
			}
			if out, err := a.ns.Try("ip", "link", "show", tapName); err == nil {
				t.Errorf("ip link show %s after %v: got\n%s\nwant no such device", tapName, sig, out)
			}
			if _, err := os.Stat(a.control); !os.IsNotExist(err) {
				t.Errorf("control socket %s after %v: got stat error %v, want it removed", a.control, sig, err)
			}
		})
	}
}

//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// frrDir is where Debian's frr package puts its daemons.
const frrDir = "/usr/lib/frr"

// startFRR runs FRR's zebra and bgpd in ns, each with its own pid file,
// sockets and config in a directory of the test's, and the given bgpd
// configuration; it returns a vtysh command line for that instance, and a
// function that starts its bgpd (once at once, again after it was
// stopped). Both are stopped when the test ends.
func startFRR(t *testing.T, ns *netnstest.NS, bgpdConf string) (vtysh func(cmd string) string, startBgpd func() *netnstest.Proc) {
	t.Helper()
	for _, d := range []string{"zebra", "bgpd"} {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			t.Skipf("needs FRR (%s/%s; apt-get install frr): %v", frrDir, d, err)
		}
	}
	// The daemons run as the frr user: their directory must be theirs to
	// write, and its parents theirs to pass (t.TempDir's are root's alone).
	dir, err := os.MkdirTemp("", "vtepd-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	zserv := filepath.Join(dir, "zserv.api")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zconf := write("zebra.conf", "hostname frr\n")
	bconf := write("bgpd.conf", bgpdConf)
	common := []string{"-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", zserv, "-P", "0"}
	ns.Start(t, append([]string{filepath.Join(frrDir, "zebra"), "-f", zconf, "-i", filepath.Join(dir, "zebra.pid")}, common...)...)
	netnstest.WaitFor(t, 10*time.Second, "zebra's socket", func() bool {
		_, err := os.Stat(zserv)
		return err == nil
	})
	startBgpd = func() *netnstest.Proc {
		return ns.Start(t, append([]string{filepath.Join(frrDir, "bgpd"), "-f", bconf, "-i", filepath.Join(dir, "bgpd.pid")}, common...)...)
	}
	return func(cmd string) string {
		out, _ := exec.Command("ip", "netns", "exec", ns.Name, "vtysh", "--vty_socket", dir, "-c", cmd).CombinedOutput()
		return string(out)
	}, startBgpd
}

// evpnFabric is three hosts on one underlay bridge: FRR (zebra and bgpd)
// with the kernel's vxlan in a bridge on h1, and a host behind that
// bridge (hb0 in a namespace of its own, with h1's overlay address);
// vtepd with EVPN on h2 and h3, whose only neighbor is h1, FRR acting as
// their route reflector.
type evpnFabric struct {
	h1, h2, h3 *host
	host       *netnstest.NS // the host behind h1's bridge
	vtysh      func(string) string
	bgpd       *netnstest.Proc
	startBgpd  func() *netnstest.Proc
	hostMAC    string // hb0's
}

func newEVPNFabric(t *testing.T, bin binaries) *evpnFabric {
	t.Helper()
	hub := netnstest.NewNS(t, "hub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "h1"), netnstest.NewNS(t, "h2"), netnstest.NewNS(t, "h3")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	hs := make([]*host, 3)
	for i, p := range ports {
		hs[i] = newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("192.168.42.%d", i+1))
	}
	f := &evpnFabric{h1: hs[0], h2: hs[1], h3: hs[2]}
	k := f.h1.ns
	k.Run(t, "ip", "link", "add", "br42", "type", "bridge")
	k.Run(t, "ip", "link", "add", "vx42", "type", "vxlan", "id", vni, "dstport", "4789", "local", f.h1.under, "nolearning")
	k.Run(t, "ip", "link", "set", "vx42", "master", "br42")
	// As FRR's EVPN setup wants it: the bridge learns no MAC on the VXLAN
	// port from frames (BGP installs the remote ones). Else a frame from
	// h3 with the moved MAC below could move it at h1 before h3 announces
	// it, FRR would withdraw its route, and h3 would rightly send seq 0.
	k.Run(t, "bridge", "link", "set", "dev", "vx42", "learning", "off")
	// The host has a namespace of its own: FRR refuses routes for the
	// MACs of its own namespace's devices ("self mac").
	f.host = netnstest.NewNS(t, "h1host")
	k.Run(t, "ip", "link", "add", "hb0p", "type", "veth", "peer", "name", "hb0", "netns", f.host.Name)
	k.Run(t, "ip", "link", "set", "hb0p", "master", "br42")
	f.host.Run(t, "ip", "addr", "add", f.h1.over+"/24", "dev", "hb0")
	f.host.Run(t, "ip", "link", "set", "hb0", "up")
	for _, d := range []string{"vx42", "br42", "hb0p"} {
		k.Run(t, "ip", "link", "set", d, "up")
	}
	f.hostMAC = showLink(t, f.host, "hb0").Address
	conf := fmt.Sprintf(`hostname frr
router bgp 65000
 bgp router-id %s
 bgp graceful-restart
 bgp graceful-restart restart-time 10
 no bgp default ipv4-unicast
 neighbor %s remote-as 65000
 neighbor %s remote-as 65000
 address-family l2vpn evpn
  neighbor %s activate
  neighbor %s route-reflector-client
  neighbor %s activate
  neighbor %s route-reflector-client
  advertise-all-vni
 exit-address-family
`, f.h1.under, f.h2.under, f.h3.under, f.h2.under, f.h2.under, f.h3.under, f.h3.under)
	f.vtysh, f.startBgpd = startFRR(t, k, conf)
	f.bgpd = f.startBgpd()
	for _, h := range []*host{f.h2, f.h3} {
		h.extra = []string{"--evpn", "--bgp-asn", "65000", "--bgp-neighbor", f.h1.under}
		h.start(t, bin)
	}
	return f
}

// TestE2EEVPNWithFRR: two vtepd and a kernel vxlan under FRR, with no
// flood list or MAC typed anywhere. Each side's flood list holds the
// others' endpoints from type 3 routes; each side's FDB holds the others'
// MACs from type 2 routes, as extern_learn entries, before a frame has
// crossed (vtepd learns nothing from frames on an EVPN network); FRR lists
// vtepd's MACs and puts them in the kernel's FDB; ping and a checked TCP
// transfer cross; vtepd answers ARP for the kernel side's host itself; a
// MAC that moves from h1 to h3 gets the next MAC mobility sequence number,
// and h2 follows it; and FRR stopped, vtepd takes out all it had from BGP.
func TestE2EEVPNWithFRR(t *testing.T) {
	bin := buildBinaries(t)
	f := newEVPNFabric(t, bin)
	h1, h2, h3 := f.h1, f.h2, f.h3
	tap2, tap3 := showLink(t, h2.ns, tapName).Address, showLink(t, h3.ns, tapName).Address

	netnstest.WaitFor(t, 60*time.Second, "h2's flood list to hold h1 and h3", func() bool {
		show := h2.ctl(t, bin, "fdb", "show")
		return hasFDBLine(show, "00:00:00:00:00:00 dev vx42 dst "+h1.under+" self permanent") &&
			hasFDBLine(show, "00:00:00:00:00:00 dev vx42 dst "+h3.under+" self permanent")
	})
	netnstest.WaitFor(t, 30*time.Second, "FRR to put h2 and h3 in the kernel's flood list", func() bool {
		show := h1.ns.Run(t, "bridge", "fdb", "show", "dev", "vx42")
		return strings.Contains(show, "00:00:00:00:00:00 dst "+h2.under) && strings.Contains(show, "00:00:00:00:00:00 dst "+h3.under)
	})
	// MACs: h1's host and h3's TAP in h2's FDB, from BGP alone. The host
	// speaks once (an ARP request nobody answers), so that h1's bridge
	// learns it and FRR announces it; vtepd learns nothing from frames on
	// an EVPN network, so an entry there is BGP's.
	f.host.Ping(t, "192.168.42.250", 1, 0)
	netnstest.WaitFor(t, 30*time.Second, "h2's FDB to hold h1's host and h3's TAP", func() bool {
		show := h2.ctl(t, bin, "fdb", "show")
		return hasFDBLine(show, f.hostMAC+" dev vx42 dst "+h1.under+" self extern_learn") &&
			hasFDBLine(show, tap3+" dev vx42 dst "+h3.under+" self extern_learn")
	})
	netnstest.WaitFor(t, 30*time.Second, "FRR to list h2's MAC and the kernel to have it extern_learn", func() bool {
		return strings.Contains(f.vtysh("show evpn mac vni 42"), tap2) &&
			strings.Contains(h1.ns.Run(t, "bridge", "fdb", "show", "dev", "vx42"), tap2+" dst "+h2.under+" self extern_learn")
	})
	if st := h2.stats(t, bin); st.Learnt != 0 {
		t.Errorf("h2 learnt %d MACs from frames; want 0 (learning is off with evpn)", st.Learnt)
	}

	pingAll(t, h2.ns, h1.over, 3)
	pingAll(t, f.host, h2.over, 3)
	pingAll(t, h2.ns, h3.over, 3)
	transfer(t, bin, h2.ns, f.host, h1.over, 1)
	transfer(t, bin, f.host, h2.ns, h2.over, 2)
	// h2 asks for h3's address and gets the answer from its own vtepd:
	// h3's type 2 route carries it, so the ARP request never leaves h2.
	// The route reaches h2's neighbour table a moment after the speaker
	// has it: ask again until vtepd answers.
	netnstest.WaitFor(t, 30*time.Second, "h2's ARP request for h3 to be answered on h2 (arp_suppressed up)", func() bool {
		h2.ns.Run(t, "ip", "neigh", "flush", "dev", tapName)
		pingAll(t, h2.ns, h3.over, 1)
		return h2.stats(t, bin).ARPSuppressed > 0
	})
	if st := h2.stats(t, bin); st.ARPFlooded == 0 {
		t.Errorf("h2's ARP: flooded %d, want some: for h1's host, whose address FRR does not announce (suppressed %d)",
			st.ARPFlooded, st.ARPSuppressed)
	}

	// The same for IPv6: h3's neighbour advertisement showed its address,
	// which its type 2 route then carries, and h2's next solicitation for
	// it is answered on h2.
	addOverlay6(t, h2, tapName, "fd42::2")
	addOverlay6(t, h3, tapName, "fd42::3")
	h2.ns.Run(t, "ping", "-6", "-c", "2", "-W", "2", "fd42::3")
	netnstest.WaitFor(t, 30*time.Second, "h3's route with fd42::3", func() bool {
		return strings.Contains(h2.ctl(t, bin, "evpn", "routes"), "["+tap3+"]:[fd42::3] next-hop "+h3.under)
	})
	// As for IPv4, the neighbour table follows the speaker's routes: ask
	// again until the solicitation is answered on h2.
	suppressed := h2.stats(t, bin).ARPSuppressed
	netnstest.WaitFor(t, 30*time.Second, fmt.Sprintf("h2's solicitation for fd42::3 to be answered on h2 (arp_suppressed above %d)", suppressed), func() bool {
		h2.ns.Run(t, "ip", "-6", "neigh", "flush", "dev", tapName)
		h2.ns.Run(t, "ping", "-6", "-c", "2", "-W", "2", "fd42::3")
		return h2.stats(t, bin).ARPSuppressed > suppressed
	})

	// The host's MAC moves from h1 to h3 while FRR's route for it (sequence
	// 0) stands: h3 announces it with 1 (RFC 7432 section 15), h2 follows,
	// and FRR takes it for a remote MAC at h3. The host is silenced first
	// (no ARP of its own), so that the kernel does not learn it again.
	f.host.Run(t, "ip", "link", "set", "hb0", "arp", "off")
	h3.ns.Run(t, "ip", "link", "set", tapName, "address", f.hostMAC)
	netnstest.WaitFor(t, 30*time.Second, "h2 to point the moved MAC at h3", func() bool {
		return hasFDBLine(h2.ctl(t, bin, "fdb", "show"), f.hostMAC+" dev vx42 dst "+h3.under+" self extern_learn")
	})
	moved := regexp.MustCompile(`(?m)^> vni 42 rd 10\.0\.0\.3:1 \[2\]:\[` + regexp.QuoteMeta(f.hostMAC) + `\] next-hop 10\.0\.0\.3 from 10\.0\.0\.1 seq 1$`)
	if out := h2.ctl(t, bin, "evpn", "routes", "--vni", vni); !moved.MatchString(out) {
		t.Errorf("vtepctl evpn routes on h2: got\n%s\nwant h3's route for the moved MAC %s with seq 1", out, f.hostMAC)
	}
	var frrMAC string
	defer func() {
		if t.Failed() {
			t.Logf("FRR's show evpn mac vni 42 mac %s:\n%s", f.hostMAC, frrMAC)
		}
	}()
	netnstest.WaitFor(t, 30*time.Second, "FRR to see the MAC at h3", func() bool {
		frrMAC = f.vtysh("show evpn mac vni 42 mac " + f.hostMAC)
		return strings.Contains(frrMAC, "Remote VTEP: "+h3.under) && strings.Contains(frrMAC, "Remote Seq: 1")
	})
	// h3's old MAC went with the new (withdrawn at once, not aged out); the
	// neighbour caches forget it, as a gratuitous ARP would tell them.
	netnstest.WaitFor(t, 30*time.Second, "h2 to drop h3's old MAC", func() bool {
		return !strings.Contains(h2.ctl(t, bin, "fdb", "show"), tap3)
	})
	h3.ns.Run(t, "ip", "neigh", "flush", "dev", tapName)
	h2.ns.Run(t, "ip", "neigh", "flush", "dev", tapName)
	pingAll(t, h3.ns, h2.over, 3) // from the moved MAC

	// bgpd dies without a word (SIGKILL), as when it restarts: FRR said it
	// can restart within 10 s (bgp graceful-restart), so vtepd, its
	// helper, keeps the routes, stale, and traffic flows on; bgpd back,
	// the session and routes are refreshed.
	before := h2.ctl(t, bin, "fdb", "show")
	_ = f.bgpd.StopWith(syscall.SIGKILL)
	netnstest.WaitFor(t, 30*time.Second, "h2's session to FRR to drop", func() bool {
		return !strings.Contains(h2.ctl(t, bin, "bgp", "neighbors"), "Established")
	})
	time.Sleep(2 * time.Second)
	if after := h2.ctl(t, bin, "fdb", "show"); after != before {
		t.Errorf("h2's FDB while FRR restarts: got\n%s\nwant it kept as it was:\n%s", after, before)
	}
	pingAll(t, h2.ns, h3.over, 2)
	f.bgpd = f.startBgpd()
	netnstest.WaitFor(t, 60*time.Second, "h2's session to FRR to come back", func() bool {
		return strings.Contains(h2.ctl(t, bin, "bgp", "neighbors"), "Established")
	})
	netnstest.WaitFor(t, 30*time.Second, "h2's FDB as before", func() bool { return h2.ctl(t, bin, "fdb", "show") == before })

	// FRR gone for good: the reflector and every route through it go, at
	// once or, if bgpd leaves as if to restart, once its restart time has
	// passed.
	_ = f.bgpd.Stop() // its exit status on SIGTERM is FRR's business
	netnstest.WaitFor(t, 30*time.Second, "h2 to take out what BGP gave it", func() bool {
		show := h2.ctl(t, bin, "fdb", "show")
		return !strings.Contains(show, "extern_learn") && !strings.Contains(show, "00:00:00:00:00:00")
	})
}

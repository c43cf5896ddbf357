//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// frrDir is where Debian's frr package puts its daemons.
const frrDir = "/usr/lib/frr"

// startFRR runs FRR's zebra and bgpd in ns, each with its own pid file,
// sockets and config in a directory of the test's, and the given bgpd
// configuration; it returns a vtysh command line for that instance. Both
// are stopped when the test ends; bgpd is returned to be stopped before.
func startFRR(t *testing.T, ns *netnstest.NS, bgpdConf string) (vtysh func(cmd string) string, bgpd *netnstest.Proc) {
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
	bgpd = ns.Start(t, append([]string{filepath.Join(frrDir, "bgpd"), "-f", bconf, "-i", filepath.Join(dir, "bgpd.pid")}, common...)...)
	return func(cmd string) string {
		out, _ := exec.Command("ip", "netns", "exec", ns.Name, "vtysh", "--vty_socket", dir, "-c", cmd).CombinedOutput()
		return string(out)
	}, bgpd
}

// TestE2EEVPNWithFRR: vtepd on host a, FRR and the kernel's vxlan in a
// bridge on host b with advertise-all-vni, iBGP between them and no flood
// list typed anywhere. The session comes up; each side's flood list holds
// the other's endpoint from its type 3 route alone (vtepctl fdb show on
// a, bridge fdb on b, put there by FRR's zebra); pings cross both ways;
// and FRR stopped, vtepd takes b out of its list.
func TestE2EEVPNWithFRR(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	b.ns.Run(t, "ip", "link", "add", "br42", "type", "bridge")
	b.ns.Run(t, "ip", "link", "add", "vx42", "type", "vxlan", "id", vni, "dstport", "4789", "local", b.under, "nolearning")
	b.ns.Run(t, "ip", "link", "set", "vx42", "master", "br42")
	b.ns.Run(t, "ip", "addr", "add", b.over+"/24", "dev", "br42")
	b.ns.Run(t, "ip", "link", "set", "vx42", "up")
	b.ns.Run(t, "ip", "link", "set", "br42", "up")
	vtysh, bgpd := startFRR(t, b.ns, fmt.Sprintf(`hostname frr
router bgp 65000
 bgp router-id %s
 no bgp default ipv4-unicast
 neighbor %s remote-as 65000
 address-family l2vpn evpn
  neighbor %s activate
  advertise-all-vni
 exit-address-family
`, b.under, a.under, a.under))

	a.extra = []string{"--evpn", "--bgp-asn", "65000", "--bgp-neighbor", b.under}
	a.start(t, bin)

	netnstest.WaitFor(t, 60*time.Second, "the BGP session and b in vtepd's flood list", func() bool {
		return hasFDBLine(a.ctl(t, bin, "fdb", "show"), "00:00:00:00:00:00 dev vx42 dst "+b.under+" self permanent")
	})
	netnstest.WaitFor(t, 30*time.Second, "FRR to put a in the kernel's flood list", func() bool {
		return strings.Contains(b.ns.Run(t, "bridge", "fdb", "show", "dev", "vx42"), "00:00:00:00:00:00 dst "+a.under)
	})
	if out := vtysh("show bgp l2vpn evpn route type multicast"); !strings.Contains(out, a.under) {
		t.Errorf("FRR's type 3 routes: got\n%s\nwant vtepd's, %s", out, a.under)
	}
	pingAll(t, a.ns, b.over, 3)
	pingAll(t, b.ns, a.over, 3)

	// FRR gone: vtepd's speaker loses the session and the route with it.
	_ = bgpd.Stop() // its exit status on SIGTERM is FRR's business
	netnstest.WaitFor(t, 30*time.Second, "vtepd to take b out of its flood list", func() bool {
		return !hasFDBLine(a.ctl(t, bin, "fdb", "show"), "00:00:00:00:00:00 dev vx42 dst "+b.under+" self permanent")
	})
}

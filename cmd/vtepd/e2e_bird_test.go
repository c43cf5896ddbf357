//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// birdPath is Debian's bird2 daemon; birdc its client.
const birdPath = "/usr/sbin/bird"

// startBIRD runs BIRD 2 in ns with conf, its control socket in a directory
// of its own, and returns a birdc command line for it. It is stopped when
// the test ends.
func startBIRD(t *testing.T, ns *netnstest.NS, conf string) (birdc func(cmd ...string) string) {
	t.Helper()
	if _, err := os.Stat(birdPath); err != nil {
		t.Skipf("needs BIRD 2 (%s; apt-get install bird2): %v", birdPath, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bird.ctl")
	ns.Start(t, birdPath, "-f", "-c", cfg, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	netnstest.WaitFor(t, 10*time.Second, "BIRD's control socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	return func(cmd ...string) string {
		out, _ := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "birdc", "-s", sock}, cmd...)...).CombinedOutput()
		return string(out)
	}
}

// TestE2EIPIPWithBIRD: Calico's IPIP with BGP. Three vtepd IPIP nodes, node
// N owning the block 10.244.N.0/24 in the pool 10.244.0.0/16 (its TUN has
// 10.244.N.1/16, so the whole pool goes into the tunnel), and one BIRD 2
// node, in a full iBGP mesh in AS 64512, Calico's default. No route is
// typed: each node gets every other's block with the right next hop
// (vtepctl route show, ip route: proto bgp), BIRD has them all, the pods
// reach each other; a node stopped has its block withdrawn everywhere and
// its traffic dropped as no_remote, and comes back when it returns.
func TestE2EIPIPWithBIRD(t *testing.T) {
	bin := buildBinaries(t)
	hub := netnstest.NewNS(t, "bhub")
	nss := []*netnstest.NS{netnstest.NewNS(t, "bn1"), netnstest.NewNS(t, "bn2"), netnstest.NewNS(t, "bn3"), netnstest.NewNS(t, "bird")}
	ports := netnstest.Bridge(t, hub, "br0", netip.MustParsePrefix("10.0.0.0/24"), nss...)
	var nodes []*host
	for i, p := range ports[:3] {
		h := newHost(t, p.Host, p.Addr.Addr().String(), fmt.Sprintf("10.244.%d.1", i+1))
		h.bits = 16
		nodes = append(nodes, h)
	}
	birdNS, birdAddr := ports[3].Host, ports[3].Addr.Addr().String()
	block := func(h *host) string { return strings.TrimSuffix(h.over, ".1") + ".0/24" }

	var conf strings.Builder
	fmt.Fprintf(&conf, "router id %s;\nprotocol device {}\n", birdAddr)
	for i, h := range nodes {
		fmt.Fprintf(&conf, `protocol bgp node%d {
  local %s as 64512;
  neighbor %s as 64512;
  direct;
  ipv4 { import all; export all; };
}
`, i+1, birdAddr, h.under)
	}
	birdc := startBIRD(t, birdNS, conf.String())

	start := func(h *host) {
		args := []string{bin.vtepd, "--mode", "ipip", "--local", h.under, "--name", ipipDev,
			"--addr", h.over + "/16", "--bgp-block", block(h), "--bgp-asn", "64512",
			"--control", h.control, "--log-level", "debug"}
		for _, o := range append(nodes, &host{under: birdAddr}) {
			if o.under != h.under {
				args = append(args, "--bgp-neighbor", o.under)
			}
		}
		h.run(t, bin, ipipDev, args)
	}
	for _, h := range nodes {
		start(h)
	}
	// Every node has the two others' blocks, from BGP.
	wantRoutes := func(h *host, others ...*host) func() bool {
		return func() bool {
			show := routeLines(t, bin, h)
			for _, o := range others {
				if !hasLine(show, block(o)+" via "+o.under+" dev "+ipipDev+" proto bgp") {
					return false
				}
			}
			return len(show) == len(others)
		}
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	netnstest.WaitFor(t, 60*time.Second, "every node to have the others' blocks", func() bool {
		return wantRoutes(n1, n2, n3)() && wantRoutes(n2, n1, n3)() && wantRoutes(n3, n1, n2)()
	})
	if out := n1.ns.Run(t, "ip", "route", "show", block(n3)); !strings.Contains(out, block(n3)+" dev "+ipipDev+" proto bgp") {
		t.Errorf("ip route show %s on %s: got %q, want it into %s, proto bgp", block(n3), n1.under, out, ipipDev)
	}
	netnstest.WaitFor(t, 30*time.Second, "BIRD to have the three blocks", func() bool {
		out := birdc("show", "route")
		for _, h := range nodes {
			if !strings.Contains(out, block(h)) || !strings.Contains(out, "via "+h.under) {
				return false
			}
		}
		return true
	})
	for _, p := range [][2]*host{{n1, n2}, {n2, n3}, {n3, n1}, {n2, n1}} {
		pingAll(t, p[0].ns, p[1].over, 3)
	}
	transfer(t, bin, n1.ns, n3.ns, n3.over, 21)

	// Node 3 stops: its block goes from the others and from BIRD, and what
	// is sent to its pods is dropped as no_remote.
	if err := n3.vtepd.Stop(); err != nil {
		t.Fatalf("vtepd on %s: %v", n3.under, err)
	}
	netnstest.WaitFor(t, 30*time.Second, "node 3's block to be withdrawn", func() bool {
		return wantRoutes(n1, n2)() && wantRoutes(n2, n1)() && !strings.Contains(birdc("show", "route"), block(n3))
	})
	before := statsOf(t, bin, n1, ipipDev).Drops["no_remote"]
	pingNone(t, n1.ns, n3.over, 2, "with node 3 stopped")
	if got := statsOf(t, bin, n1, ipipDev).Drops["no_remote"]; got < before+2 {
		t.Errorf("no_remote drops on %s: got %d, want at least %d", n1.under, got, before+2)
	}
	start(n3)
	netnstest.WaitFor(t, 60*time.Second, "node 3's block back", func() bool {
		return wantRoutes(n1, n2, n3)() && wantRoutes(n3, n1, n2)()
	})
	pingAll(t, n1.ns, n3.over, 3)
}

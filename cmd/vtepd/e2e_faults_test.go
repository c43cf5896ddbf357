//go:build linux

package main

// End-to-end tests of faults around a running vtepd: a peer killed and
// started again, the underlay link going down and up, the TAP or TUN
// deleted under the daemon (--on-device-loss recreate and exit), SIGTERM in
// the middle of traffic, and a second vtepd on a port already taken. Each
// is checked as a user would: ping, a checked transfer, `ip link`, `ss`,
// the daemon's exit status and log. They need root and skip without it;
// select them with -run Fault.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// faultBound is how long traffic may take to flow again after a fault
// heals (the peer is back, the link is up, the device is made again). It
// is generous: the figures measured are logged, and are far below it.
const faultBound = 10 * time.Second

// firstReply pings dst from ns, one request at a time with 100ms for each
// reply, until one is answered or limit has passed. It returns how long
// that took and whether a reply came.
func firstReply(t *testing.T, ns *netnstest.NS, dst string, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	addr := netip.MustParseAddr(dst)
	start := time.Now()
	for time.Since(start) < limit {
		var st netnstest.PingStats
		err := ns.Do(t, func() (err error) {
			st, err = netnstest.Echo(addr, 1, 0, 100*time.Millisecond)
			return err
		})
		if err != nil {
			t.Fatalf("ping %s from %s: %v", dst, ns.Name, err)
		}
		if st.Received > 0 {
			return time.Since(start), true
		}
		if st.SendErr != nil {
			time.Sleep(100 * time.Millisecond) // no route yet: do not spin
		}
	}
	return time.Since(start), false
}

// launch runs vtepd with args in h and waits until ready is up with its
// address and the control socket h.control answers, as host.start does,
// but leaves the daemon's exit status to the test: for a vtepd that is
// meant to fail. args must make it listen on h.control.
func launch(t *testing.T, bin binaries, h *host, ready devAddr, args ...string) *netnstest.Proc {
	t.Helper()
	p := h.ns.Start(t, append([]string{bin.vtepd}, args...)...)
	h.vtepd = p
	exited := false
	netnstest.WaitFor(t, 15*time.Second, fmt.Sprintf("vtepd on %s to bring up %s and its control socket", h.under, ready.dev), func() bool {
		select {
		case <-p.Done():
			exited = true
			return true
		default:
		}
		if !devReady(h.ns, ready) {
			return false
		}
		_, err := h.ns.Try(bin.vtepctl, "--control", h.control, "stats")
		return err == nil
	})
	if exited {
		t.Fatalf("vtepd on %s exited before it was ready: %v\n%s", h.under, p.Stop(), p.Output())
	}
	return p
}

// exitCode is the exit status in a process's wait error: 0 for nil, -1
// when it did not exit by itself (a signal).
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// waitExit waits up to limit for p to exit by itself and returns its exit
// error; it fails t if p is still running then.
func waitExit(t *testing.T, p *netnstest.Proc, limit time.Duration, what string) error {
	t.Helper()
	select {
	case <-p.Done():
		return p.Stop() // only collects the result: the process is gone
	case <-time.After(limit):
		t.Fatalf("vtepd %s: still running after %v, want it to exit\n%s", what, limit, p.Output())
		return nil
	}
}

// tryIfindex is the interface index of dev in ns, 0 if there is none.
func tryIfindex(ns *netnstest.NS, dev string) int {
	out, err := ns.Try("ip", "-j", "link", "show", "dev", dev)
	if err != nil {
		return 0
	}
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if json.Unmarshal([]byte(out), &links) != nil || len(links) != 1 {
		return 0
	}
	return links[0].Ifindex
}

// socketsLeft checks that nothing in ns is bound to the VXLAN port and,
// with all true, that ns has no UDP or raw socket at all: what vtepd's
// sockets would show as, once its own processes are gone.
func socketsLeft(t *testing.T, ns *netnstest.NS, all bool, when string) {
	t.Helper()
	udp := strings.TrimSpace(ns.Run(t, "ss", "-H", "-u", "-a", "-n"))
	raw := strings.TrimSpace(ns.Run(t, "ss", "-H", "-w", "-a", "-n"))
	for _, l := range strings.Split(udp, "\n") {
		if strings.Contains(l, fmt.Sprintf(":%d ", vxlanPort)) {
			t.Errorf("ss -uan in %s %s: got %q, want nothing bound to port %d", ns.Name, when, l, vxlanPort)
		}
	}
	if all && (udp != "" || raw != "") {
		t.Errorf("ss -uan and ss -wan in %s %s: got\n%s\n%s\nwant no UDP or raw socket left", ns.Name, when, udp, raw)
	}
}

// TestE2EFaultPeerRestart kills one of two vtepds with SIGKILL, which
// leaves it no chance to clean up, and starts it again with the same
// flags. The other end is not touched; the restarted peer must be reached
// again within faultBound of its start. Its TAP is a new device, but with
// the MAC of the old one, which the other end's kernel and FDB still hold:
// with a new MAC the other end's kernel would go on sending to the old one
// until its neighbour entry went stale, for up to a minute.
func TestE2EFaultPeerRestart(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 3)
	pidA, oldMAC := a.vtepd.Pid(), showLink(t, b.ns, tapName).Address

	if err := b.vtepd.StopWith(syscall.SIGKILL); exitCode(err) != -1 {
		t.Fatalf("vtepd on %s after SIGKILL: got %v, want it killed", b.under, err)
	}
	// The kernel removes a TAP that is not persistent with its last
	// descriptor, and the process's sockets with the process.
	netnstest.WaitFor(t, 5*time.Second, tapName+" on "+b.under+" to go with its killed vtepd", func() bool {
		return tryIfindex(b.ns, tapName) == 0
	})
	socketsLeft(t, b.ns, true, "after vtepd was killed")

	restart := time.Now()
	b.start(t, bin, a.under)
	ready := time.Since(restart)
	took, ok := firstReply(t, a.ns, b.over, faultBound)
	if !ok {
		t.Fatalf("ping %s from %s after its vtepd restarted: no reply within %v of the restart", b.over, a.under, faultBound)
	}
	t.Logf("restarted vtepd on %s: ready after %v, first reply from %s %v after the restart",
		b.under, ready.Round(time.Millisecond), b.over, (ready + took).Round(time.Millisecond))
	if ready+took > faultBound {
		t.Errorf("first reply after the restart: got %v, want within %v", ready+took, faultBound)
	}
	if got := showLink(t, b.ns, tapName).Address; got != oldMAC {
		t.Errorf("MAC of %s on %s after the restart: got %s, want %s as before", tapName, b.under, got, oldMAC)
	}

	running(t, a, "while its peer restarted")
	if got := a.vtepd.Pid(); got != pidA {
		t.Errorf("vtepd on %s: got pid %d, want the untouched %d", a.under, got, pidA)
	}
	pingAll(t, a.ns, b.over, 5)
	pingAll(t, b.ns, a.over, 5)
	wantFDB(t, bin, a, showLink(t, b.ns, tapName).Address, b.under)
	transfer(t, bin, a.ns, b.ns, b.over, 11)
}

// TestE2EFaultUnderlayDownUp takes one host's underlay link down and up
// again under a running vtepd: while it is down the overlay carries
// nothing and the failed sends are counted; once it is up, traffic flows
// again within faultBound, with the same daemon.
func TestE2EFaultUnderlayDownUp(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 3)
	pidA, before := a.vtepd.Pid(), a.stats(t, bin).Drops["send_error"]

	a.ns.Run(t, "ip", "link", "set", "eth0", "down")
	const pings = 3
	pingNone(t, a.ns, b.over, pings, "with its underlay link down")
	// Each echo request reached vtepd, whose send found no route.
	if got := a.stats(t, bin).Drops["send_error"] - before; got < pings {
		t.Errorf("send_error drops on %s while eth0 was down and it pinged %d times: got %d more, want at least %d", a.under, pings, got, pings)
	}
	running(t, a, "with its underlay link down")

	a.ns.Run(t, "ip", "link", "set", "eth0", "up")
	took, ok := firstReply(t, a.ns, b.over, faultBound)
	if !ok {
		t.Fatalf("ping %s from %s after eth0 came up: no reply within %v", b.over, a.under, faultBound)
	}
	t.Logf("underlay of %s up again: first reply from %s after %v", a.under, b.over, took.Round(time.Millisecond))
	running(t, a, "after its underlay link came up")
	if got := a.vtepd.Pid(); got != pidA {
		t.Errorf("vtepd on %s: got pid %d, want the same %d (no restart)", a.under, got, pidA)
	}
	pingAll(t, a.ns, b.over, 5)
	pingAll(t, b.ns, a.over, 5)
	transfer(t, bin, a.ns, b.ns, b.over, 12)
}

// TestE2EFaultDeviceLoss deletes a network's device under a running vtepd.
// With --on-device-loss recreate (the default) the daemon says so in its
// log, makes the device again with its address and MTU, its static FDB
// entries and, for IPIP, the kernel routes to it, and traffic flows again
// within faultBound, as often as it happens. With --on-device-loss exit it
// exits with status 1 and an error naming the device, leaving nothing
// behind.
func TestE2EFaultDeviceLoss(t *testing.T) {
	bin := buildBinaries(t)

	t.Run("vxlan recreate", func(t *testing.T) {
		a, b := twoHosts(t)
		a.start(t, bin, b.under)
		b.start(t, bin, a.under)
		pingAll(t, a.ns, b.over, 3)
		const staticMAC = "02:00:00:00:5e:01"
		b.ctl(t, bin, "fdb", "add", staticMAC, "dst", a.under, "vni", vni)
		mac := showLink(t, b.ns, tapName).Address
		for round := 1; round <= 2; round++ {
			old := tryIfindex(b.ns, tapName)
			b.ns.Run(t, "ip", "link", "del", tapName)
			gone := time.Now()
			netnstest.WaitFor(t, faultBound, fmt.Sprintf("%s on %s made again (deletion %d)", tapName, b.under, round), func() bool {
				i := tryIfindex(b.ns, tapName)
				return i != 0 && i != old && devReady(b.ns, devAddr{tapName, b.over + "/24"})
			})
			took, ok := firstReply(t, a.ns, b.over, faultBound)
			if !ok {
				t.Fatalf("ping %s from %s after %s was deleted (%d): no reply within %v", b.over, a.under, tapName, round, faultBound)
			}
			t.Logf("deletion %d of %s on %s: made again, first reply %v after the deletion (%v of pinging)",
				round, tapName, b.under, time.Since(gone).Round(time.Millisecond), took.Round(time.Millisecond))
			msg := "device " + tapName + " deleted under vtepd: recreating it"
			if got := strings.Count(b.vtepd.Output(), msg); got != round {
				t.Errorf("log lines %q on %s after deletion %d: got %d, want %d\n%s", msg, b.under, round, got, round, b.vtepd.Output())
			}
			if line := logLine(b.vtepd.Output(), msg); logLevel(line) != "warn" {
				t.Errorf("log line of the deletion on %s: got %q, want one at level warn", b.under, line)
			}
		}
		running(t, b, "after its device was deleted twice")
		if got := showLink(t, b.ns, tapName); got.MTU != 1450 || got.Address != mac {
			t.Errorf("recreated %s: got MTU %d, MAC %s, want 1450 and %s as before", tapName, got.MTU, got.Address, mac)
		}
		show := b.ctl(t, bin, "fdb", "show")
		if want := fmt.Sprintf("%s dev %s dst %s self permanent", staticMAC, tapName, a.under); fdbLine(show, staticMAC) != want {
			t.Errorf("vtepctl fdb show on %s after the device was made again, line for %s: got %q, want %q\n%s",
				b.under, staticMAC, fdbLine(show, staticMAC), want, show)
		}
		if got := networkNames(t, bin, b); !slices.Equal(got, []string{tapName}) {
			t.Errorf("vtepctl network show on %s: got %q, want only %s", b.under, got, tapName)
		}
		pingAll(t, a.ns, b.over, 5)
		pingAll(t, b.ns, a.over, 5)
		transfer(t, bin, a.ns, b.ns, b.over, 13)
	})

	t.Run("ipip recreate", func(t *testing.T) {
		quickRaceExit(t)
		a, b := ipipHosts(t, "10.244.0.1", "10.244.1.1")
		startIPIP(t, bin, a, "--route", "10.244.1.0/24=10.0.0.2")
		startIPIP(t, bin, b, "--route", "10.244.0.0/24=10.0.0.1")
		pingAll(t, a.ns, b.over, 3)
		b.ns.Run(t, "ip", "link", "del", ipipDev)
		gone := time.Now()
		netnstest.WaitFor(t, faultBound, ipipDev+" on "+b.under+" made again with its route", func() bool {
			out, err := b.ns.Try("ip", "route", "show", "10.244.0.0/24")
			return devReady(b.ns, devAddr{ipipDev, b.over + "/24"}) && err == nil && strings.Contains(out, "dev "+ipipDev)
		})
		if _, ok := firstReply(t, a.ns, b.over, faultBound); !ok {
			t.Fatalf("ping %s from %s after %s was deleted: no reply within %v", b.over, a.under, ipipDev, faultBound)
		}
		t.Logf("%s on %s made again: first reply %v after the deletion", ipipDev, b.under, time.Since(gone).Round(time.Millisecond))
		if got := showLink(t, b.ns, ipipDev).MTU; got != 1480 {
			t.Errorf("MTU of the recreated %s: got %d, want 1480 as before", ipipDev, got)
		}
		if !hasLine(routeLines(t, bin, b), "10.244.0.0/24 via 10.0.0.1 dev "+ipipDev+" proto static") {
			t.Errorf("vtepctl route show on %s after %s was made again: got %q, want the route to 10.244.0.0/24", b.under, ipipDev, routeLines(t, bin, b))
		}
		pingAll(t, b.ns, a.over, 5)
		running(t, b, "after its device was deleted")
	})

	t.Run("vxlan exit", func(t *testing.T) {
		a, b := twoHosts(t)
		a.start(t, bin, b.under)
		p := launch(t, bin, b, devAddr{tapName, b.over + "/24"}, "--vni", vni, "--local", b.under,
			"--remote", a.under, "--addr", b.over+"/24", "--control", b.control, "--log-level", "debug",
			"--on-device-loss", "exit")
		pingAll(t, a.ns, b.over, 3)
		b.ns.Run(t, "ip", "link", "del", tapName)
		err := waitExit(t, p, faultBound, "after its device was deleted with --on-device-loss exit")
		if got := exitCode(err); got != 1 {
			t.Errorf("vtepd exit status after %s was deleted: got %d (%v), want 1\n%s", tapName, got, err, p.Output())
		}
		want := `vtepd: network "vx42": device vx42: device deleted while in use`
		if line := logLine(p.Output(), want); !strings.HasPrefix(line, want) || !strings.HasSuffix(line, "exiting (on_device_loss: exit)") {
			t.Errorf("vtepd's error after %s was deleted: got %q, want a line starting %q, ending %q\n%s",
				tapName, line, want, "exiting (on_device_loss: exit)", p.Output())
		}
		noDevice(t, b.ns, tapName, "after vtepd exited")
		if _, err := os.Stat(b.control); !os.IsNotExist(err) {
			t.Errorf("control socket %s after vtepd exited: got stat error %v, want it removed", b.control, err)
		}
		socketsLeft(t, b.ns, true, "after vtepd exited")
		running(t, a, "after its peer exited")
	})
}

// TestE2EFaultSIGTERMDuringTraffic stops vtepd with SIGTERM while a TCP
// transfer and a ping flood cross it: it must exit 0 within the grace
// period and leave no device and no socket behind.
func TestE2EFaultSIGTERMDuringTraffic(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 3)

	addr := b.over + ":" + xferPort
	srv := b.ns.Start(t, bin.tcpxfer, "-listen", addr, "-timeout", "60s")
	netnstest.WaitFor(t, 10*time.Second, "the transfer server to listen", func() bool {
		return strings.Contains(srv.Output(), "listening on")
	})
	// Far more than can cross before the signal: the transfer is still
	// running when it comes.
	cli := a.ns.Start(t, bin.tcpxfer, "-connect", addr, "-bytes", "8GiB", "-timeout", "60s")
	pinger := startPinger(t, a.ns, b.over, time.Millisecond)
	tx := a.stats(t, bin).TxPackets
	netnstest.WaitFor(t, 10*time.Second, "traffic through vtepd on "+a.under, func() bool {
		return a.stats(t, bin).TxPackets > tx+2000 && pinger.received.Load() > 0
	})

	stop := time.Now()
	if err := a.vtepd.StopWith(syscall.SIGTERM); err != nil {
		t.Fatalf("vtepd on %s after SIGTERM during traffic: got %v, want exit status 0\n%s", a.under, err, a.vtepd.Output())
	}
	t.Logf("vtepd on %s stopped %v after SIGTERM in the middle of traffic", a.under, time.Since(stop).Round(time.Millisecond))
	if _, _, err := pinger.halt(); err != nil {
		t.Logf("pinger: %v", err)
	}
	_ = cli.Stop()
	_ = srv.Stop()

	noDevice(t, a.ns, tapName, "after SIGTERM during traffic")
	if _, err := os.Stat(a.control); !os.IsNotExist(err) {
		t.Errorf("control socket %s after SIGTERM: got stat error %v, want it removed", a.control, err)
	}
	socketsLeft(t, a.ns, true, "after SIGTERM during traffic")
	if !strings.Contains(a.vtepd.Output(), "stopped; every device and socket vtepd made is removed") {
		t.Errorf("log of vtepd on %s after SIGTERM: want the line saying it stopped cleanly\n%s", a.under, a.vtepd.Output())
	}
}

// TestE2EFaultSecondVtepd starts a second vtepd on the address and port a
// first one holds: it must fail at once with exit status 1 and an error
// that names the port, create no device, and leave the first one working.
func TestE2EFaultSecondVtepd(t *testing.T) {
	bin := buildBinaries(t)
	quickRaceExit(t)
	a, b := twoHosts(t)
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 3)
	first := tryIfindex(a.ns, tapName)
	// The first vtepd receives on one socket per queue (SO_REUSEPORT).
	held := func() int {
		return strings.Count(a.ns.Run(t, "ss", "-H", "-u", "-a", "-n"), fmt.Sprintf("%s:%d ", a.under, vxlanPort))
	}
	before := held()
	if want := control.DefaultQueues(); before != want {
		t.Fatalf("sockets on %s:%d of the first vtepd: got %d, want one per queue, %d", a.under, vxlanPort, before, want)
	}

	for _, tc := range []struct{ name, dev string }{
		{"another device name", "vxdup"},
		{"the same device name", tapName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "second.sock")
			p := a.ns.Start(t, bin.vtepd, "--vni", vni, "--name", tc.dev, "--local", a.under, "--remote", b.under,
				"--addr", "192.168.43.1/24", "--control", sock)
			err := waitExit(t, p, 10*time.Second, "started on a port in use")
			if got := exitCode(err); got != 1 {
				t.Errorf("second vtepd exit status: got %d (%v), want 1", got, err)
			}
			want := fmt.Sprintf("UDP %s:%d is already in use", a.under, vxlanPort)
			if !strings.Contains(p.Output(), want) {
				t.Errorf("second vtepd's output: got\n%s\nwant an error saying %q", p.Output(), want)
			}
			if tc.dev != tapName {
				noDevice(t, a.ns, tc.dev, "after the second vtepd failed")
			}
			if got := tryIfindex(a.ns, tapName); got != first {
				t.Errorf("%s of the first vtepd after the second failed: got ifindex %d, want %d as before", tapName, got, first)
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("second vtepd's control socket %s: got stat error %v, want none made", sock, err)
			}
			running(t, a, "after a second vtepd failed beside it")
			pingAll(t, a.ns, b.over, 3)
		})
	}
	if got := held(); got != before {
		t.Errorf("sockets on %s:%d after the second vtepd failed: got %d, want the first vtepd's %d", a.under, vxlanPort, got, before)
	}
}

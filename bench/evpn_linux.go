package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/fdb"
)

// frrDir is where Debian's frr package puts its daemons.
const frrDir = "/usr/lib/frr"

// EVPNScaleConfig is one run of the EVPN scale benchmark.
type EVPNScaleConfig struct {
	Hosts   int // vtepd hosts around the route reflector
	MACs    int // MACs host 1 announces for the memory figure
	Vtepd   string
	Vtepctl string
	Timeout time.Duration // for each wait
	Log     func(format string, args ...any)
}

// EVPNScaleResult is what the run measured.
type EVPNScaleResult struct {
	Hosts int `json:"hosts"`
	MACs  int `json:"macs"`
	// ConvergeSeconds is from the first vtepd's start until every host
	// has every other in its flood list and every other's MAC in its FDB.
	ConvergeSeconds float64 `json:"converge_seconds"`
	// MACsSeconds is from the first of MACs frames written into host 1's
	// device until every other host has all of them in its FDB.
	MACsSeconds float64 `json:"macs_seconds"`
	// RSSPer1000MACsKiB is the median growth of the other hosts' vtepd
	// resident memory per 1,000 remote MACs installed.
	RSSPer1000MACsKiB float64 `json:"rss_per_1000_macs_kib"`
	// RSSBaseKiB is the median vtepd resident memory before the MACs.
	RSSBaseKiB float64 `json:"rss_base_kib"`
	Kernel     string  `json:"kernel"`
	CPUs       int     `json:"cpus"`
	FRR        string  `json:"frr"`
}

type evpnHost struct {
	ns    *netns
	addr  string
	sock  string
	vtepd *proc
	cl    *control.Client
}

// RunEVPNScale starts an FRR route reflector and cfg.Hosts vtepd with EVPN
// in namespaces on one bridge, and measures how long they take to know
// each other, then how long cfg.MACs MACs behind host 1 take to reach every
// other host and what they cost in memory there.
func RunEVPNScale(ctx context.Context, cfg EVPNScaleConfig) (res *EVPNScaleResult, err error) {
	if cfg.Hosts < 2 || cfg.Hosts > 250 {
		return nil, fmt.Errorf("hosts: want 2..250, got %d", cfg.Hosts)
	}
	if _, err := os.Stat(filepath.Join(frrDir, "bgpd")); err != nil {
		return nil, fmt.Errorf("needs FRR (apt-get install frr): %w", err)
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res = &EVPNScaleResult{Hosts: cfg.Hosts, MACs: cfg.MACs, CPUs: runtime.NumCPU(), Kernel: kernelRelease()}
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	dir, err := os.MkdirTemp("", "vtepd-evpnscale-")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // FRR runs as frr
		return nil, err
	}

	hub, err := newNetns(ctx, "hub")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = hub.remove() })
	if err := hub.ip(ctx, "link", "add", "br0", "type", "bridge"); err != nil {
		return nil, err
	}
	if err := hub.ip(ctx, "link", "set", "br0", "up"); err != nil {
		return nil, err
	}
	port := func(n *netns, i int, addr string) error {
		p := fmt.Sprintf("p%d", i)
		for _, args := range [][]string{
			{"link", "add", p, "type", "veth", "peer", "name", "eth0", "netns", n.name},
			{"link", "set", p, "master", "br0"},
			{"link", "set", p, "up"},
		} {
			if err := hub.ip(ctx, args...); err != nil {
				return err
			}
		}
		if err := n.ip(ctx, "addr", "add", addr+"/16", "dev", "eth0"); err != nil {
			return err
		}
		return n.ip(ctx, "link", "set", "eth0", "up")
	}

	// The route reflector: FRR's bgpd (and zebra, which bgpd wants) at
	// 10.0.0.254, every host a client.
	rr, err := newNetns(ctx, "rr")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = rr.remove() })
	if err := port(rr, 0, "10.0.0.254"); err != nil {
		return nil, err
	}
	hosts := make([]*evpnHost, cfg.Hosts)
	var conf strings.Builder
	conf.WriteString("hostname rr\nrouter bgp 65000\n bgp router-id 10.0.0.254\n no bgp default ipv4-unicast\n")
	for i := range hosts {
		a := fmt.Sprintf("10.0.%d.%d", (i+1)/250, (i+1)%250+1)
		hosts[i] = &evpnHost{addr: a, sock: filepath.Join(dir, fmt.Sprintf("h%d.sock", i+1))}
		fmt.Fprintf(&conf, " neighbor %s remote-as 65000\n", a)
	}
	conf.WriteString(" address-family l2vpn evpn\n")
	for _, h := range hosts {
		fmt.Fprintf(&conf, "  neighbor %s activate\n  neighbor %s route-reflector-client\n", h.addr, h.addr)
	}
	conf.WriteString(" exit-address-family\n")
	if err := os.WriteFile(filepath.Join(dir, "bgpd.conf"), []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "zebra.conf"), []byte("hostname rr\n"), 0o644); err != nil {
		return nil, err
	}
	common := []string{"-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"), "-P", "0"}
	zebra, err := rr.start(append([]string{filepath.Join(frrDir, "zebra"), "-f", filepath.Join(dir, "zebra.conf"),
		"-i", filepath.Join(dir, "zebra.pid")}, common...)...)
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, zebra.stop)
	if err := pollUntil(ctx, 10*time.Second, "zebra's socket", func() error {
		_, err := os.Stat(filepath.Join(dir, "zserv.api"))
		return err
	}); err != nil {
		return nil, err
	}
	bgpd, err := rr.start(append([]string{filepath.Join(frrDir, "bgpd"), "-f", filepath.Join(dir, "bgpd.conf"),
		"-i", filepath.Join(dir, "bgpd.pid")}, common...)...)
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, bgpd.stop)
	if out, err := exec1(ctx, filepath.Join(frrDir, "bgpd"), "--version"); err == nil {
		res.FRR = strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	}

	for i, h := range hosts {
		if h.ns, err = newNetns(ctx, "h"+strconv.Itoa(i+1)); err != nil {
			return nil, err
		}
		ns := h.ns
		cleanup = append(cleanup, func() { _ = ns.remove() })
		if err := port(h.ns, i+1, h.addr); err != nil {
			return nil, err
		}
		h.cl = control.NewClient(h.sock)
	}
	logf("evpn scale: %d vtepd around FRR (%s)", cfg.Hosts, res.FRR)
	start := time.Now()
	for i, h := range hosts {
		h.vtepd, err = h.ns.start(cfg.Vtepd, "--vni", "42", "--local", h.addr, "--addr", fmt.Sprintf("192.168.%d.%d/16", (i+1)/250, (i+1)%250+1),
			"--evpn", "--bgp-asn", "65000", "--bgp-neighbor", "10.0.0.254", "--control", h.sock, "--log-level", "warn", "--queues", "1")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, h.vtepd.stop)
	}
	// Converged: every host floods to every other and has its MAC.
	want := cfg.Hosts - 1
	if err := pollUntil(ctx, cfg.Timeout, "every host to know every other", func() error {
		for _, h := range hosts {
			if gone, err := h.vtepd.exited(); gone {
				return fmt.Errorf("vtepd on %s exited: %v: %s", h.addr, err, h.vtepd.tail())
			}
			floods, macs, err := h.counts()
			if err != nil {
				return err
			}
			if floods != want || macs != want {
				return fmt.Errorf("%s: %d flood entries and %d MACs, want %d each", h.addr, floods, macs, want)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res.ConvergeSeconds = time.Since(start).Seconds()
	logf("evpn scale: converged in %.2f s", res.ConvergeSeconds)
	if cfg.MACs <= 0 {
		return res, nil
	}

	// MACs: frames from cfg.MACs source MACs written into host 1's device,
	// to host 2's MAC (one copy each, to host 2), make host 1 announce them.
	before := make([]float64, cfg.Hosts)
	for i, h := range hosts[1:] {
		before[i] = rssKiB(h.vtepd.pid())
	}
	dst, err := hosts[0].macOf(hosts[1].addr)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	if err := writeFromMACs(hosts[0].ns.name, "vx42", dst, cfg.MACs); err != nil {
		return nil, err
	}
	want = cfg.Hosts - 1 + cfg.MACs
	if err := pollUntil(ctx, cfg.Timeout, "every host to have host 1's MACs", func() error {
		for _, h := range hosts[1:] {
			_, macs, err := h.counts()
			if err != nil {
				return err
			}
			if macs < want {
				return fmt.Errorf("%s: %d MACs, want %d", h.addr, macs, want)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res.MACsSeconds = time.Since(start).Seconds()
	var grow, base []float64
	for i, h := range hosts[1:] {
		after := rssKiB(h.vtepd.pid())
		base = append(base, before[i])
		grow = append(grow, (after-before[i])*1000/float64(cfg.MACs))
	}
	res.RSSPer1000MACsKiB, _, _ = medianMinMax(grow)
	res.RSSBaseKiB, _, _ = medianMinMax(base)
	logf("evpn scale: %d MACs everywhere in %.2f s, %.0f KiB per 1000 MACs", cfg.MACs, res.MACsSeconds, res.RSSPer1000MACsKiB)
	return res, nil
}

// counts are the flood-list entries and the MACs in h's vx42 FDB.
func (h *evpnHost) counts() (floods, macs int, err error) {
	es, err := h.cl.FDB(42, false)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range es {
		if e.MAC == (fdb.MAC{}).String() {
			floods++
		} else if e.Extern {
			macs++
		}
	}
	return floods, macs, nil
}

// macOf is the MAC h's FDB has at the host whose address is addr.
func (h *evpnHost) macOf(addr string) (fdb.MAC, error) {
	es, err := h.cl.FDB(42, false)
	if err != nil {
		return fdb.MAC{}, err
	}
	for _, e := range es {
		if e.Dst == addr && e.MAC != (fdb.MAC{}).String() {
			return fdb.ParseMAC(e.MAC)
		}
	}
	return fdb.MAC{}, fmt.Errorf("no MAC at %s in the FDB", addr)
}

// writeFromMACs sends n frames to dst through dev in namespace ns, each
// from a source MAC of its own (02:5e:xx:xx:xx:xx), by a packet socket:
// the device's reader, vtepd, sees them as hosts behind it.
func writeFromMACs(ns, dev string, dst fdb.MAC, n int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := vnetns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		return err
	}
	defer func() { _ = vnetns.Set(orig) }()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifi, err := netIfIndex(dev)
	if err != nil {
		return err
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifi, Halen: 6}
	frame := make([]byte, 60)
	copy(frame, dst[:])
	binary.BigEndian.PutUint16(frame[12:], 0x88b5) // IEEE local experimental
	for i := range n {
		src := fdb.MAC{0x02, 0x5e}
		binary.BigEndian.PutUint32(src[2:], uint32(i+1))
		copy(frame[6:], src[:])
		for {
			err := unix.Sendto(fd, frame, 0, sa)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				return fmt.Errorf("sending frame %d: %w", i, err)
			}
			time.Sleep(time.Millisecond)
		}
		if i%500 == 499 {
			time.Sleep(5 * time.Millisecond) // let vtepd's reader keep up
		}
	}
	return nil
}

// netIfIndex is dev's index in the calling thread's namespace (by
// netlink: /sys shows the namespace it was mounted in).
func netIfIndex(dev string) (int, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// rssKiB is a process's resident set (VmRSS), in KiB.
func rssKiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func exec1(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

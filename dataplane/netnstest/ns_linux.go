package netnstest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// underlay is the only range the kit puts on the devices it makes: tests
// talk to addresses inside their own namespaces and nowhere else.
var underlay = netip.MustParsePrefix("10.0.0.0/8")

var (
	probeOnce sync.Once
	probeErr  error

	// nsSeq makes names unique within one test binary; the pid in the name
	// makes them unique across binaries running side by side.
	nsSeq atomic.Uint64

	tagPattern = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
)

// RequireRoot skips t unless the kit can work here: it needs root and a
// working `ip netns`. The probe runs once per test binary.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (run as root: sudo make test)")
	}
	probeOnce.Do(func() {
		if probeErr = probe(); probeErr == nil {
			sweepStale()
		}
	})
	if probeErr != nil {
		t.Skipf("needs a working `ip netns` (iproute2): %v", probeErr)
	}
}

// probe makes and removes one namespace, so that a missing iproute2 or a
// sandbox without namespace support shows as a skip, not as a failure in
// the middle of some unrelated test.
func probe() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return err
	}
	name := fmt.Sprintf("vt-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// staleName matches the names NewNS gives, capturing the creator's pid.
var staleName = regexp.MustCompile(`^vt-[a-z0-9]{1,8}-([0-9]+)-[0-9]+$`)

// sweepStale deletes the namespaces a test binary that no longer runs left
// behind (killed before its cleanups ran): those named as NewNS names them,
// whose pid is gone, with no process inside. It returns their names.
func sweepStale() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var removed []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its test binary still runs
		}
		if pids, err := exec.Command("ip", "netns", "pids", f[0]).Output(); err != nil || strings.TrimSpace(string(pids)) != "" {
			continue
		}
		if exec.Command("ip", "netns", "del", f[0]).Run() == nil {
			removed = append(removed, f[0])
		}
	}
	return removed
}

// NS is a network namespace made by NewNS. Name is what `ip netns` knows it by.
type NS struct {
	Name string

	mu    sync.Mutex
	procs []*Proc
}

// NewNS makes a namespace named "vt-<tag>-<pid>-<n>" with lo up and IPv6
// switched off, and removes it when t ends: first every process started in
// it is stopped, then the namespace is deleted, which takes its devices with
// it. tag is a short label ([a-z0-9], at most 8 characters) that shows in
// `ip netns list` which test a namespace belongs to.
//
// IPv6 is off so that the only frames on the wire are the ones the test
// sends: router solicitations and MLD reports would otherwise be flooded as
// broadcast at random moments and spoil counts of packets. A test that wants
// IPv6 switches it back on with sysctl through Run.
func NewNS(t testing.TB, tag string) *NS {
	t.Helper()
	RequireRoot(t)
	if !tagPattern.MatchString(tag) {
		t.Fatalf("netnstest: namespace tag %q: want 1 to 8 characters of [a-z0-9]", tag)
	}
	n := &NS{Name: fmt.Sprintf("vt-%s-%d-%d", tag, os.Getpid(), nsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	t.Cleanup(func() {
		if err := n.remove(); err != nil {
			t.Errorf("netnstest: removing %s: %v", n.Name, err)
		}
	})
	err := n.Do(t, func() error {
		for _, dev := range []string{"all", "default", "lo"} {
			// Opened from inside n, /proc/sys/net is n's.
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6", []byte("1"), 0)
			if err != nil && !errors.Is(err, fs.ErrNotExist) { // no IPv6 in this kernel: nothing to quiet
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("netnstest: switch IPv6 off in %s: %v", n.Name, err)
	}
	n.Run(t, "ip", "link", "set", "lo", "up")
	return n
}

// remove stops what runs in n and deletes it. Processes the kit started are
// stopped politely first; anything else still inside (a child one of them
// left behind) is killed by pid, since a namespace with a live process would
// outlive its name and keep its devices.
func (n *NS) remove() error {
	n.mu.Lock()
	procs := n.procs
	n.procs = nil
	n.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = procs[i].Stop()
	}
	if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == os.Getpid() {
				continue
			}
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Try runs args inside n (`ip netns exec NAME args...`) and returns the
// combined output.
func (n *NS) Try(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("netnstest: Try: no command")
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %w", n.Name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Run is Try that fails t, with the output, when the command fails.
func (n *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Try(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// Do runs f on an OS thread that has entered n, so sockets f opens belong
// to n and keep belonging to it after Do returns. Goroutines f starts run
// elsewhere, in the test's own namespace. Do returns f's error; a panic in
// f is raised again in the caller.
//
// The thread goes back to its namespace afterwards; if that fails it is
// left locked, so the runtime retires it rather than lending it to another
// goroutine in the wrong namespace.
func (n *NS) Do(t testing.TB, f func() error) error {
	t.Helper()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		t.Fatalf("netnstest: open %s: %v", n.Name, err)
	}
	defer target.Close()

	type result struct {
		err      error
		setupErr error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			r.setupErr = fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			r.setupErr = fmt.Errorf("enter %s: %w", n.Name, err)
			return
		}
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.panicked, r.panicVal = true, v
				}
			}()
			r.err = f()
		}()
		if err := netns.Set(orig); err != nil {
			r.setupErr = fmt.Errorf("leave %s: %w", n.Name, err)
			return // still locked: the thread exits with this goroutine
		}
		runtime.UnlockOSThread()
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	if r.setupErr != nil {
		t.Fatalf("netnstest: %v", r.setupErr)
	}
	return r.err
}

// Veth joins a and b with a veth pair, aIf in a and bIf in b, gives each
// end its address (CIDR, inside 10.0.0.0/8; empty for none) and sets both
// up. The pair goes away with either namespace.
func Veth(t testing.TB, a *NS, aIf, aAddr string, b *NS, bIf, bAddr string) {
	t.Helper()
	for _, addr := range []string{aAddr, bAddr} {
		if err := checkUnderlay(addr); err != nil {
			t.Fatalf("netnstest: Veth: %v", err)
		}
	}
	ipRun(t, "-n", a.Name, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	for _, end := range []struct {
		ns        *NS
		dev, addr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if end.addr != "" {
			ipRun(t, "-n", end.ns.Name, "addr", "add", end.addr, "dev", end.dev)
		}
		ipRun(t, "-n", end.ns.Name, "link", "set", end.dev, "up")
	}
}

// Port is one host's attachment to a Bridge.
type Port struct {
	Host *NS
	Dev  string       // the host's end of the veth, always "eth0"
	Addr netip.Prefix // the host's address on the bridged segment
}

// Bridge builds a shared segment for topologies of more than two hosts: a
// bridge named name in hub, and one veth per host whose hub end
// ("<name>-<i>") is a bridge port and whose host end is eth0. Host i (from
// 0) gets address i+1 of subnet, which must lie inside 10.0.0.0/8: with
// subnet 10.0.0.0/24 the hosts are 10.0.0.1, 10.0.0.2, 10.0.0.3, ...
func Bridge(t testing.TB, hub *NS, name string, subnet netip.Prefix, hosts ...*NS) []Port {
	t.Helper()
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || !underlay.Contains(subnet.Addr()) || subnet.Bits() < underlay.Bits() {
		t.Fatalf("netnstest: Bridge: subnet %v: want an IPv4 prefix inside %v", subnet, underlay)
	}
	ipRun(t, "-n", hub.Name, "link", "add", name, "type", "bridge")
	ipRun(t, "-n", hub.Name, "link", "set", name, "up")
	ports := make([]Port, 0, len(hosts))
	addr := subnet.Addr()
	for i, h := range hosts {
		addr = addr.Next()
		if !subnet.Contains(addr) {
			t.Fatalf("netnstest: Bridge: subnet %v has no room for %d hosts", subnet, len(hosts))
		}
		hubDev := fmt.Sprintf("%s-%d", name, i+1)
		p := Port{Host: h, Dev: "eth0", Addr: netip.PrefixFrom(addr, subnet.Bits())}
		Veth(t, hub, hubDev, "", h, p.Dev, p.Addr.String())
		ipRun(t, "-n", hub.Name, "link", "set", hubDev, "master", name)
		ports = append(ports, p)
	}
	return ports
}

// WaitFor polls cond, quickly at first and then every 200ms, until it holds,
// and fails t naming what it waited for when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func checkUnderlay(cidr string) error {
	if cidr == "" {
		return nil
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("address %q: want CIDR such as 10.0.0.1/24: %v", cidr, err)
	}
	if !underlay.Contains(p.Addr()) {
		return fmt.Errorf("address %q: want an address inside %v", cidr, underlay)
	}
	return nil
}

func ipRun(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

package labs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// labTimeout bounds one lab; each takes a few seconds.
const labTimeout = 2 * time.Minute

// run is one finished run of a lab script.
type run struct {
	lab  string // like "03", for messages
	pid  int    // the script's pid, the suffix of its namespaces
	out  string // stdout and stderr as one stream, as a learner sees them
	code int    // exit status
}

// ns is the name of one of the run's namespaces, like ns("a") for lab 03's
// lab03-a-<pid>.
func (r *run) ns(base string) string { return fmt.Sprintf("lab%s-%s-%d", r.lab, base, r.pid) }

// block returns the output of the n-th (from 1) command whose "+ ..." line
// matches cmd: the lines after it up to the next command, step heading,
// explanation or check.
func (r *run) block(t *testing.T, cmd string, n int) []string {
	t.Helper()
	re := regexp.MustCompile(cmd)
	lines := strings.Split(r.out, "\n")
	seen := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "+ ") || !re.MatchString(l[2:]) {
			continue
		}
		if seen++; seen < n {
			continue
		}
		var out []string
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "+ ") || strings.HasPrefix(l, "== ") || strings.HasPrefix(l, "ok: ") || explainLine.MatchString(l) {
				break
			}
			out = append(out, l)
		}
		return out
	}
	t.Fatalf("lab %s: got %d commands matching %q, want at least %d; output:\n%s", r.lab, seen, cmd, n, r.out)
	return nil
}

var (
	explainLine = regexp.MustCompile(`^   \S`)
	macRE       = regexp.MustCompile(`\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b`)
)

// hasLine reports whether one of lines matches the regular expression re.
func hasLine(lines []string, re string) bool {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return true
		}
	}
	return false
}

// wantLine fails unless the output of the n-th command matching cmd has a
// line matching re.
func (r *run) wantLine(t *testing.T, cmd string, n int, re string) {
	t.Helper()
	if b := r.block(t, cmd, n); !hasLine(b, re) {
		t.Errorf("lab %s, output of %q (#%d): got\n%s\nwant a line matching %q", r.lab, cmd, n, strings.Join(b, "\n"), re)
	}
}

// noLine fails if the output of the n-th command matching cmd has a line
// matching re.
func (r *run) noLine(t *testing.T, cmd string, n int, re string) {
	t.Helper()
	if b := r.block(t, cmd, n); hasLine(b, re) {
		t.Errorf("lab %s, output of %q (#%d): got\n%s\nwant no line matching %q", r.lab, cmd, n, strings.Join(b, "\n"), re)
	}
}

// mac returns the first MAC address in the output of the n-th command
// matching cmd (ip link and ip -br link print the device's own first).
func (r *run) mac(t *testing.T, cmd string, n int) string {
	t.Helper()
	b := r.block(t, cmd, n)
	m := macRE.FindString(strings.Join(b, "\n"))
	if m == "" {
		t.Fatalf("lab %s, output of %q (#%d): got\n%s\nwant a MAC address", r.lab, cmd, n, strings.Join(b, "\n"))
	}
	return m
}

// number returns the integer after word in the first line of the n-th
// command's output that starts with section and the first after it that
// holds word, as in vtepctl stats ("vx43:" ... "RX: packets 0").
func (r *run) number(t *testing.T, cmd string, n int, section, word string) int {
	t.Helper()
	b := r.block(t, cmd, n)
	in := false
	for _, l := range b {
		if !strings.HasPrefix(l, " ") {
			in = strings.HasPrefix(l, section)
		}
		if !in {
			continue
		}
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == word {
				v, err := strconv.Atoi(f[i+1])
				if err != nil {
					t.Fatalf("lab %s, %q in %q: got %q, want a number", r.lab, word, l, f[i+1])
				}
				return v
			}
		}
	}
	t.Fatalf("lab %s, output of %q (#%d): got\n%s\nwant %q under %q", r.lab, cmd, n, strings.Join(b, "\n"), word, section)
	return 0
}

// pingCmd matches the lab's ping from namespace ns to addr.
func pingCmd(ns, addr string) string {
	return "ip netns exec " + ns + " ping -c 3 .* " + regexp.QuoteMeta(addr) + "$"
}

// ping fails unless the n-th ping from ns to addr got every answer, at
// least the three it asks for. ping -c 3 -w 5 sends on until three answers
// are in, so a first answer that is slow to come (an ARP request lost
// while other tests load the machine and the kernel retrying it a second
// later) makes it send four or five, all answered.
func (r *run) ping(t *testing.T, ns, addr string, n int) {
	t.Helper()
	r.wantLine(t, pingCmd(ns, addr), n, `, ([3-9]|[1-9][0-9]+) received, 0% packet loss`)
}

var (
	buildOnce            sync.Once
	binDir               string
	builtVtepd, builtCtl string
	buildErr             error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds vtepd and vtepctl from the repository, once for all
// tests, into a temporary directory.
func binaries(t *testing.T) (vtepd, vtepctl string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vtepd-labs-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/vtepd", "./cmd/vtepctl")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vtepd ./cmd/vtepctl: %v\n%s", err, out)
			return
		}
		builtVtepd, builtCtl = filepath.Join(dir, "vtepd"), filepath.Join(dir, "vtepctl")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtVtepd, builtCtl
}

// requireLab skips the test unless the labs can run here.
func requireLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the labs create network namespaces: run the tests as root")
	}
	for _, tool := range []string{"bash", "ip", "bridge", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the labs need %s, not found in PATH (ping: apt-get install iputils-ping)", tool)
		}
	}
}

// runScript runs a script of this directory with extra environment and
// returns what it printed and its exit status. A script still running at
// the timeout gets SIGTERM, on which it cleans up.
func runScript(t *testing.T, lab string, env []string, prefix []string, script string, args ...string) *run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labTimeout)
	defer cancel()
	argv := append(append(append([]string{}, prefix...), "./"+script), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	r := &run{lab: lab, out: out.String()}
	if cmd.Process != nil {
		r.pid = cmd.Process.Pid
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v\n%s", script, err, r.out)
	}
	if ctx.Err() != nil {
		t.Errorf("%s: still running after %v; output:\n%s", script, labTimeout, r.out)
	}
	t.Cleanup(func() { removeLeftovers(t, r) })
	return r
}

// leftovers lists the namespaces of a lab run still present: those the
// output names, and any lab namespace with the run's pid as suffix.
func leftovers(t *testing.T, r *run) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	named := map[string]bool{}
	for _, n := range regexp.MustCompile(`\blab0\d-[a-z0-9-]+-\d+\b`).FindAllString(r.out, -1) {
		named[n] = true
	}
	ours := regexp.MustCompile(fmt.Sprintf(`^lab\d\d-[a-z0-9-]+-%d$`, r.pid))
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (named[f[0]] || ours.MatchString(f[0])) {
			left = append(left, f[0])
		}
	}
	return left
}

// removeLeftovers deletes what a failed lab left, so that one failure does
// not leave namespaces on the machine.
func removeLeftovers(t *testing.T, r *run) {
	for _, n := range leftovers(t, r) {
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
}

// wantClean fails if the run left a namespace or a vtepd behind.
func wantClean(t *testing.T, r *run, vtepd string) {
	t.Helper()
	if left := leftovers(t, r); len(left) > 0 {
		t.Errorf("lab %s: namespaces left after it exited: got %v, want none", r.lab, left)
	}
	if pids := running(t, vtepd); len(pids) > 0 {
		t.Errorf("lab %s: got vtepd still running as pids %v after it exited, want none", r.lab, pids)
	}
}

// running lists the processes executing the binary at path.
func running(t *testing.T, path string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil && exe == path {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestLabs(t *testing.T) {
	requireLab(t)
	for _, tool := range []string{"tcpdump", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the checks read what %s saw: apt-get install tcpdump tshark", tool)
		}
	}
	vtepd, vtepctl := binaries(t)
	env := []string{"VTEPD=" + vtepd, "VTEPCTL=" + vtepctl}

	for _, tc := range []struct {
		script string
		ns     []string // the namespaces it makes, in order, without prefix and pid
		check  func(t *testing.T, r *run)
	}{
		{"01-veth.sh", []string{"red", "blue"}, func(t *testing.T, r *run) {
			red, blue := r.ns("red"), r.ns("blue")
			redLink := "ip netns exec " + red + " ip link show eth0$"
			blueLink := "ip netns exec " + blue + " ip link show eth0$"
			peer := regexp.MustCompile(`^\d+: eth0@if(\d+):`).FindStringSubmatch(strings.Join(r.block(t, redLink, 1), "\n"))
			index := regexp.MustCompile(`^(\d+): eth0@if\d+:`).FindStringSubmatch(strings.Join(r.block(t, blueLink, 1), "\n"))
			if peer == nil || index == nil || peer[1] != index[1] {
				t.Errorf("peer ifindex of %s's eth0 (eth0@ifN): got %v, want the ifindex of %s's eth0, %v", red, peer, blue, index)
			}
			neigh := "ip netns exec " + red + " ip neigh show dev eth0"
			if b := r.block(t, neigh, 1); hasLine(b, `\S`) {
				t.Errorf("%s's neighbours before the ping: got %q, want none", red, b)
			}
			r.ping(t, red, "10.0.1.2", 1)
			r.wantLine(t, neigh, 2, `^10\.0\.1\.2 lladdr `+r.mac(t, blueLink, 1)+` `)
			r.wantLine(t, redLink, 2, `NO-CARRIER`)
			if err := exec.Command("ip", "link", "show", fmt.Sprintf("vred-%d", r.pid)).Run(); err == nil {
				t.Errorf("vred-%d still in the root namespace after the lab, want it gone", r.pid)
			}
		}},
		{"02-bridge.sh", []string{"host", "c1", "c2"}, func(t *testing.T, r *run) {
			host := r.ns("host")
			m := regexp.MustCompile(`(?m)^eth0 of \S+ is (\S+), eth0 of \S+ is (\S+)$`).FindStringSubmatch(r.out)
			if m == nil {
				t.Fatalf("got no line naming the containers' MACs, want one; output:\n%s", r.out)
			}
			c1, c2 := m[1], m[2]
			r.wantLine(t, "ip netns exec "+host+" bridge link show", 1, `^\d+: veth1@br0: .* master br0 state forwarding`)
			r.wantLine(t, "ip netns exec "+host+" bridge link show", 1, `^\d+: veth2@br0: .* master br0 state forwarding`)
			fdb := "ip netns exec " + host + " bridge fdb show br br0"
			r.noLine(t, fdb, 1, `^(`+c1+`|`+c2+`) `)
			r.ping(t, r.ns("c1"), "10.0.2.12", 1)
			r.wantLine(t, fdb, 2, `^`+c1+` dev veth1 master br0\s*$`)
			r.wantLine(t, fdb, 2, `^`+c2+` dev veth2 master br0\s*$`)
			r.ping(t, r.ns("c1"), "10.0.2.1", 1)
			r.wantLine(t, "ip netns exec "+host+" ip neigh show dev br0", 1, `^10\.0\.2\.11 lladdr `+c1+` `)
		}},
		{"03-vxlan-unicast.sh", []string{"a", "b"}, func(t *testing.T, r *run) {
			a, b := r.ns("a"), r.ns("b")
			fdbA := `/a\.sock fdb show$`
			bLink := "ip netns exec " + b + " ip -br link show vx42"
			vtepdB := r.mac(t, bLink, 1)
			if got := r.block(t, fdbA, 1); strings.Join(got, "\n") != "00:00:00:00:00:00 dev vx42 dst 10.0.0.2 self permanent" {
				t.Errorf("vtepctl fdb show on %s before the ping: got %q, want only the flood entry to 10.0.0.2", a, got)
			}
			// Predict, then ping: the what-if floods before, hits after.
			sim := `/a\.sock trace --simulate dst ` + vtepdB + ` to 192\.168\.42\.2$`
			r.wantLine(t, sim, 1, `^  lookup: unknown unicast: flood to 10\.0\.0\.2$`)
			r.wantLine(t, sim, 1, `^  encap: VXLAN vni 42, 10\.0\.0\.1:\d+ > 10\.0\.0\.2:4789, \d+ bytes$`)
			r.ping(t, a, "192.168.42.2", 1)
			// The traffic on the wire, in vtepd, and in the capture file.
			wire := `cat .*/wire\.txt$`
			r.wantLine(t, wire, 1, `^[0-9:.]+ IP 10\.0\.0\.1\.\d+ > 10\.0\.0\.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 42$`)
			r.wantLine(t, wire, 1, `^IP 192\.168\.42\.1 > 192\.168\.42\.2: ICMP echo request`)
			r.wantLine(t, `cat .*/ping\.trace$`, 1, `^    fdb hit: `+vtepdB+` is behind 10\.0\.0\.2$`)
			r.wantLine(t, `tshark -r .*/ping\.pcap$`, 1, `192\.168\.42\.1 → 192\.168\.42\.2 +ICMP .*Echo \(ping\) request`)
			r.wantLine(t, fdbA, 2, `^`+vtepdB+` dev vx42 dst 10\.0\.0\.2 self$`)
			r.wantLine(t, sim, 2, `^  lookup: hit, `+vtepdB+` dst 10\.0\.0\.2, learnt$`)
			stats := `/a\.sock stats$`
			if got := r.number(t, stats, 1, "vx42:", "learnt"); got != 1 {
				t.Errorf("learnt on %s's vx42: got %d, want 1 (%s's MAC)", a, got, b)
			}
			if got := r.number(t, stats, 1, "vx42:", "flooded"); got < 1 {
				t.Errorf("flooded on %s's vx42: got %d, want at least 1 (the ARP request)", a, got)
			}
			// The packet explained from the live daemon: its VNI, the MAC it
			// learnt, and the source port the echo requests had on the wire.
			explained := `/a\.sock explain --network vx42 --to 192\.168\.42\.2$`
			r.wantLine(t, explained, 1, `^32-34\s+00 00 2a\s+VXLAN\s+VNI\s+42\b`)
			r.wantLine(t, explained, 1, `^36-41\s+[0-9a-f ]+\s+inner Ethernet\s+destination MAC\s+`+vtepdB+`$`)
			port := regexp.MustCompile(`source port\s+(\d+) `).FindStringSubmatch(strings.Join(r.block(t, explained, 1), "\n"))
			if port == nil {
				t.Fatalf("explain --network vx42: no source port line")
			}
			r.wantLine(t, wire, 1, `^[0-9:.]+ IP 10\.0\.0\.1\.`+port[1]+` > 10\.0\.0\.2\.4789: VXLAN`)

			// The kernel's vxlan at both ends.
			kernelB := r.mac(t, bLink, 2)
			kfdbA := "ip netns exec " + a + " bridge fdb show dev vx42"
			r.wantLine(t, "ip netns exec "+a+" ip -d link show vx42", 1, `vxlan id 42 remote 10\.0\.0\.2 local 10\.0\.0\.1 dev eth0 .*dstport 4789`)
			if got := r.block(t, kfdbA, 1); len(got) != 1 || !strings.HasPrefix(got[0], "00:00:00:00:00:00 dst 10.0.0.2 ") {
				t.Errorf("bridge fdb show dev vx42 on %s before the ping: got %q, want only the flood entry to 10.0.0.2", a, got)
			}
			r.ping(t, a, "192.168.42.2", 2)
			r.wantLine(t, kfdbA, 2, `^`+kernelB+` dst 10\.0\.0\.2 self`)

			// vtepd on a, the kernel on b.
			vtepdA := r.mac(t, "ip netns exec "+a+" ip -br link show vx42", 1)
			kernelB = r.mac(t, bLink, 3)
			r.ping(t, a, "192.168.42.2", 3)
			r.ping(t, b, "192.168.42.1", 1)
			r.wantLine(t, `/a2\.sock fdb show$`, 1, `^`+kernelB+` dev vx42 dst 10\.0\.0\.2 self$`)
			r.wantLine(t, "ip netns exec "+b+" bridge fdb show dev vx42", 1, `^`+vtepdA+` dst 10\.0\.0\.1 self`)
		}},
		{"04-vxlan-multicast.sh", []string{"hub", "h1", "h2", "h3"}, func(t *testing.T, r *run) {
			h1, h2, h3 := r.ns("h1"), r.ns("h2"), r.ns("h3")
			r.wantLine(t, "ip netns exec "+h1+" ip maddr show dev eth0", 1, `^\s+inet\s+239\.1\.1\.1$`)
			r.wantLine(t, "ip netns exec "+h1+" ip maddr show dev eth0", 1, `^\s+link\s+01:00:5e:01:01:01$`)
			// On the wire: the join, and the flood to the group with TTL 1;
			// host 3's trace shows the unknown_vni drop.
			r.wantLine(t, `cat .*/join\.txt$`, 1, `10\.0\.0\.1 > 224\.0\.0\.22: igmp v3 report, .*\[gaddr 239\.1\.1\.1 to_ex`)
			r.wantLine(t, `cat .*/group\.txt$`, 1, `^[0-9:.]+ IP \(tos 0x0, ttl 1, `)
			r.wantLine(t, `cat .*/group\.txt$`, 1, `^\s+10\.0\.0\.1\.\d+ > 239\.1\.1\.1\.4789: VXLAN, flags \[I\] \(0x08\), vni 42$`)
			r.wantLine(t, `cat .*/h3\.trace$`, 1, `^\s+DROPPED at socket-in, unknown_vni: no network here serves its VNI$`)
			fields := `tshark -r .*/h1\.pcap -T fields -e ip\.dst -e ip\.ttl -e vxlan\.vni -e arp\.opcode$`
			r.wantLine(t, fields, 1, `^239\.1\.1\.1\t1\t42\t1$`)
			r.wantLine(t, fields, 1, `^10\.0\.0\.1\t\d+\t42\t2$`)
			fdb1 := `/v1\.sock fdb show$`
			if got := r.block(t, fdb1, 1); strings.Join(got, "\n") != "00:00:00:00:00:00 dev vx42 dst 239.1.1.1 self permanent" {
				t.Errorf("vtepctl fdb show on %s before the ping: got %q, want only the flood entry to the group", h1, got)
			}
			h2Link := "ip netns exec " + h2 + " ip -br link show vx42"
			r.ping(t, h1, "192.168.42.2", 1)
			r.wantLine(t, fdb1, 2, `^`+r.mac(t, h2Link, 1)+` dev vx42 dst 10\.0\.0\.2 self$`)
			stats3 := `/v3\.sock stats$`
			if got := r.number(t, stats3, 1, "underlay:", "unknown_vni"); got < 1 {
				t.Errorf("unknown_vni drops on %s (VNI 43): got %d, want at least 1 (the ARP request of VNI 42)", h3, got)
			}
			if got := r.number(t, stats3, 1, "vx43:", "packets"); got != 0 {
				t.Errorf("RX packets of vx43 on %s: got %d, want 0", h3, got)
			}

			// The kernel's vxlan in group mode.
			kfdb1 := "ip netns exec " + h1 + " bridge fdb show dev vx42"
			r.wantLine(t, kfdb1, 1, `^00:00:00:00:00:00 dst 239\.1\.1\.1 .*permanent`)
			r.ping(t, h1, "192.168.42.2", 2)
			r.wantLine(t, kfdb1, 2, `^`+r.mac(t, h2Link, 2)+` dst 10\.0\.0\.2 self`)
			vx43 := r.block(t, "ip netns exec "+h3+" ip -s link show vx43", 1)
			for i, l := range vx43 {
				if strings.HasPrefix(strings.TrimSpace(l), "RX:") && i+1 < len(vx43) {
					if f := strings.Fields(vx43[i+1]); len(f) < 2 || f[1] != "0" {
						t.Errorf("RX packets of the kernel's vx43 on %s: got %q, want 0", h3, vx43[i+1])
					}
				}
			}
		}},
		{"05-ipip.sh", []string{"hub", "a", "b", "pod-a", "pod-b", "bird"}, func(t *testing.T, r *run) {
			a, podA := r.ns("a"), r.ns("pod-a")
			r.wantLine(t, "ip netns exec "+a+" ip link show ipip0", 1, ` mtu 1480 `)
			r.wantLine(t, "ip netns exec "+a+" ip link show ipip0", 1, `link/none`)
			r.wantLine(t, "ip netns exec "+a+" ip route$", 1, `^10\.244\.1\.0/24 dev ipip0`)
			r.wantLine(t, `/a\.sock route show$`, 1, `^10\.244\.1\.0/24 via 10\.0\.0\.2 dev ipip0 proto static$`)
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^[0-9:.]+ IP \(.*proto IPIP \(4\), length 104\)$`)
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^\s+10\.0\.0\.1 > 10\.0\.0\.2: IP \(.*proto ICMP \(1\), length 84\)$`)
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^\s+10\.244\.0\.1 > 10\.244\.1\.1: ICMP echo request`)
			r.wantLine(t, `cat .*/ping\.trace$`, 1, `^    route 10\.244\.1\.0/24: 10\.244\.1\.1 via 10\.0\.0\.2$`)
			r.wantLine(t, `tshark -r .*/ping\.pcap -T fields -e ip\.src -e ip\.dst -e ip\.proto$`, 1,
				`^10\.0\.0\.1,10\.244\.0\.1\t10\.0\.0\.2,10\.244\.1\.1\t4,1$`)
			explained := `/a\.sock explain --network ipip0 --to 10\.244\.1\.1$`
			r.wantLine(t, explained, 1, `^9\s+04\s+outer IPv4\s+protocol\s+4 \(IPIP\)$`)
			r.wantLine(t, explained, 1, `^16-19\s+0a 00 00 02\s+outer IPv4\s+destination\s+10\.0\.0\.2$`)
			r.wantLine(t, explained, 1, `^36-39\s+0a f4 01 01\s+inner IPv4\s+destination\s+10\.244\.1\.1$`)
			r.wantLine(t, `/a\.sock trace --simulate dst 10\.244\.1\.10$`, 1, `^  encap: IPIP 10\.0\.0\.1 > 10\.0\.0\.2, \d+ bytes$`)
			r.wantLine(t, `/a\.sock trace --simulate dst 10\.244\.7\.1$`, 1, `^  verdict: dropped as no_remote: no route of ipip0 holds 10\.244\.7\.1$`)
			r.ping(t, a, "10.244.1.1", 1)
			r.ping(t, podA, "10.244.1.10", 1)
			r.wantLine(t, pingCmd(podA, "10.244.1.10"), 1, `ttl=62 `)
			cali := r.mac(t, "ip netns exec "+a+" ip -br link show cali0", 1)
			if cali != "ee:ee:ee:ee:ee:ee" {
				t.Errorf("cali0's MAC: got %s, want Calico's ee:ee:ee:ee:ee:ee", cali)
			}
			r.wantLine(t, "ip netns exec "+podA+" ip neigh$", 1, `^169\.254\.1\.1 dev eth0 lladdr `+cali+` `)
			if got := r.number(t, `/b\.sock stats$`, 1, "ipip0:", "packets"); got < 6 {
				t.Errorf("RX packets of ipip0 on %s: got %d, want at least 6 (3 pings from the host, 3 from the pod)", r.ns("b"), got)
			}
			// Calico's route shape on vtepd's TUN.
			r.wantLine(t, "ip netns exec "+a+" ip route show 10.244.1.0/24$", 1, `^10\.244\.1\.0/24 via 10\.0\.0\.2 dev ipip0 onlink`)
			r.wantLine(t, "ip netns exec "+a+" ip route get 10.244.1.10$", 1, `^10\.244\.1\.10 via 10\.0\.0\.2 dev ipip0 src 10\.244\.0\.1 `)
			r.ping(t, podA, "10.244.1.10", 2)
			// The BGP part: BIRD reflects each host's block to the other.
			r.wantLine(t, `birdc -s .* show route$`, 1, `^10\.244\.0\.0/24 +unicast \[a `)
			r.wantLine(t, `birdc -s .* show route$`, 1, `^10\.244\.1\.0/24 +unicast \[b `)
			r.wantLine(t, `/a\.sock route show$`, 2, `^10\.244\.1\.0/24 via 10\.0\.0\.2 dev ipip0 proto bgp$`)
			r.wantLine(t, "ip netns exec "+a+" ip route$", 3, `^10\.244\.1\.0/24 dev ipip0 proto bgp`)
			r.ping(t, podA, "10.244.1.10", 3)
			probe := r.block(t, "type ipip local 10.0.0.1 remote 10.0.0.2$", 1)
			if hasLine(probe, `^Error: Unknown device type`) {
				if !strings.Contains(r.out, "This kernel has no ipip driver") {
					t.Errorf("no ipip driver: got no line saying so, want one; output:\n%s", r.out)
				}
				return
			}
			r.ping(t, podA, "10.244.1.10", 4)
		}},
		{"07-vxlan-bridge.sh", []string{"a", "b", "c1", "c2"}, func(t *testing.T, r *run) {
			c1, c2 := r.ns("c1"), r.ns("c2")
			r.wantLine(t, "bridge link show$", 1, `vx42: .* mtu 1450 master br0 state forwarding`)
			r.ping(t, c1, "10.20.0.12", 1)
			c2MAC := r.mac(t, "ip netns exec "+c2+" ip -br link show eth0$", 1)
			// The containers' own frame inside the VXLAN packet, in tcpdump,
			// vtepd's trace and the capture.
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^`+macRE.String()+` > `+c2MAC+`, ethertype IPv4 .*10\.20\.0\.11 > 10\.20\.0\.12: ICMP echo request`)
			r.wantLine(t, `cat .*/ping\.trace$`, 1, `^    fdb hit: `+c2MAC+` is behind 10\.0\.0\.2$`)
			r.wantLine(t, `tshark -r .*/ping\.pcap$`, 1, `10\.20\.0\.11 → 10\.20\.0\.12 +ICMP .*Echo \(ping\) request`)
			r.wantLine(t, "bridge fdb show br br0 dynamic$", 1, `^`+c2MAC+` dev vx42 master br0`)
			r.wantLine(t, `/a\.sock fdb show$`, 1, `^`+c2MAC+` dev vx42 dst 10\.0\.0\.2 self$`)
			// The trap: lost, with vtepd none the wiser; the fix.
			r.wantLine(t, "ping -c 2 -W 1 -M do -s 1472 10.20.0.12$", 1, `, 0 received, 100% packet loss`)
			r.wantLine(t, "ping -c 2 -W 1 -M do -s 1472 10.20.0.12$", 2, `message too long, mtu=1450`)
			r.wantLine(t, "ping -c 2 -M do -s 1422 10.20.0.12$", 1, `, 2 received, 0% packet loss`)
		}},
		{"08-flannel.sh", []string{"a", "b", "pod-a", "pod-b"}, func(t *testing.T, r *run) {
			a, podA := r.ns("a"), r.ns("pod-a")
			get := "ip netns exec " + a + " ip route get 10.244.2.2$"
			r.wantLine(t, get, 1, `^10\.244\.2\.2 via 10\.244\.2\.0 dev flannel\.1 src 10\.244\.1\.0 `)
			r.wantLine(t, `/a\.sock trace --simulate dst \S+ to 10\.244\.2\.2$`, 1, `^  lookup: hit, \S+ dst 10\.0\.0\.2, static$`)
			r.ping(t, podA, "10.244.2.2", 1)
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^[0-9:.]+ IP 10\.0\.0\.1\.\d+ > 10\.0\.0\.2\.8472: VXLAN, flags \[I\] \(0x08\), vni 1$`)
			r.wantLine(t, `tshark -r .*/ping\.pcap$`, 1, `10\.0\.0\.1 → 10\.0\.0\.2 +UDP .* → 8472 `)
			r.wantLine(t, `tshark -r .*/ping\.pcap -d udp\.port==8472,vxlan$`, 1, `10\.244\.1\.2 → 10\.244\.2\.2 +ICMP .*Echo \(ping\) request`)
			if got := r.number(t, `/a\.sock stats$`, 1, "flannel.1:", "flooded"); got != 0 {
				t.Errorf("flooded on %s's flannel.1: got %d, want 0", a, got)
			}
			if got := r.number(t, `/a\.sock stats$`, 1, "flannel.1:", "learnt"); got != 0 {
				t.Errorf("learnt on %s's flannel.1: got %d, want 0", a, got)
			}
			r.wantLine(t, get, 2, `^10\.244\.2\.2 via 10\.0\.0\.2 dev eth0 src 10\.0\.0\.1 `)
			r.ping(t, podA, "10.244.2.2", 2)
			r.wantLine(t, `cat .*/plain\.txt$`, 1, `^[0-9:.]+ IP 10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request`)
		}},
		{"09-macvlan.sh", []string{"switch", "host", "c1", "c2"}, func(t *testing.T, r *run) {
			c1 := r.ns("c1")
			r.wantLine(t, "ip netns exec "+c1+" ip -d link show eth0$", 1, `^\s+macvlan mode bridge `)
			r.ping(t, c1, "10.30.0.12", 1)
			for _, ok := range []string{"cannot reach the parent's 10.30.0.1", "cannot reach .* in private mode", "VEPA sub-interfaces talk through the switch"} {
				if !hasLine(strings.Split(r.out, "\n"), `^ok: .*`+ok) {
					t.Errorf("lab 09: no check %q held; output:\n%s", ok, r.out)
				}
			}
			r.wantLine(t, "bridge -d link show dev p0$", 1, `hairpin on `)
			r.ping(t, c1, "10.30.0.12", 2)
		}},
		{"10-round-trip.sh", []string{"a", "b"}, func(t *testing.T, r *run) {
			// Two tables, the kernel's vxlan's then vtepd's, each of every
			// hop of pings seen at all four capture points.
			head := regexp.MustCompile(`^(.+): (\d+) of 300 pings seen at all four points, microseconds$`)
			row := regexp.MustCompile(`^  (\S.*?) +(-?\d+\.\d) +(-?\d+\.\d)$`)
			for i, path := range []string{"the kernel's vxlan", "vtepd"} {
				b := r.block(t, `\(the four captures, paired by ICMP sequence number\)$`, i+1)
				m := head.FindStringSubmatch(strings.Join(b[:min(1, len(b))], ""))
				if m == nil || m[1] != path {
					t.Errorf("table %d: got %q, want a first line naming %q and the pings it covers", i+1, b, path)
					continue
				}
				if n, _ := strconv.Atoi(m[2]); n < 270 {
					t.Errorf("%s: %d of 300 pings seen at all four points, want at least 270", path, n)
				}
				var hops []string
				for _, l := range b[1:] {
					rm := row.FindStringSubmatch(l)
					if rm == nil || rm[1] == "hop" {
						continue
					}
					median, _ := strconv.ParseFloat(rm[2], 64)
					p90, _ := strconv.ParseFloat(rm[3], 64)
					// A negative time would be a reply paired with the
					// wrong request.
					if median < 0 || p90 < median {
						t.Errorf("%s, %s: median %v, p90 %v; want 0 <= median <= p90", path, rm[1], median, p90)
					}
					hops = append(hops, rm[1])
				}
				if len(hops) != 8 || hops[0] != "A: overlay device to underlay (encapsulate)" || hops[7] != "round trip, at A's overlay device" {
					t.Errorf("%s: got hops %q, want the eight from A's encapsulation to the round trip", path, hops)
				}
			}
			if !hasLine(strings.Split(r.out, "\n"), `^ok: the kernel's vxlan and vtepd timed over \d+ and \d+ pings, hop by hop$`) {
				t.Errorf("lab 10: no closing check; output:\n%s", r.out)
			}
		}},
		{"06-evpn.sh", []string{"hub", "h1", "h2", "h3"}, func(t *testing.T, r *run) {
			h1 := r.ns("h1")
			fdb := `/v1\.sock fdb show$`
			routes := `/v1\.sock evpn routes$`
			// Before any ping: the flood list and both MACs, from BGP.
			for _, h := range []string{"2", "3"} {
				r.wantLine(t, fdb, 1, `^00:00:00:00:00:00 dev vx42 dst 10\.0\.0\.`+h+` self permanent$`)
				r.wantLine(t, fdb, 1, `^`+macRE.String()+` dev vx42 dst 10\.0\.0\.`+h+` self extern_learn$`)
				r.wantLine(t, routes, 1, `^> vni 42 rd 10\.0\.0\.`+h+`:1 \[2\]:\[`+macRE.String()+`\]:\[192\.168\.42\.`+h+`\] next-hop 10\.0\.0\.`+h+` from 10\.0\.0\.`+h+`$`)
				r.wantLine(t, routes, 1, `^> vni 42 rd 10\.0\.0\.`+h+`:1 \[3\]:\[10\.0\.0\.`+h+`\] next-hop 10\.0\.0\.`+h+` from`)
			}
			r.ping(t, h1, "192.168.42.2", 1)
			// The ARP request answered in vtepd: suppressed in the trace, no
			// ARP on the wire, the ping in the capture.
			r.wantLine(t, `cat .*/arp\.trace$`, 1, `^    suppressed: answered into the device`)
			r.wantLine(t, `cat .*/arp\.trace$`, 1, `^      arp 192\.168\.42\.2 is-at `+macRE.String()+`$`)
			r.noLine(t, `cat .*/arp\.trace$`, 1, `socket-out`)
			r.wantLine(t, `cat .*/wire\.txt$`, 1, `^IP 192\.168\.42\.1 > 192\.168\.42\.2: ICMP echo request`)
			r.noLine(t, `cat .*/wire\.txt$`, 1, `ARP`)
			r.wantLine(t, `tshark -r .*/ping\.pcap$`, 1, `192\.168\.42\.1 → 192\.168\.42\.2 +ICMP .*Echo \(ping\) request`)
			stats := `/v1\.sock stats$`
			if got := r.number(t, stats, 1, "vx42:", "suppressed"); got < 1 {
				t.Errorf("ARP suppressed on %s: got %d, want at least 1", h1, got)
			}
			if got := r.number(t, stats, 1, "vx42:", "flooded"); got != 0 {
				t.Errorf("flooded on %s: got %d, want 0", h1, got)
			}
			r.noLine(t, fdb, 2, `10\.0\.0\.3`)
			r.wantLine(t, `/v1\.sock bgp neighbors$`, 2, `^10\.0\.0\.3 +65000 Idle`)
		}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			lab := tc.script[:2]
			r := runScript(t, lab, env, nil, tc.script)
			if r.code != 0 {
				t.Fatalf("%s: exit status %d, want 0; output:\n%s", tc.script, r.code, r.out)
			}
			names := make([]string, len(tc.ns))
			for i, n := range tc.ns {
				names[i] = r.ns(n)
			}
			if want := "cleanup: removed " + strings.Join(names, " "); !hasLine(strings.Split(r.out, "\n"), `^`+regexp.QuoteMeta(want)+`$`) {
				t.Errorf("%s: got no line %q, want one", tc.script, want)
			}
			wantClean(t, r, vtepd)
			tc.check(t, r)
		})
	}
}

// TestLabFailsCleanly runs lab 03 with a vtepd that exits at once: the lab
// must say which step failed, exit non-zero and still remove its namespaces.
func TestLabFailsCleanly(t *testing.T) {
	requireLab(t)
	_, vtepctl := binaries(t)
	r := runScript(t, "03", []string{"VTEPD=/bin/false", "VTEPCTL=" + vtepctl}, nil, "03-vxlan-unicast.sh")
	if r.code != 1 {
		t.Errorf("exit status with a vtepd that exits at start: got %d, want 1; output:\n%s", r.code, r.out)
	}
	if want := "03-vxlan-unicast: FAILED: vtepd a exited at start"; !strings.Contains(r.out, want) {
		t.Errorf("output: got\n%s\nwant a line with %q", r.out, want)
	}
	if want := "cleanup: removed " + r.ns("a") + " " + r.ns("b"); !strings.Contains(r.out, want) {
		t.Errorf("output: got\n%s\nwant a line with %q", r.out, want)
	}
	if left := leftovers(t, r); len(left) > 0 {
		t.Errorf("namespaces left after the failed lab: got %v, want none", left)
	}
}

// TestLabNeedsRoot runs lab 01 as an unprivileged user.
func TestLabNeedsRoot(t *testing.T) {
	requireLab(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to drop root")
	}
	r := runScript(t, "01", nil, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, "01-veth.sh")
	if r.code != 1 {
		t.Errorf("exit status as uid 65534: got %d, want 1; output:\n%s", r.code, r.out)
	}
	if want := "01-veth: FAILED: needs root to create network namespaces: sudo "; !strings.Contains(r.out, want) {
		t.Errorf("output as uid 65534: got\n%s\nwant a line with %q", r.out, want)
	}
	if strings.Contains(r.out, "+ ip netns add") {
		t.Errorf("output as uid 65534: got\n%s\nwant no command run", r.out)
	}
}

func TestRunAll(t *testing.T) {
	requireLab(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"one lab", []string{"01"}, 0, []string{"######## 01-veth.sh", "######## 1 of 1 labs passed"}},
		{"no such lab", []string{"99"}, 1, []string{"run-all: no lab matches: 99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runScript(t, "01", nil, nil, "run-all.sh", tc.args...)
			if r.code != tc.code {
				t.Errorf("run-all.sh %v: exit status %d, want %d; output:\n%s", tc.args, r.code, tc.code, r.out)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.out, w) {
					t.Errorf("run-all.sh %v: got\n%s\nwant a line with %q", tc.args, r.out, w)
				}
			}
			if strings.Contains(r.out, "######## 02-") {
				t.Errorf("run-all.sh %v: got lab 02 run, want only the labs asked for", tc.args)
			}
			if left := leftovers(t, r); len(left) > 0 {
				t.Errorf("run-all.sh %v: namespaces left: got %v, want none", tc.args, left)
			}
		})
	}
}

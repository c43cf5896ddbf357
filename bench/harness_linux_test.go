package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/control"
)

// needHarness skips a harness run where it cannot work: not root, no
// iproute2, -short.
func needHarness(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces (run as root: sudo make test)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (the ip command)")
	}
	if testing.Short() {
		t.Skip("runs the benchmark harness; skipped with -short")
	}
}

// harnessBinaries skips a harness run where it cannot work (not root, no
// iproute2, -short) and builds vtepd, vtepctl and the extra packages into a
// directory it returns, with the go command.
func harnessBinaries(t *testing.T, extra ...string) (goTool, bin string) {
	t.Helper()
	needHarness(t)
	goTool = goCommand(t)
	bin = t.TempDir()
	pkgs := append([]string{"./cmd/vtepd", "./cmd/vtepctl"}, extra...)
	build := exec.Command(goTool, append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	return goTool, bin
}

// runLogged runs the harness with cfg for at most limit, logging its
// progress, which it also returns.
func runLogged(t *testing.T, cfg Config, limit time.Duration) (*Report, string, error) {
	t.Helper()
	var progress bytes.Buffer
	cfg.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	r, err := Run(ctx, cfg)
	t.Logf("progress:\n%s", progress.String())
	return r, progress.String(), err
}

// TestHarnessVtepload runs the harness in quick mode with its own load
// generator instead of iperf3, on the bare veth and vtepd VXLAN with flow
// counts of its choosing: every TCP and UDP figure must come from it. Its
// two runs of each path are taken in turn: both paths' first, then both
// second runs.
func TestHarnessVtepload(t *testing.T) {
	_, bin := harnessBinaries(t, "./bench/cmd/vtepload")
	cfg := QuickConfig()
	cfg.Vtepd, cfg.Vtepctl = filepath.Join(bin, "vtepd"), filepath.Join(bin, "vtepctl")
	cfg.Generator, cfg.Vtepload = GenVtepload, filepath.Join(bin, "vtepload")
	cfg.Paths = []string{PathVeth, PathVtepdVXLAN}
	cfg.Flows = []int{2, 3}
	cfg.Queues = 2
	cfg.Micro = false
	cfg.Runs = 2
	r, progress, err := runLogged(t, cfg, 3*time.Minute)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.Settings.Generator != GenVtepload || !slices.Equal(r.Settings.Flows, []int{2, 3}) || r.Settings.Queues != 2 {
		t.Errorf("settings: got generator %q, flows %v, queues %d; want vtepload, [2 3], 2",
			r.Settings.Generator, r.Settings.Flows, r.Settings.Queues)
	}
	if len(r.Paths) != 2 {
		t.Fatalf("paths: got %d, want 2; skipped %+v", len(r.Paths), r.Skipped)
	}
	for _, p := range r.Paths {
		for _, key := range []string{KeyTCP(2), KeyTCP(3), KeyUDPRate(64), KeyUDPRate(1400), KeyUDPBufferedRate, KeyRTTP50} {
			if f := p.Figures[key]; f == nil || f.Median <= 0 {
				t.Errorf("%s %s: got %+v, want a figure above 0", p.Name, key, f)
			}
		}
		if f := p.Figures[KeyTCP1]; f != nil {
			t.Errorf("%s: got a 1-flow figure %+v, want none: -flows 2,3", p.Name, f)
		}
		if len(p.Runs) != 2 {
			t.Errorf("%s: %d runs, want 2", p.Name, len(p.Runs))
		}
		for _, run := range p.Runs {
			for _, tcp := range run.TCP {
				if tcp.BytesReceived != tcp.BytesSent {
					t.Errorf("%s, %d flows: received %d of %d bytes sent, want all", p.Name, tcp.Flows, tcp.BytesReceived, tcp.BytesSent)
				}
			}
		}
		if isVtepd(p.Name) && (p.Figures[KeyCPUPerGB] == nil || p.Figures[KeyCPUPerGB].Median <= 0) {
			t.Errorf("%s: got no vtepd CPU figure over the 2-flow run", p.Name)
		}
		// Forwarding runs vtepd's own code as well as the kernel's.
		if all, own := p.Figures[KeyCPUPerGB], p.Figures[KeyUserCPUPerGB]; isVtepd(p.Name) && all != nil &&
			(own == nil || own.Median <= 0 || own.Median > all.Median) {
			t.Errorf("%s: vtepd CPU in its own code: got %+v, want more than 0 and at most all of it (%v s/GB)", p.Name, own, all.Median)
		}
	}
	// Both set up, then the runs in turn.
	order := []string{"[1/2 veth] setting up", "[2/2 vtepd-vxlan] setting up",
		"[1/2 veth] run 1 of 2: TCP", "[2/2 vtepd-vxlan] run 1 of 2: TCP",
		"[1/2 veth] run 2 of 2: TCP", "[2/2 vtepd-vxlan] run 2 of 2: TCP"}
	at := -1
	for _, line := range order {
		i := strings.Index(progress, line)
		if i <= at {
			t.Errorf("progress: %q at %d, want it after %d, in the order %q", line, i, at, order)
		}
		at = i
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vtepload (the harness's own load generator", "| path | 2 flows | 3 flows | vtepd CPU s/GB | in its own code |",
		"during the 2-flow run", "vtepd ran with --queues 2."} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown without %q:\n%s", want, md.String())
		}
	}
}

// TestHarnessQuick runs the whole harness once in quick mode, so that it
// cannot rot: every path must produce every figure, and the JSON and the
// Markdown must carry them. It asserts no speed.
func TestHarnessQuick(t *testing.T) {
	goTool, bin := harnessBinaries(t)
	cfg := QuickConfig()
	cfg.Vtepd, cfg.Vtepctl = filepath.Join(bin, "vtepd"), filepath.Join(bin, "vtepctl")
	cfg.GoTool, cfg.RepoDir = goTool, ".."
	cfg.Benchtime = "100x"
	r, _, err := runLogged(t, cfg, 4*time.Minute)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Nothing of the run may be left behind.
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		prefix := fmt.Sprintf("vtb-%d-", os.Getpid())
		if strings.Contains(string(out), prefix) {
			t.Errorf("namespaces left behind: got %q in ip netns list, want none", prefix)
		}
	}

	want := []string{PathVeth}
	if kernelVXLANProbe(t) {
		want = append(want, PathKernelVXLAN)
	}
	want = append(want, PathVtepdVXLAN, PathVtepdVXLANOneThread, PathVtepdIPIP, PathVtepdIPIPFanout, PathVtepdVXLANPlain, PathVtepdIPIPPlain)
	var got []string
	for _, p := range r.Paths {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paths: got %v, want %v (kernel vxlan iff the kernel has it); skipped: %+v", got, want, r.Skipped)
	}
	roomier := sysctlInt(t, "net/core/rmem_max") > sysctlInt(t, "net/core/rmem_default")
	for _, p := range r.Paths {
		t.Run(p.Name, func(t *testing.T) {
			if len(p.Runs) != 1 {
				t.Errorf("runs: got %d, want 1 in quick mode", len(p.Runs))
			}
			for _, m := range r.Metrics() {
				f := p.Figures[m.Key]
				if m.VtepdOnly && !isVtepd(p.Name) {
					if f != nil {
						t.Errorf("%s: got %+v, want none on a kernel path", m.Key, f)
					}
					continue
				}
				if f == nil {
					t.Errorf("%s: got no figure, want one", m.Key)
					continue
				}
				// Loss may truly be 0; everything else is a rate, a time or a cost.
				if !m.NoRatio && f.Median <= 0 {
					t.Errorf("%s: got %v %s, want more than 0", m.Key, f.Median, f.Unit)
				}
				wantRatio := r.KernelVXLAN && !m.NoRatio && !m.VtepdOnly // the kernel spends no vtepd CPU
				if gotRatio := f.VsKernel != nil; gotRatio != wantRatio {
					t.Errorf("%s: got a ratio to the kernel: %v, want %v", m.Key, gotRatio, wantRatio)
				}
			}
			if f := p.Figures[KeyBusiestWorker]; isVtepd(p.Name) && (f == nil || f.Median <= 0 || f.Median > 100) {
				t.Errorf("%s: got %+v, want a share of the run above 0%% and at most 100%%", KeyBusiestWorker, f)
			}
			run := p.Runs[0]
			if run.Ping.Received < 2 || len(run.Ping.RTTMicros) != run.Ping.Received || run.Ping.P99Micros < run.Ping.P50Micros {
				t.Errorf("ping: got %d replies, %d RTTs, p50 %v p99 %v, want them consistent", run.Ping.Received,
					len(run.Ping.RTTMicros), run.Ping.P50Micros, run.Ping.P99Micros)
			}
			// --window reached iperf3: the buffered run's socket got more than
			// the default run's, wherever rmem_max lets it.
			if u := run.UDPBuffered; u == nil || len(run.UDP) == 0 {
				t.Error("UDP: got no default or buffered 64-byte run")
			} else if roomier && u.RcvbufActual <= run.UDP[0].RcvbufActual {
				t.Errorf("UDP buffers: got %d bytes with --window, %d without, want more with it (rmem_max allows it)",
					u.RcvbufActual, run.UDP[0].RcvbufActual)
			}
			if isVtepd(p.Name) && len(p.VtepdStats) != 2 {
				t.Errorf("vtepd stats: got %d, want one per end", len(p.VtepdStats))
			}
			// The one-thread vtepds ran with one processor: their device has
			// the one queue that vtepd's default gives it then, where the
			// default path's has one per CPU (vtepd's own count, which a
			// cgroup limit it does not see from its namespace may raise
			// above the test's; never below 2 with 2 CPUs or more).
			if p.Name == PathVtepdVXLANOneThread || p.Name == PathVtepdVXLAN {
				for end, raw := range p.VtepdStats {
					got := deviceQueues(t, raw)
					switch {
					case p.Name == PathVtepdVXLANOneThread && got != 1:
						t.Errorf("vtepd %d: its VXLAN device has %d queues, want 1", end, got)
					case p.Name == PathVtepdVXLAN && runtime.NumCPU() >= 2 && got < 2:
						t.Errorf("vtepd %d: its VXLAN device has %d queues, want one per CPU (%d CPUs)", end, got, runtime.NumCPU())
					}
				}
			}
		})
	}
	if len(r.Micro) == 0 {
		t.Error("microbenchmarks: got none, want the encap and fdb benchmarks")
	}
	for _, name := range []string{"BenchmarkEncapVXLANIPv4/nocsum", "BenchmarkDecapVXLAN", "BenchmarkLookupDuringLearning", "BenchmarkRouteLookup"} {
		if !slices.ContainsFunc(r.Micro, func(m MicroResult) bool { return m.Name == name && m.NsPerOp > 0 }) {
			t.Errorf("microbenchmarks: got no %s with ns/op", name)
		}
	}
	if r.Machine.CPUModel == "" || r.Machine.Cores < 1 || r.Machine.Kernel == "" || r.Machine.GoVersion == "" {
		t.Errorf("machine: got %+v, want CPU model, cores, kernel and Go version", r.Machine)
	}
	// The congestion control is one the kernel has, as a namespace of the
	// run's own saw it.
	if avail := strings.Fields(sysctl(t, "net/ipv4/tcp_available_congestion_control")); !slices.Contains(avail, r.Machine.TCPCongestion) {
		t.Errorf("machine: TCP congestion control %q, want one of %v", r.Machine.TCPCongestion, avail)
	}

	// The JSON file parses back to the same report, with every field.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("JSON does not parse back: %v", err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("JSON round trip: got %+v, want %+v", back, *r)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"date", "wall_seconds", "machine", "settings", "kernel_vxlan", "paths", "skipped", "microbenchmarks"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON: got no %q, want every field", key)
		}
	}
	machine, _ := raw["machine"].(map[string]any)
	for _, key := range []string{"cpu_model", "cores", "kernel", "go_version", "commit", "tcp_congestion"} {
		if _, ok := machine[key]; !ok {
			t.Errorf("JSON machine: got no %q", key)
		}
	}

	var md bytes.Buffer
	if err := WriteMarkdown(&md, r, "chart.svg"); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Paths {
		if got := strings.Count(md.String(), "\n| "+p.Title+" |"); got != 4 {
			t.Errorf("Markdown rows for %s: got %d, want 4 (one per table)\n%s", p.Title, got, md.String())
		}
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, r); err != nil {
		t.Fatal(err)
	}
}

// deviceQueues is the queue count of the VXLAN network in one vtepd's
// `vtepctl stats --json`.
func deviceQueues(t *testing.T, raw json.RawMessage) int {
	t.Helper()
	var stats []control.NetworkStats
	if err := json.Unmarshal(raw, &stats); err != nil {
		t.Fatalf("vtepctl stats --json: %v", err)
	}
	for _, s := range stats {
		if s.Kind == control.KindVXLAN {
			return len(s.Queues)
		}
	}
	t.Fatalf("vtepctl stats --json: no VXLAN network in %s", raw)
	return 0
}

// kernelVXLANProbe asks the kernel itself, apart from the harness, whether
// it has a vxlan driver.
func kernelVXLANProbe(t *testing.T) bool {
	name := fmt.Sprintf("vtb-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	return exec.Command("ip", "-n", name, "link", "add", "vxt", "type", "vxlan", "id", "7", "dstport", "4789").Run() == nil
}

// goCommand is the go command in PATH, which `go test` puts first.
func goCommand(t *testing.T) string {
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build vtepd: %v", err)
	}
	return p
}

// TestEnsureTool runs ensureTool against a stand-in apt-get that records
// its calls, fails the first install as a stale package list would, and
// then puts the tool in PATH.
func TestEnsureTool(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "apt.log")
	script := `#!/bin/sh
echo "$*" >> ` + log + `
case "$1" in
update) touch ` + dir + `/updated ;;
install)
	[ -e ` + dir + `/updated ] || { echo "E: Unable to locate package $4" >&2; exit 100; }
	printf '#!/bin/sh\n' > ` + dir + `/faketool && chmod +x ` + dir + `/faketool ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":/usr/bin:/bin")

	if err := ensureTool(context.Background(), Config{}, "faketool", "fakepkg"); err != nil {
		t.Fatalf("ensureTool: %v", err)
	}
	calls, _ := os.ReadFile(log)
	want := "install -y --no-install-recommends fakepkg\nupdate\ninstall -y --no-install-recommends fakepkg\n"
	if string(calls) != want {
		t.Errorf("apt-get calls: got %q, want %q", calls, want)
	}

	// Present now: apt-get is not asked again.
	if err := ensureTool(context.Background(), Config{}, "faketool", "fakepkg"); err != nil {
		t.Fatalf("ensureTool, tool present: %v", err)
	}
	if again, _ := os.ReadFile(log); string(again) != want {
		t.Errorf("apt-get calls with the tool present: got %q, want none added", again)
	}

	// A package that never installs: the error names it.
	err := ensureTool(context.Background(), Config{}, "othertool", "otherpkg")
	if err == nil || !strings.Contains(err.Error(), "otherpkg") {
		t.Errorf("package that installs nothing: got error %v, want one naming otherpkg", err)
	}
}

// sysctl reads a value from /proc/sys.
func sysctl(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// sysctlInt reads an integer from /proc/sys.
func sysctlInt(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(sysctl(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// TestVtepdArgs: each vtepd path starts its daemons the way its title says.
func TestVtepdArgs(t *testing.T) {
	for _, tc := range []struct {
		path   string
		queues int
		want   []string
	}{
		{PathVtepdVXLAN, 0, nil},
		{PathVtepdVXLANOneThread, 0, nil},
		{PathVtepdVXLANOneThread, 2, []string{"--queues", "2"}},
		{PathVtepdIPIP, 2, []string{"--queues", "2"}},
		{PathVtepdIPIPFanout, 0, []string{"--ipip-receive", "fanout"}},
		{PathVtepdIPIPFanout, 4, []string{"--ipip-receive", "fanout", "--queues", "4"}},
		{PathVtepdVXLANPlain, 0, []string{"--offload", "off"}},
		{PathVtepdIPIPPlain, 1, []string{"--offload", "off", "--queues", "1"}},
	} {
		if got := vtepdArgs(Config{Queues: tc.queues}, tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("%s, queues %d: got %q, want %q", tc.path, tc.queues, got, tc.want)
		}
	}
	for _, path := range AllPaths {
		want := []string(nil)
		if path == PathVtepdVXLANOneThread {
			want = []string{"GOMAXPROCS=1"}
		}
		if got := vtepdEnv(path); !slices.Equal(got, want) {
			t.Errorf("%s: environment %q, want %q", path, got, want)
		}
	}
}

// TestHarnessFailedPath: paths whose vtepd will not start are reported as
// failed, once each, as soon as it has exited, the path beside them is
// measured in full, and nothing is left behind.
func TestHarnessFailedPath(t *testing.T) {
	needHarness(t)
	fake := filepath.Join(t.TempDir(), "vtepd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'this vtepd will not start' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := QuickConfig()
	cfg.Vtepd, cfg.Vtepctl = fake, fake
	cfg.Paths = []string{PathVtepdVXLAN, PathVeth, PathVtepdIPIP}
	cfg.Micro = false
	cfg.Pings = 20
	r, _, err := runLogged(t, cfg, 2*time.Minute)
	if err == nil || !strings.Contains(err.Error(), "2 of the measurements failed") {
		t.Errorf("Run: got error %v, want one saying 2 of the measurements failed", err)
	}
	if r == nil {
		t.Fatal("Run returned no report with its error")
	}
	if len(r.Paths) != 1 || r.Paths[0].Name != PathVeth || len(r.Paths[0].Runs) != 1 {
		t.Errorf("paths measured: got %+v, want veth with its one run", r.Paths)
	}
	var skipped []string
	for _, s := range r.Skipped {
		skipped = append(skipped, s.Path)
		// The wait for its control socket ends when vtepd does, naming why.
		if !strings.HasPrefix(s.Reason, "failed: ") || !strings.Contains(s.Reason, "vtepd exited (exit status 1): this vtepd will not start") ||
			strings.Contains(s.Reason, "timed out") {
			t.Errorf("%s skipped for %q, want a failure saying vtepd exited and what it said, not a time-out", s.Path, s.Reason)
		}
	}
	if want := []string{PathVtepdVXLAN, PathVtepdIPIP}; !slices.Equal(skipped, want) {
		t.Errorf("skipped: got %v, want %v", skipped, want)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		if prefix := fmt.Sprintf("vtb-%d-", os.Getpid()); strings.Contains(string(out), prefix) {
			t.Errorf("namespaces left behind: got %q in ip netns list, want none", prefix)
		}
	}
}

// TestHarnessWorkerClocks: each TCP run of a vtepd path reports its
// busiest worker, and a read of the workers' clocks that fails costs that
// run's figure alone: the path is still measured in full. A vtepctl
// wrapper fails the first `stats --json`.
func TestHarnessWorkerClocks(t *testing.T) {
	_, bin := harnessBinaries(t)
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "vtepctl")
	script := `#!/bin/sh
case "$*" in
*"stats --json"*)
	if [ ! -e ` + dir + `/failed ]; then
		touch ` + dir + `/failed
		echo 'vtepctl: the control socket hung up' >&2
		exit 1
	fi ;;
esac
exec ` + filepath.Join(bin, "vtepctl") + ` "$@"
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := QuickConfig()
	cfg.Vtepd, cfg.Vtepctl = filepath.Join(bin, "vtepd"), wrapper
	cfg.Paths = []string{PathVtepdVXLAN}
	cfg.Flows = []int{1, 4}
	cfg.Micro = false
	cfg.Pings = 20
	r, progress, err := runLogged(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(r.Paths) != 1 || len(r.Paths[0].Runs) != 1 || len(r.Paths[0].Runs[0].TCP) != 2 {
		t.Fatalf("paths: got %+v, want %s with one run of two TCP figures", r.Paths, PathVtepdVXLAN)
	}
	tcp := r.Paths[0].Runs[0].TCP
	if tcp[0].BusiestWorker != 0 || !strings.Contains(progress, "the workers' clocks not read, no busiest worker for 1 flow") {
		t.Errorf("1 flow, its first clock read failed: busiest worker %v, want none and a progress line saying so", tcp[0].BusiestWorker)
	}
	if tcp[1].BusiestWorker <= 0 || tcp[1].BusiestWorker > 1 {
		t.Errorf("4 flows: busiest worker %v, want a share above 0 and at most 1", tcp[1].BusiestWorker)
	}
	if f := r.Paths[0].Figures[KeyBusiestWorker]; f == nil || f.Median != 100*tcp[1].BusiestWorker {
		t.Errorf("%s: got %+v, want the 4-flow run's share, %v%%", KeyBusiestWorker, f, 100*tcp[1].BusiestWorker)
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Run measures every path of cfg and returns the report with its figures
// summarised. It needs root (it makes network namespaces), iproute2, and
// installs iperf3 and ping with apt when they are missing.
//
// A path that fails is listed in Report.Skipped with the reason and the
// others are still measured; Run then returns the report together with an
// error. When ctx ends Run stops at once: it removes what it made and
// returns ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root to create network namespaces: run sudo make bench")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("needs iproute2 (the ip command)")
	}
	if cfg.needsVtepd() {
		for flag, bin := range map[string]string{"-vtepd": cfg.Vtepd, "-vtepctl": cfg.Vtepctl} {
			if err := executable(flag, bin); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Generator, err = pickGenerator(ctx, cfg); err != nil {
		return nil, err
	}
	if err := ensureTool(ctx, cfg, "ping", "iputils-ping"); err != nil {
		return nil, err
	}

	r := &Report{
		Date:    start.UTC().Truncate(time.Second),
		Machine: machineInfo(ctx, cfg),
		Settings: Settings{
			Runs:            cfg.Runs,
			DurationSeconds: cfg.Duration.Seconds(),
			Pings:           cfg.Pings,
			PingIntervalMS:  float64(cfg.PingInterval) / float64(time.Millisecond),
			UDPPayloads:     UDPPayloads,
			UDPBufferBytes:  BufferedUDPWindow,
			Quick:           cfg.Quick,
			Paths:           cfg.Paths,
			Flows:           cfg.Flows,
			Generator:       cfg.Generator,
			Queues:          cfg.Queues,
		},
		Paths:   []PathResult{},
		Skipped: []Skipped{},
		Micro:   []MicroResult{},
	}
	if r.KernelVXLAN, err = kernelHasVXLAN(ctx); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vtepbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ticks := clockTicks(ctx)

	// Every path's topology is built first and the runs taken in turn, run
	// k of each path before run k+1 of any: a host whose speed drifts
	// (another tenant, a CPU's clock) then moves every path alike, and the
	// ratios compare runs minutes apart at most.
	var failed []string
	fail := func(m *pathRun, err error) {
		cfg.progress("%s failed: %v", m.tag, err)
		r.Skipped = append(r.Skipped, Skipped{Path: m.path, Reason: "failed: " + err.Error()})
		failed = append(failed, fmt.Sprintf("%s: %v", m.path, err))
		m.close()
	}
	var live []*pathRun
	defer func() {
		for _, m := range live {
			m.close()
		}
	}()
	for i, path := range cfg.Paths {
		tag := fmt.Sprintf("[%d/%d %s]", i+1, len(cfg.Paths), path)
		if path == PathKernelVXLAN && !r.KernelVXLAN {
			cfg.progress("%s skipped: this kernel has no vxlan driver", tag)
			r.Skipped = append(r.Skipped, Skipped{Path: path, Reason: "this kernel has no vxlan driver"})
			continue
		}
		m := &pathRun{path: path, tag: tag}
		live = append(live, m)
		cfg.progress("%s setting up: two namespaces joined by a veth pair, then %s", tag, pathTitles[path])
		if m.t, err = newTopo(ctx, cfg, dir, path); err == nil {
			err = m.t.startIperfServer(ctx, cfg)
		}
		if err == nil && r.Machine.TCPCongestion == "" {
			if out, cerr := m.t.a.exec(ctx, "cat", "/proc/sys/net/ipv4/tcp_congestion_control"); cerr == nil {
				r.Machine.TCPCongestion = strings.TrimSpace(string(out))
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			fail(m, err)
		}
	}
	for k := 1; k <= cfg.Runs; k++ {
		for _, m := range live {
			if m.t == nil {
				continue
			}
			run, err := measureRun(ctx, cfg, m.t, ticks, fmt.Sprintf("%s run %d of %d", m.tag, k, cfg.Runs))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				fail(m, err)
				continue
			}
			m.runs = append(m.runs, run)
		}
	}
	for _, m := range live {
		if m.t == nil {
			continue
		}
		res := &PathResult{Name: m.path, Title: pathTitles[m.path], Runs: m.runs}
		var err error
		if len(m.t.ctls) > 0 {
			res.VtepdStats, err = m.t.vtepdStats(ctx, cfg)
		}
		if cerr := m.close(); err == nil {
			err = cerr
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			fail(m, err)
			continue
		}
		r.Paths = append(r.Paths, *res)
	}
	sortSkipped(r.Skipped, cfg.Paths)
	r.Summarize()

	if cfg.Micro {
		r.Settings.Benchtime = cfg.Benchtime
		cfg.progress("[micro] go test -bench . -benchmem -benchtime %s %s", cfg.Benchtime, strings.Join(cfg.MicroPackages, " "))
		m, err := runMicro(ctx, cfg)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			failed = append(failed, "microbenchmarks: "+err.Error())
		}
		r.Micro = m
	}
	r.WallSeconds = time.Since(start).Round(time.Second).Seconds()
	if len(failed) > 0 {
		return r, fmt.Errorf("%d of the measurements failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return r, nil
}

// pathRun is one path while the runs are taken: its topology, nil once
// removed, and its runs so far.
type pathRun struct {
	path, tag string
	t         *topo
	runs      []RunRaw
}

// close removes the path's topology, once.
func (m *pathRun) close() error {
	if m.t == nil {
		return nil
	}
	err := m.t.close()
	m.t = nil
	return err
}

// measureRun takes one run of every measurement on t's path.
func measureRun(ctx context.Context, cfg Config, t *topo, ticks int, tag string) (RunRaw, error) {
	var run RunRaw
	secs := cfg.Duration.String()
	step := func(what string) { cfg.progress("%s: %s", tag, what) }
	for i, flows := range cfg.Flows {
		step(fmt.Sprintf("TCP, %s, %s", flowsName(flows), secs))
		// The workers' clocks are a diagnosis: a failed read costs the
		// figure, not the path (a vtepd that died is the run's to report).
		workers, werr := t.workerTimes(ctx, cfg)
		before, err := t.cpuTicks()
		if err != nil {
			return run, err
		}
		tcp, err := t.tcp(ctx, cfg, flows)
		if err != nil {
			return run, fmt.Errorf("TCP %d flows: %w", flows, err)
		}
		after, err := t.cpuTicks()
		if err != nil {
			return run, err
		}
		if werr == nil {
			var workersAfter map[string]workerTime
			if workersAfter, werr = t.workerTimes(ctx, cfg); werr == nil {
				tcp.BusiestWorker = busiestWorker(workers, workersAfter)
			}
		}
		if werr != nil && ctx.Err() == nil {
			step(fmt.Sprintf("the workers' clocks not read, no busiest worker for %s: %v", flowsName(flows), werr))
		}
		run.TCP = append(run.TCP, tcp)
		// vtepd's CPU per GB, over the first flow count's run.
		if i == 0 && len(t.vtepds) > 0 {
			run.CPU = cpuRun(before, after, ticks, tcp.BytesReceived)
		}
	}
	for _, size := range UDPPayloads {
		step(fmt.Sprintf("UDP, %d-byte payload, as fast as %s sends, %s", size, cfg.Generator, secs))
		u, err := t.udp(ctx, cfg, size, 0)
		if err != nil {
			return run, fmt.Errorf("UDP %d B: %w", size, err)
		}
		run.UDP = append(run.UDP, u)
	}
	step(fmt.Sprintf("UDP, 64-byte payload, %d MiB socket buffers, %s", BufferedUDPWindow>>20, secs))
	u, err := t.udp(ctx, cfg, 64, BufferedUDPWindow)
	if err != nil {
		return run, fmt.Errorf("UDP 64 B, %d MiB buffers: %w", BufferedUDPWindow>>20, err)
	}
	run.UDPBuffered = &u
	step(fmt.Sprintf("latency, %d pings %v apart", cfg.Pings, cfg.PingInterval))
	if run.Ping, err = t.ping(ctx, cfg); err != nil {
		return run, fmt.Errorf("latency: %w", err)
	}
	return run, t.checkVtepds()
}

// kernelHasVXLAN adds a vxlan device in a throw-away namespace: the one
// sure way to know whether the driver is there (built in or loadable).
func kernelHasVXLAN(ctx context.Context) (bool, error) {
	n, err := newNetns(ctx, "probe")
	if err != nil {
		return false, err
	}
	defer n.remove()
	return n.ip(ctx, "link", "add", "vxprobe", "type", "vxlan", "id", "1", "dstport", vxlanPort) == nil, nil
}

// pickGenerator returns the load generator Run uses: iperf3 (installed
// with apt when missing) unless -gen says otherwise, or, with GenAuto
// where iperf3 cannot be had, vtepload when its binary is there.
func pickGenerator(ctx context.Context, cfg Config) (string, error) {
	switch cfg.Generator {
	case GenVtepload:
		return GenVtepload, executable("-vtepload", cfg.Vtepload)
	case GenIperf3:
		return GenIperf3, ensureTool(ctx, cfg, "iperf3", "iperf3")
	}
	err := ensureTool(ctx, cfg, "iperf3", "iperf3")
	if err == nil {
		return GenIperf3, nil
	}
	if cfg.Vtepload == "" || executable("-vtepload", cfg.Vtepload) != nil {
		return "", err
	}
	cfg.progress("iperf3 cannot be had (%v): measuring with vtepload instead", err)
	return GenVtepload, nil
}

// executable reports why path, given as flag, is not a program to run.
func executable(flag, path string) error {
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: %q is not an executable file: make build (make bench also builds bin/vtepload)", flag, path)
	}
	return nil
}

// ensureTool installs pkg with apt when bin is not in PATH, running
// apt-get update first only if the first install fails.
func ensureTool(ctx context.Context, cfg Config, bin, pkg string) error {
	if _, err := exec.LookPath(bin); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("needs %s, and there is no apt-get to install it: install the %s package", bin, pkg)
	}
	install := func() error {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install %s: %w: %s", pkg, err, lastLines(string(out), 3))
		}
		return nil
	}
	cfg.progress("[setup] %s is missing: apt-get install -y %s", bin, pkg)
	if err := install(); err != nil {
		cfg.progress("[setup] apt-get install failed; apt-get update, then again")
		if out, uerr := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); uerr != nil {
			return fmt.Errorf("apt-get update: %w: %s", uerr, lastLines(string(out), 3))
		}
		if err := install(); err != nil {
			return err
		}
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("installed %s but %s is still not in PATH", pkg, bin)
	}
	return nil
}

// runMicro runs the Go benchmarks of cfg.MicroPackages.
func runMicro(ctx context.Context, cfg Config) ([]MicroResult, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", cfg.Benchtime, "-count", "1"}, cfg.MicroPackages...)
	cmd := exec.CommandContext(ctx, cfg.GoTool, args...)
	cmd.Dir = cfg.RepoDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", cfg.GoTool, strings.Join(args, " "), err, lastLines(string(out), 10))
	}
	m, err := parseGoBench(string(out))
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s %s: no benchmark results", cfg.GoTool, strings.Join(args, " "))
	}
	return m, nil
}

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// iperfPort is iperf3's default port; each path has its own namespaces, so
// it never collides.
const iperfPort = "5201"

// startIperfServer runs the load generator's server in b (iperf3's, or
// vtepload's) and waits until it listens.
func (t *topo) startIperfServer(ctx context.Context, cfg Config) error {
	if cfg.Generator == GenVtepload {
		return t.startServer(ctx, "vtepload listening", cfg.Vtepload, "-server", "-listen", "0.0.0.0:"+iperfPort)
	}
	return t.startServer(ctx, "Server listening", "iperf3", "--server", "--port", iperfPort, "--forceflush")
}

// startServer runs args in b and waits until its output says ready.
func (t *topo) startServer(ctx context.Context, ready string, args ...string) error {
	p, err := t.b.start(args...)
	if err != nil {
		return err
	}
	t.procs = append(t.procs, p)
	what := filepath.Base(args[0]) + " " + args[1]
	return pollUntil(ctx, 10*time.Second, "the "+what+" in "+t.b.name, func() error {
		if err := p.exitedErr(what); err != nil {
			return err
		}
		if !strings.Contains(p.out.String(), ready) {
			return errors.New("not listening yet")
		}
		return nil
	})
}

// iperf runs an iperf3 client in a against b for cfg.Duration and returns
// its JSON report. A server still finishing the previous test answers
// "busy", or, between closing and reopening its listening socket, not at
// all; the client then tries again (see retryable). So it does when the
// client outlives its run by 30 s: an iperf3 UDP client can hang at the
// end of its test, waiting on the control connection for results that
// never come (seen twice in some 25 quick runs of the plain vtepd path).
func (t *topo) iperf(ctx context.Context, cfg Config, extra ...string) ([]byte, error) {
	secs := strconv.Itoa(int(cfg.Duration / time.Second))
	args := append([]string{"iperf3", "--client", t.dst, "--port", iperfPort, "--time", secs,
		"--json", "--connect-timeout", "5000"}, extra...)
	out, err := runIperf(ctx, cfg.Duration+30*time.Second, time.Second,
		func(runCtx context.Context) ([]byte, error) { return t.a.exec(runCtx, args...) },
		func(try int, hung bool, err error) {
			what := err.Error()
			if hung {
				what = "hung past its run's end"
			}
			cfg.progress("iperf3 %s: try %d of 5: %s", strings.Join(extra, " "), try, what)
		})
	if err != nil && ctx.Err() == nil {
		if cerr := t.checkVtepds(); cerr != nil {
			return nil, cerr
		}
	}
	return out, err
}

// vtepload runs a vtepload client in a against b for cfg.Duration and
// decodes the run it prints into out.
func (t *topo) vtepload(ctx context.Context, cfg Config, out any, extra ...string) error {
	args := append([]string{cfg.Vtepload, "-client", net.JoinHostPort(t.dst, iperfPort),
		"-time", cfg.Duration.String()}, extra...)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration+45*time.Second)
	defer cancel()
	data, err := t.a.exec(runCtx, args...)
	if err != nil {
		if cerr := t.checkVtepds(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vtepload's report %q: %w", data, err)
	}
	return nil
}

// tcp measures TCP throughput with flows parallel streams.
func (t *topo) tcp(ctx context.Context, cfg Config, flows int) (TCPRun, error) {
	if cfg.Generator == GenVtepload {
		var run TCPRun
		err := t.vtepload(ctx, cfg, &run, "-flows", strconv.Itoa(flows))
		return run, err
	}
	out, err := t.iperf(ctx, cfg, "--parallel", strconv.Itoa(flows))
	if err != nil {
		return TCPRun{}, err
	}
	return parseIperfTCP(out, flows)
}

// udp measures the rate at which UDP packets of payload bytes arrive when
// the sender sends as fast as it can (-b 0: no rate limit), with socket
// buffers of window bytes at both ends (iperf3 passes the size to the
// server), or the kernel's default when window is 0.
func (t *topo) udp(ctx context.Context, cfg Config, payload, window int) (UDPRun, error) {
	if cfg.Generator == GenVtepload {
		var run UDPRun
		err := t.vtepload(ctx, cfg, &run, "-udp", "-length", strconv.Itoa(payload), "-window", strconv.Itoa(window))
		return run, err
	}
	args := []string{"--udp", "--bitrate", "0", "--length", strconv.Itoa(payload)}
	if window > 0 {
		args = append(args, "--window", strconv.Itoa(window))
	}
	out, err := t.iperf(ctx, cfg, args...)
	if err != nil {
		return UDPRun{}, err
	}
	return parseIperfUDP(out, payload)
}

// ping sends cfg.Pings echo requests cfg.PingInterval apart and collects
// every round-trip time.
func (t *topo) ping(ctx context.Context, cfg Config) (PingRun, error) {
	interval := strconv.FormatFloat(cfg.PingInterval.Seconds(), 'f', -1, 64)
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Pings)*cfg.PingInterval+30*time.Second)
	defer cancel()
	// ping exits 1 when some replies are missing; the count says how many.
	out, err := t.a.exec(runCtx, "ping", "-n", "-c", strconv.Itoa(cfg.Pings), "-i", interval, "-W", "2", t.dst)
	if ctx.Err() != nil {
		return PingRun{}, ctx.Err()
	}
	p := parsePing(string(out), cfg.Pings)
	if p.Received == 0 {
		return p, fmt.Errorf("ping %s: no reply: %v", t.dst, err)
	}
	return p, nil
}

// cpuTicks reads utime and stime of every vtepd.
func (t *topo) cpuTicks() ([]ProcCPU, error) {
	var out []ProcCPU
	for _, p := range t.vtepds {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
		if err != nil {
			return nil, fmt.Errorf("vtepd CPU time: %w", err)
		}
		u, s, err := parseProcStat(data)
		if err != nil {
			return nil, fmt.Errorf("vtepd CPU time: %w", err)
		}
		out = append(out, ProcCPU{PID: p.pid(), UTime: u, STime: s})
	}
	return out, nil
}

// cpuRun is the CPU time the vtepds spent between before and after, per
// GB of the bytes received in that time.
func cpuRun(before, after []ProcCPU, ticksPerSecond int, bytes int64) *CPURun {
	c := &CPURun{ClockTicks: ticksPerSecond, GB: float64(bytes) / 1e9}
	var ticks, user int64
	for i := range after {
		d := ProcCPU{PID: after[i].PID, UTime: after[i].UTime - before[i].UTime, STime: after[i].STime - before[i].STime}
		c.Procs = append(c.Procs, d)
		ticks += d.UTime + d.STime
		user += d.UTime
	}
	c.Seconds = float64(ticks) / float64(ticksPerSecond)
	if c.GB > 0 {
		c.SecondsPerGB = c.Seconds / c.GB
		c.UserSecondsPerGB = float64(user) / float64(ticksPerSecond) / c.GB
	}
	return c
}

// clockTicks is the unit of /proc/PID/stat times (sysconf(_SC_CLK_TCK)),
// 100 on nearly every Linux.
func clockTicks(ctx context.Context) int {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

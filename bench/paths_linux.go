package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vtepd/vtepd/control"
)

// The topology every path shares: host a and host b, each a namespace,
// joined by a veth pair (eth0 at both ends) on the underlay below. Only
// addresses inside these namespaces are ever used.
const (
	underlayA   = "10.201.0.1"
	underlayB   = "10.201.0.2"
	underlayLen = "/24"

	vni       = "42"
	vxlanPort = "4789" // IANA's VXLAN port, RFC 7348 section 5
	vxlanDev  = "vx42" // vtepd's TAP and the kernel device alike
	overlayA  = "192.168.42.1"
	overlayB  = "192.168.42.2"

	// IPIP: each host owns a /24 behind its tunnel and routes the other's
	// through it, as a pod network would.
	ipipDev    = "ipip0"
	ipipA      = "10.244.0.1"
	ipipB      = "10.244.1.1"
	ipipNetA   = "10.244.0.0/24"
	ipipNetB   = "10.244.1.0/24"
	ipipPrefix = "/24"
)

// topo is one path's pair of hosts and what runs in them.
type topo struct {
	path string
	a, b *netns
	dst  string // b's address on the path: what traffic is sent to

	procs  []*proc  // every process started, in start order
	vtepds []*proc  // the vtepd processes, a then b
	ctls   []string // their control sockets
	dir    string   // where the control sockets live
}

// newTopo makes two fresh namespaces joined by a veth pair with the
// underlay addresses, then sets up path on top. On failure what was made is
// removed again.
func newTopo(ctx context.Context, cfg Config, dir, path string) (t *topo, err error) {
	t = &topo{path: path, dir: dir}
	defer func() {
		if err != nil {
			t.close()
			t = nil
		}
	}()
	if t.a, err = newNetns(ctx, "a"); err != nil {
		return t, err
	}
	if t.b, err = newNetns(ctx, "b"); err != nil {
		return t, err
	}
	if err = t.a.ip(ctx, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", t.b.name); err != nil {
		return t, err
	}
	for _, h := range []struct {
		ns   *netns
		addr string
	}{{t.a, underlayA}, {t.b, underlayB}} {
		if err = h.ns.ip(ctx, "addr", "add", h.addr+underlayLen, "dev", "eth0"); err != nil {
			return t, err
		}
		if err = h.ns.ip(ctx, "link", "set", "eth0", "up"); err != nil {
			return t, err
		}
	}
	switch path {
	case PathVeth:
		t.dst = underlayB
	case PathKernelVXLAN:
		t.dst = overlayB
		err = t.kernelVXLAN(ctx)
	case PathVtepdVXLAN, PathVtepdVXLANOneThread, PathVtepdVXLANPlain:
		t.dst = overlayB
		extra := vtepdArgs(cfg, path)
		err = t.vtepd(ctx, cfg,
			append([]string{"--vni", vni, "--local", underlayA, "--remote", underlayB, "--addr", overlayA + "/24"}, extra...),
			append([]string{"--vni", vni, "--local", underlayB, "--remote", underlayA, "--addr", overlayB + "/24"}, extra...))
	case PathVtepdIPIP, PathVtepdIPIPFanout, PathVtepdIPIPPlain:
		t.dst = ipipB
		extra := vtepdArgs(cfg, path)
		err = t.vtepd(ctx, cfg,
			append([]string{"--mode", "ipip", "--local", underlayA, "--name", ipipDev, "--addr", ipipA + ipipPrefix, "--route", ipipNetB + "=" + underlayB}, extra...),
			append([]string{"--mode", "ipip", "--local", underlayB, "--name", ipipDev, "--addr", ipipB + ipipPrefix, "--route", ipipNetA + "=" + underlayA}, extra...))
	default:
		err = fmt.Errorf("no path %q", path)
	}
	if err != nil {
		return t, err
	}
	return t, t.waitReachable(ctx)
}

// kernelVXLAN gives both hosts a kernel vxlan device with the parameters
// vtepd gets: VNI, port, local and remote endpoint.
func (t *topo) kernelVXLAN(ctx context.Context) error {
	for _, h := range []struct {
		ns                  *netns
		local, remote, addr string
	}{{t.a, underlayA, underlayB, overlayA}, {t.b, underlayB, underlayA, overlayB}} {
		steps := [][]string{
			{"link", "add", vxlanDev, "type", "vxlan", "id", vni, "dstport", vxlanPort,
				"local", h.local, "remote", h.remote, "dev", "eth0"},
			{"addr", "add", h.addr + "/24", "dev", vxlanDev},
			{"link", "set", vxlanDev, "up"},
		}
		for _, s := range steps {
			if err := h.ns.ip(ctx, s...); err != nil {
				return err
			}
		}
	}
	return nil
}

// vtepd starts one vtepd per host with the given flags and waits until
// both answer on their control sockets.
func (t *topo) vtepd(ctx context.Context, cfg Config, argsA, argsB []string) error {
	for i, h := range []struct {
		ns   *netns
		args []string
	}{{t.a, argsA}, {t.b, argsB}} {
		sock := filepath.Join(t.dir, fmt.Sprintf("%s-%c.sock", t.path, 'a'+i))
		args := append([]string{cfg.Vtepd}, h.args...)
		args = append(args, "--control", sock, "--log-level", "warn")
		p, err := h.ns.startEnv(vtepdEnv(t.path), args...)
		if err != nil {
			return err
		}
		t.procs = append(t.procs, p)
		t.vtepds = append(t.vtepds, p)
		t.ctls = append(t.ctls, sock)
	}
	for i, p := range t.vtepds {
		err := pollUntil(ctx, 15*time.Second, "vtepd's control socket "+t.ctls[i], func() error {
			if err := p.exitedErr("vtepd"); err != nil {
				return err
			}
			_, err := vtepctl(ctx, cfg, t.ctls[i], "stats")
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// vtepctl runs vtepctl against the control socket sock. Unix sockets are
// files, so this works from the harness's own namespace.
func vtepctl(ctx context.Context, cfg Config, sock string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, cfg.Vtepctl, append([]string{"--control", sock}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("vtepctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// vtepdStats is `vtepctl stats --json` of both ends.
func (t *topo) vtepdStats(ctx context.Context, cfg Config) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for _, sock := range t.ctls {
		out, err := vtepctl(ctx, cfg, sock, "stats", "--json")
		if err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, out); err != nil {
			return nil, fmt.Errorf("vtepctl stats --json: %w: %.80q", err, out)
		}
		all = append(all, json.RawMessage(compact.Bytes()))
	}
	return all, nil
}

// workerTimes reads the clock of every worker of both vtepds (none on
// other paths): up and busy seconds, by vtepd, stats entry and queue.
func (t *topo) workerTimes(ctx context.Context, cfg Config) (map[string]workerTime, error) {
	all, err := t.vtepdStats(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := map[string]workerTime{}
	for i, out := range all {
		var stats []control.NetworkStats
		if err := json.Unmarshal(out, &stats); err != nil {
			return nil, fmt.Errorf("vtepctl stats --json: %w: %.80q", err, out)
		}
		for _, s := range stats {
			for _, q := range s.Queues {
				if q.WorkerUpSeconds > 0 {
					m[fmt.Sprintf("%d/%s/%d", i, s.Name, q.Queue)] = workerTime{q.WorkerUpSeconds, q.WorkerBusySeconds}
				}
			}
		}
	}
	return m, nil
}

// waitReachable pings b from a until a reply comes back: ARP resolved,
// MACs learnt, routes in place.
func (t *topo) waitReachable(ctx context.Context) error {
	return pollUntil(ctx, 20*time.Second, fmt.Sprintf("%s to reach %s over %s", t.a.name, t.dst, t.path), func() error {
		for _, p := range t.vtepds {
			if err := p.exitedErr("vtepd"); err != nil {
				return err
			}
		}
		_, err := t.a.exec(ctx, "ping", "-n", "-c", "1", "-W", "1", t.dst)
		return err
	})
}

// checkVtepds returns an error when a vtepd has died during a run.
func (t *topo) checkVtepds() error {
	for i, p := range t.vtepds {
		if gone, err := p.exited(); gone {
			return fmt.Errorf("vtepd in %s exited during the run (%v): %s", []*netns{t.a, t.b}[i].name, err, p.tail())
		}
	}
	return nil
}

// close stops every process in reverse start order (vtepd removes its
// device and socket on SIGTERM), then removes both namespaces.
func (t *topo) close() error {
	for i := len(t.procs) - 1; i >= 0; i-- {
		t.procs[i].stop()
	}
	var errs []string
	for _, n := range []*netns{t.a, t.b} {
		if n == nil {
			continue
		}
		if err := n.remove(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing the namespaces of %s: %s", t.path, strings.Join(errs, "; "))
	}
	return nil
}

// vtepdEnv is what a path adds to its vtepds' environment: the one-thread
// path runs Go's scheduler with one processor. It is the environment, not
// a flag, because that is how any Go program is told, and vtepd's default
// queues follow it.
func vtepdEnv(path string) []string {
	if path == PathVtepdVXLANOneThread {
		return []string{"GOMAXPROCS=1"}
	}
	return nil
}

// vtepdArgs are the vtepd flags a path adds: the plain paths turn every
// offload off, and -queues sets the queues of all of them.
func vtepdArgs(cfg Config, path string) []string {
	var args []string
	if path == PathVtepdVXLANPlain || path == PathVtepdIPIPPlain {
		args = append(args, "--offload", "off")
	}
	if path == PathVtepdIPIPFanout {
		args = append(args, "--ipip-receive", "fanout")
	}
	if cfg.Queues > 0 {
		args = append(args, "--queues", strconv.Itoa(cfg.Queues))
	}
	return args
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long a stopped process has to exit before it is killed.
const stopGrace = 5 * time.Second

// nsSeq and the pid make namespace names unique: vtb-<pid>-<n>-a.
var nsSeq atomic.Uint64

// ipCmd runs ip(8) with args and returns its combined output.
func ipCmd(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// netns is one network namespace the harness made.
type netns struct{ name string }

func newNetns(ctx context.Context, tag string) (*netns, error) {
	n := &netns{name: fmt.Sprintf("vtb-%d-%d-%s", os.Getpid(), nsSeq.Add(1), tag)}
	if _, err := ipCmd(ctx, "netns", "add", n.name); err != nil {
		return nil, err
	}
	// IPv6 off: router solicitations and MLD reports would otherwise cross
	// the overlay at random moments during the runs.
	for _, dev := range []string{"all", "default", "lo"} {
		_, _ = n.exec(ctx, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/"+dev+"/disable_ipv6")
	}
	if _, err := ipCmd(ctx, "-n", n.name, "link", "set", "lo", "up"); err != nil {
		_ = n.remove()
		return nil, err
	}
	return n, nil
}

// exec runs args inside n and returns stdout; on failure the error carries
// stderr.
func (n *netns) exec(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Own process group: a Ctrl-C at the terminal reaches the harness,
	// which stops what it started in order, rather than every child at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = lastLines(string(out), 3)
		}
		return out, fmt.Errorf("in %s: %s: %w: %s", n.name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// ip runs ip(8) on n's devices (`ip -n NAME args...`).
func (n *netns) ip(ctx context.Context, args ...string) error {
	_, err := ipCmd(ctx, append([]string{"-n", n.name}, args...)...)
	return err
}

// remove kills whatever still runs inside n (only processes the harness
// started can be there: n is its own) and deletes n, which takes its
// devices with it. It runs without a context, since it must also run after
// a cancellation.
func (n *netns) remove() error {
	if out, err := exec.Command("ip", "netns", "pids", n.name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if _, err := ipCmd(context.Background(), "netns", "del", n.name); err != nil {
		return err
	}
	return nil
}

// proc is a long-running process started inside a namespace: vtepd or an
// iperf3 server.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed when reaped
	err  error         // Wait's result, set before done closes

	stopOnce sync.Once
}

// start runs args in the background inside n. `ip netns exec` execs in
// place, so the pid is the program's own and signals reach it.
func (n *netns) start(args ...string) (*proc, error) { return n.startEnv(nil, args...) }

// startEnv is start with env ("NAME=value") added to the harness's own
// environment.
func (n *netns) startEnv(env []string, args ...string) (*proc, error) {
	p := &proc{name: args[0], out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// If the harness dies without its cleanup (SIGKILL), the kernel ends
	// the children too rather than leaving daemons behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd.WaitDelay = stopGrace
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("in %s: start %s: %w", n.name, strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// giveUp is a pollUntil condition's error saying that what it waits for
// can no longer come, such as a process that exited before it was ready.
type giveUp struct{ err error }

func (g giveUp) Error() string { return g.err.Error() }
func (g giveUp) Unwrap() error { return g.err }

// exitedErr is a giveUp error for p, with how it ended and its last words,
// once it has exited; nil while it runs.
func (p *proc) exitedErr(what string) error {
	if gone, err := p.exited(); gone {
		return giveUp{fmt.Errorf("%s exited (%v): %s", what, err, p.tail())}
	}
	return nil
}

// exited reports whether the process is gone, and how it ended.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to stopGrace and then kills.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		if gone, _ := p.exited(); gone {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// tail is the end of what the process wrote, for error messages.
func (p *proc) tail() string { return lastLines(p.out.String(), 8) }

// lockedBuffer is a bytes.Buffer a process writes while the harness reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pollUntil calls cond every 50ms until it returns nil, ctx ends or
// timeout passes; the error then names what was awaited and cond's last
// error. A giveUp error from cond ends the wait at once.
func pollUntil(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var g giveUp
		if errors.As(err, &g) {
			return fmt.Errorf("waiting for %s: %w", what, g.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("waiting for %s", what))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

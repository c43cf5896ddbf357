package netnstest

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long Stop waits after its signal before it kills.
const stopGrace = 5 * time.Second

// Proc is a process started in a namespace by NS.Start.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  lockedBuffer

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start runs args in the background inside n (`ip netns exec`, which execs
// in place, so Pid is the process itself and signals reach it). Its stdout
// and stderr go to a buffer read by Output. When t ends the process is
// stopped like Stop does, and its output is logged if t failed.
//
// The process also gets SIGKILL if the test binary dies first, so a test
// killed by -timeout leaves no daemon behind.
func (n *NS) Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("netnstest: Start: no command")
	}
	p := &Proc{
		name: strings.Join(args, " "),
		done: make(chan struct{}),
	}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A grandchild holding the output pipe must not keep Wait from returning.
	p.cmd.WaitDelay = stopGrace
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", n.Name, p.name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("in %s: output of %s:\n%s", n.Name, p.name, p.Output())
		}
	})
	return p
}

// Stop sends SIGTERM and waits for the process to exit; see StopWith.
func (p *Proc) Stop() error { return p.StopWith(syscall.SIGTERM) }

// StopWith sends sig, waits up to 5 s for the process to exit and kills it
// if it has not. It returns the exit error (nil for a clean exit 0), or an
// error saying the process had to be killed. Only the first call signals;
// later calls return the same result.
func (p *Proc) StopWith(sig syscall.Signal) error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.stopErr = p.waitErr
			return
		default:
		}
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
			p.stopErr = p.waitErr
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("%s: still running %v after %v; killed", p.name, stopGrace, sig)
		}
	})
	return p.stopErr
}

// Done is closed once the process has exited, for whatever reason.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output is everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// lockedBuffer is written by the process's pipe copier and read by tests.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

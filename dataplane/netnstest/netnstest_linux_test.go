package netnstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsListed reports whether `ip netns list` shows name.
func nsListed(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func TestVethPing(t *testing.T) {
	RequireRoot(t)
	var names []string
	t.Run("ping", func(t *testing.T) {
		a, b := NewNS(t, "a"), NewNS(t, "b")
		names = append(names, a.Name, b.Name)
		Veth(t, a, "va", "10.9.0.1/24", b, "vb", "10.9.0.2/24")

		// IPv6 is off on devices made later too, so no stray ND/MLD frames.
		if got := strings.TrimSpace(b.Run(t, "cat", "/proc/sys/net/ipv6/conf/vb/disable_ipv6")); got != "1" {
			t.Errorf("disable_ipv6 on vb: got %q, want \"1\"", got)
		}

		st := a.Ping(t, "10.9.0.2", 3, 20*time.Millisecond)
		if st.Received != 3 {
			t.Errorf("ping 10.9.0.2 from %s: got %d replies, want 3\n%v", a.Name, st.Received, st)
		}
		if !strings.Contains(st.String(), "3 packets transmitted, 3 received, 0% packet loss") {
			t.Errorf("summary: got %q, want it to report 3 of 3", st.String())
		}
		// No route leads out of a namespace: the same probe elsewhere is lost.
		st = a.Ping(t, "10.9.0.3", 1, 0)
		if st.Received != 0 {
			t.Errorf("ping of an absent 10.9.0.3: got %d replies, want 0", st.Received)
		}
	})
	for _, name := range names {
		if nsListed(t, name) {
			t.Errorf("after the test: namespace %s still listed, want it removed", name)
		}
	}
}

func TestDoRunsInNamespace(t *testing.T) {
	a, b := NewNS(t, "a"), NewNS(t, "b")
	Veth(t, a, "va", "10.9.0.1/24", b, "vb", "10.9.0.2/24")

	var ln net.Listener
	if err := b.Do(t, func() (err error) { ln, err = net.Listen("tcp4", "10.9.0.2:0"); return err }); err != nil {
		t.Fatalf("listen in %s: %v", b.Name, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	var conn net.Conn
	if err := a.Do(t, func() (err error) { conn, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		t.Fatalf("dial from %s: %v", a.Name, err)
	}
	defer conn.Close()
	if got := conn.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.9.0.1" {
		t.Errorf("local address of the connection: got %s, want 10.9.0.1", got)
	}
	want := "through the veth"
	if _, err := conn.Write([]byte(want)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("echoed: got %q, want %q", got, want)
	}

	// The caller's namespace is untouched: the veth end is not visible here.
	if _, err := net.InterfaceByName("va"); err == nil {
		t.Error("interface va visible outside the namespace after Do, want it only inside")
	}
	sentinel := errors.New("from f")
	if err := a.Do(t, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do's error: got %v, want %v", err, sentinel)
	}
}

func TestBridgeJoinsHosts(t *testing.T) {
	hub := NewNS(t, "hub")
	hosts := []*NS{NewNS(t, "h1"), NewNS(t, "h2"), NewNS(t, "h3")}
	ports := Bridge(t, hub, "br0", netip.MustParsePrefix("10.9.0.0/24"), hosts...)

	for i, want := range []string{"10.9.0.1/24", "10.9.0.2/24", "10.9.0.3/24"} {
		if got := ports[i].Addr.String(); got != want {
			t.Errorf("port %d address: got %s, want %s", i, got, want)
		}
	}
	for _, from := range ports {
		for _, to := range ports {
			if from.Host == to.Host {
				continue
			}
			t.Run(from.Addr.Addr().String()+"->"+to.Addr.Addr().String(), func(t *testing.T) {
				if st := from.Host.Ping(t, to.Addr.Addr().String(), 2, 10*time.Millisecond); st.Received != 2 {
					t.Errorf("got %d replies, want 2\n%v", st.Received, st)
				}
			})
		}
	}
}

func TestUnderlayOnly(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		wantErr string
	}{
		{"10.1.2.3/24", ""},
		{"", ""},
		{"192.168.1.1/24", "want an address inside 10.0.0.0/8"},
		{"10.1.2.3", "want CIDR"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := checkUnderlay(tc.addr)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStartStop(t *testing.T) {
	a := NewNS(t, "a")
	t.Run("runs inside and stops on SIGTERM", func(t *testing.T) {
		p := a.Start(t, "sh", "-c", `trap 'echo bye; exit 3' TERM; ip -o link show; echo ready; while :; do sleep 0.05; done`)
		WaitFor(t, 5*time.Second, "the shell to start", func() bool { return strings.Contains(p.Output(), "ready") })
		if strings.Contains(p.Output(), "eth0") || !strings.Contains(p.Output(), "lo:") {
			t.Errorf("links seen by the process: got\n%s\nwant only lo", p.Output())
		}
		err := p.Stop()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Errorf("Stop: got %v, want exit status 3 from the TERM trap", err)
		}
		if !strings.Contains(p.Output(), "bye") {
			t.Errorf("output: got %q, want it to end with the trap's bye", p.Output())
		}
	})
	t.Run("killed when it ignores the signal", func(t *testing.T) {
		p := a.Start(t, "sh", "-c", `trap '' INT; echo ready; while :; do sleep 0.05; done`)
		WaitFor(t, 5*time.Second, "the shell to start", func() bool { return strings.Contains(p.Output(), "ready") })
		err := p.StopWith(syscall.SIGINT)
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("StopWith(SIGINT): got %v, want an error saying it was killed", err)
		}
	})
	t.Run("cleanup stops what the test left running", func(t *testing.T) {
		var p *Proc
		t.Run("inner", func(t *testing.T) {
			p = a.Start(t, "sleep", "60")
		})
		select {
		case <-p.Done():
		default:
			t.Errorf("pid %d still running after its test ended, want it stopped", p.Pid())
		}
	})
}

func TestSetTxChecksum(t *testing.T) {
	a, b := NewNS(t, "a"), NewNS(t, "b")
	Veth(t, a, "va", "10.9.0.1/24", b, "vb", "10.9.0.2/24")
	if !a.txChecksum(t, "va") {
		t.Fatal("tx checksum offload of a new veth: got off, want on (the kernel's default)")
	}
	for _, on := range []bool{false, true} {
		a.SetTxChecksum(t, "va", on)
		if got := a.txChecksum(t, "va"); got != on {
			t.Errorf("after SetTxChecksum(%v): got %v, want %v", on, got, on)
		}
	}
}

// TestCleanupAfterPanic runs a test that panics in a child test binary and
// checks that its namespaces and processes are gone afterwards.
func TestCleanupAfterPanic(t *testing.T) {
	if os.Getenv("NETNSTEST_PANIC_CHILD") == "1" {
		a := NewNS(t, "panic")
		b := NewNS(t, "panic")
		Veth(t, a, "va", "10.9.0.1/24", b, "vb", "10.9.0.2/24")
		p := a.Start(t, "sleep", "60")
		fmt.Printf("child pid %d\n", p.Pid())
		panic("on purpose")
	}
	RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterPanic$", "-test.v")
	cmd.Env = append(os.Environ(), "NETNSTEST_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "on purpose") {
		t.Fatalf("child test: got %v\n%s\nwant it to fail with the panic", err, out)
	}
	prefix := fmt.Sprintf("vt-panic-%d-", cmd.Process.Pid)
	list, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(list), prefix) {
		t.Errorf("ip netns list after the panic: got\n%s\nwant no %s* namespace", list, prefix)
	}
	var sleepPid int
	i := strings.Index(string(out), "child pid ")
	if i < 0 {
		t.Fatalf("child output: got\n%s\nwant a line \"child pid N\"", out)
	}
	if _, err := fmt.Sscanf(string(out[i:]), "child pid %d", &sleepPid); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	if err := syscall.Kill(sleepPid, 0); err == nil {
		t.Errorf("process %d started in the panicking test: still running, want it stopped", sleepPid)
	}
}

// TestSweepStale: a namespace named as NewNS names them whose test binary
// is gone is deleted; one of a live binary, and one with a process inside,
// are not.
func TestSweepStale(t *testing.T) {
	RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone := fmt.Sprintf("vt-sweep-%d-1", dead.Process.Pid)
	live := fmt.Sprintf("vt-sweep-%d-999", os.Getpid())
	for _, name := range []string{gone, live} {
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	}
	removed := sweepStale()
	if !slices.Contains(removed, gone) || slices.Contains(removed, live) {
		t.Errorf("swept %v; want %s and not %s", removed, gone, live)
	}
	if nsListed(t, gone) || !nsListed(t, live) {
		t.Errorf("after the sweep: %s listed %v, %s listed %v; want gone and kept", gone, nsListed(t, gone), live, nsListed(t, live))
	}
}

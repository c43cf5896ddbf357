package dataplane

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestBusyPollKeep(t *testing.T) {
	var off busyPoll
	off.start()
	if off.keep() {
		t.Error("without a spin: keep said try again")
	}
	b := busyPoll{spin: 30 * time.Millisecond}
	b.start()
	if !b.keep() {
		t.Error("inside the spin: keep said park")
	}
	time.Sleep(40 * time.Millisecond)
	if b.keep() {
		t.Error("after the spin: keep said try again")
	}
}

// TestDrainerBusyPolls: a read that busy polls finds a frame that comes
// during its spin, without parking; one that does not returns at once
// with nothing.
func TestDrainerBusyPolls(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	rf, wf := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	defer rf.Close()
	defer wf.Close()
	rc, err := rf.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)

	var once drainer
	once.fn = once.read
	go func() { time.Sleep(20 * time.Millisecond); wf.Write([]byte("late")) }()
	if n, err := once.readNow(rc, buf); n != -1 || err != nil {
		t.Errorf("without busy polling: got %d, %v, want -1 (nothing yet) at once", n, err)
	}

	spin := drainer{poll: busyPoll{spin: 2 * time.Second}}
	spin.fn = spin.read
	start := time.Now()
	n, err := spin.readNow(rc, buf)
	if err != nil || string(buf[:max(n, 0)]) != "late" {
		t.Errorf("busy polling 2 s: got %d bytes %q, %v; want the frame written 20 ms in", n, buf[:max(n, 0)], err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("busy polling: took %v to find a frame written 20 ms in", took)
	}
}

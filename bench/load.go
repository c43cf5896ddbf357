package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The load generator is what Run measures with where iperf3 is missing (a
// host without a package manager): a plain TCP sender and receiver and a
// UDP blaster, nothing in the timed loops but write(2) and read(2) of a
// buffer made once. cmd/vtepload wraps it as a program.
//
// One server answers on one port, TCP and UDP. A TCP connection opens with
// a line that says what it is for:
//
//	tcp            a data stream: the server reads to EOF, then answers
//	               with the bytes it read, in decimal, and a newline
//	udp WINDOW MS  a UDP test's control: the server zeroes its datagram
//	               count, asks for WINDOW bytes of receive buffer (0: the
//	               socket's own size), answers "ok RCVBUF" (what the kernel
//	               granted), waits up to MS milliseconds and loadGrace more
//	               for "end", gives late datagrams loadDrain to arrive, and
//	               answers "PACKETS BYTES"
//
// A client that vanishes (its path broke mid-test) is given up after
// loadGrace of silence, so that the next test finds the server free.
const loadDrain = 200 * time.Millisecond

var loadGrace = 30 * time.Second // a variable for the tests

// loadChunk is the size of each write of a TCP sender.
const loadChunk = 128 << 10

// LoadServer is a running load-generator server.
type LoadServer struct {
	tcp *net.TCPListener
	udp *net.UDPConn
	wg  sync.WaitGroup

	rcvbuf  int        // the UDP socket's receive buffer as opened
	mu      sync.Mutex // one UDP test at a time
	packets atomic.Int64
	bytes   atomic.Int64

	connMu sync.Mutex
	conns  map[net.Conn]bool // open connections, closed by Close
	closed bool
}

// ListenLoad starts a server on addr (host:port; port 0 picks one).
func ListenLoad(addr string) (*LoadServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tl := l.(*net.TCPListener)
	port := tl.Addr().(*net.TCPAddr).Port
	host, _, _ := net.SplitHostPort(addr)
	u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		tl.Close()
		return nil, err
	}
	s := &LoadServer{tcp: tl, udp: u.(*net.UDPConn), conns: map[net.Conn]bool{}}
	s.rcvbuf = setBuffer(s.udp, syscall.SO_RCVBUF, 0)
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
	return s, nil
}

// Addr is the address the server listens on, TCP and UDP alike.
func (s *LoadServer) Addr() string { return s.tcp.Addr().String() }

// Close stops the server, ends the tests under way and waits for its
// goroutines.
func (s *LoadServer) Close() error {
	err := errors.Join(s.tcp.Close(), s.udp.Close())
	s.connMu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return err
}

// track adds c to the open connections, or reports false once closed.
func (s *LoadServer) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = true
	return true
}

func (s *LoadServer) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	c.Close()
}

func (s *LoadServer) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := s.udp.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.packets.Add(1)
		s.bytes.Add(int64(n))
	}
}

func (s *LoadServer) acceptLoop() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer s.untrack(c)
			s.serve(c)
		}()
	}
}

// serve handles one connection by its first line.
func (s *LoadServer) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, loadChunk)
	_ = c.SetReadDeadline(time.Now().Add(loadGrace))
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && f[0] == "tcp":
		n, err := drain(c, r)
		if err == nil {
			fmt.Fprintf(c, "%d\n", n)
		}
	case len(f) == 3 && f[0] == "udp":
		window, werr := strconv.Atoi(f[1])
		ms, merr := strconv.ParseInt(f[2], 10, 64)
		if werr != nil || merr != nil || window < 0 || ms < 0 {
			fmt.Fprintf(c, "error: want udp WINDOW MS, got %q\n", strings.TrimSpace(line))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		// The kernel doubles what is asked (its own overhead): half the
		// size the socket had is that size again.
		want := window
		if want == 0 {
			want = s.rcvbuf / 2
		}
		granted := setBuffer(s.udp, syscall.SO_RCVBUF, want)
		s.packets.Store(0)
		s.bytes.Store(0)
		fmt.Fprintf(c, "ok %d\n", granted)
		_ = c.SetReadDeadline(time.Now().Add(time.Duration(ms)*time.Millisecond + loadGrace))
		if end, err := r.ReadString('\n'); err != nil || strings.TrimSpace(end) != "end" {
			return
		}
		time.Sleep(loadDrain)
		fmt.Fprintf(c, "%d %d\n", s.packets.Load(), s.bytes.Load())
	default:
		fmt.Fprintf(c, "error: want \"tcp\" or \"udp WINDOW MS\", got %q\n", strings.TrimSpace(line))
	}
}

// drain reads a data stream to its end and returns its length; a stream
// silent for loadGrace is given up.
func drain(c net.Conn, r *bufio.Reader) (int64, error) {
	buf := make([]byte, loadChunk)
	var n int64
	for {
		_ = c.SetReadDeadline(time.Now().Add(loadGrace))
		k, err := r.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// setBuffer asks for size bytes of socket buffer (opt: SO_RCVBUF or
// SO_SNDBUF) when size > 0 and returns what the socket has then (twice
// the request, up to net.core.[rw]mem_max; the kernel counts its overhead).
func setBuffer(c syscall.Conn, opt, size int) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	got := 0
	_ = rc.Control(func(fd uintptr) {
		if size > 0 {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size)
		}
		got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt)
	})
	return got
}

// LoadTCP sends to the server at addr over flows connections for d and
// returns what was sent and what the server read: Seconds from the first
// write until the server has counted the last byte.
func LoadTCP(ctx context.Context, addr string, flows int, d time.Duration) (TCPRun, error) {
	run := TCPRun{Flows: flows}
	conns := make([]*net.TCPConn, 0, flows)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var dialer net.Dialer
	for range flows {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return run, fmt.Errorf("load generator: %w", err)
		}
		conns = append(conns, c.(*net.TCPConn))
		if _, err := io.WriteString(c, "tcp\n"); err != nil {
			return run, fmt.Errorf("load generator: %w", err)
		}
	}
	var sent, received atomic.Int64
	errs := make([]error, flows)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sendTCP(c, deadline, &sent, &received)
		}()
	}
	wg.Wait()
	run.Seconds = time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		return run, fmt.Errorf("load generator: %w", err)
	}
	run.BytesSent, run.BytesReceived = sent.Load(), received.Load()
	if run.Seconds > 0 {
		run.Gbps = float64(run.BytesReceived) * 8 / run.Seconds / 1e9
	}
	return run, nil
}

// sendTCP writes one buffer over and over until deadline, closes its side
// and reads the server's count.
func sendTCP(c *net.TCPConn, deadline time.Time, sent, received *atomic.Int64) error {
	buf := make([]byte, loadChunk)
	if err := c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	for {
		n, err := c.Write(buf)
		sent.Add(int64(n))
		if isTimeout(err) {
			break
		}
		if err != nil {
			return err
		}
	}
	// What a timed-out write left half-written is still sent in full
	// by the kernel or not at all; the server's count is what counts.
	_ = c.SetWriteDeadline(time.Time{})
	if err := c.CloseWrite(); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the server's count: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return fmt.Errorf("server: %s", strings.TrimSpace(line))
	}
	received.Add(n)
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// LoadUDP sends payload-byte datagrams to the server at addr as fast as
// it can for d, with window bytes of socket buffer at both ends (0: the
// defaults), and returns what the server counted.
func LoadUDP(ctx context.Context, addr string, payload, window int, d time.Duration) (UDPRun, error) {
	run := UDPRun{Payload: payload}
	var dialer net.Dialer
	ctl, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return run, fmt.Errorf("load generator: %w", err)
	}
	defer ctl.Close()
	_ = ctl.SetDeadline(time.Now().Add(d + 30*time.Second))
	r := bufio.NewReader(ctl)
	fmt.Fprintf(ctl, "udp %d %d\n", window, d.Milliseconds())
	line, err := r.ReadString('\n')
	if err != nil {
		return run, fmt.Errorf("load generator: %w", err)
	}
	if _, err := fmt.Sscanf(line, "ok %d", &run.RcvbufActual); err != nil {
		return run, fmt.Errorf("load generator: server: %s", strings.TrimSpace(line))
	}
	uc, err := dialer.DialContext(ctx, "udp", addr)
	if err != nil {
		return run, fmt.Errorf("load generator: %w", err)
	}
	defer uc.Close()
	u := uc.(*net.UDPConn)
	setBuffer(u, syscall.SO_SNDBUF, window)
	buf := make([]byte, payload)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; ; i++ {
		// The clock is read once every 64 datagrams: a send of 64 bytes
		// takes about a microsecond.
		if i%64 == 0 && time.Now().After(deadline) {
			break
		}
		if _, err := u.Write(buf); err != nil {
			// A full queue (ENOBUFS) or the far end's ICMP error of an
			// earlier datagram: not sent, not counted.
			continue
		}
		run.PacketsSent++
	}
	run.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(ctl, "end\n")
	line, err = r.ReadString('\n')
	if err != nil {
		return run, fmt.Errorf("load generator: reading the server's count: %w", err)
	}
	var bytes int64
	if _, err := fmt.Sscanf(line, "%d %d", &run.PacketsReceived, &bytes); err != nil {
		return run, fmt.Errorf("load generator: server: %s", strings.TrimSpace(line))
	}
	run.PacketsLost = max(run.PacketsSent-run.PacketsReceived, 0)
	if run.PacketsSent > 0 {
		run.LossPercent = float64(run.PacketsLost) * 100 / float64(run.PacketsSent)
	}
	if run.Seconds > 0 {
		run.PPS = float64(run.PacketsReceived) / run.Seconds
	}
	return run, nil
}

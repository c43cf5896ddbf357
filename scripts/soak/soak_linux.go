package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The lab: two hosts, one VXLAN network between them. Only 10.x addresses,
// and only inside the two namespaces the soak makes.
const (
	vni     = 42
	dev     = "vx42" // vtepd's default name for VNI 42
	tcpPort = 5201

	// stopGrace is how long a daemon has to exit after SIGTERM.
	stopGrace = 5 * time.Second
	// A measurement polls every sampleGap until samplesAfterGC samples
	// follow a garbage collection, for at most gcWait (see host.measure).
	sampleGap      = 100 * time.Millisecond
	samplesAfterGC = 5
	gcWait         = 20 * time.Second
	progressEvery  = 10 * time.Second
)

// etherTypeLocal is IEEE 802 Local Experimental EtherType 1 (IEEE Std
// 802-2014, 9.2.2): the injected frames carry it so that no protocol stack
// on the far side acts on them.
const etherTypeLocal = 0x88b5

// host is one namespace with its vtepd.
type host struct {
	label             string // "a" or "b"
	ns                string // the namespace's name
	handle            netns.NsHandle
	under, peer, over string // underlay address, the peer's, overlay address
	vtepd             *proc
	logPath           string
	client            *http.Client // scrapes the host's /metrics from inside it
	metricsURL        string
}

// lab is everything the soak made, to be removed in reverse order.
type lab struct {
	work  string
	hosts []*host
	undo  []func()
}

func (l *lab) cleanup() {
	for i := len(l.undo) - 1; i >= 0; i-- {
		l.undo[i]()
	}
}

func run(ctx context.Context, o options) (pass bool, err error) {
	if os.Geteuid() != 0 {
		return false, errors.New("needs root to create network namespaces: sudo make soak")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, errors.New("needs iproute2 (the ip command)")
	}
	bin, err := filepath.Abs(o.vtepd)
	if err != nil {
		return false, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return false, fmt.Errorf("-vtepd %s: no such program: run make build", o.vtepd)
	}

	l := &lab{}
	defer l.cleanup()
	if err := l.setUp(ctx, bin, o); err != nil {
		return false, err
	}
	for _, h := range l.hosts {
		if err := h.waitReady(ctx); err != nil {
			return false, err
		}
	}

	tr, err := startTraffic(ctx, l.hosts[0], l.hosts[1], o)
	if err != nil {
		return false, err
	}
	defer tr.stop()

	fmt.Printf("soak: warm-up %v, then %v of churn: TCP %s -> %s:%d at %s, %d random source MACs/s into each TAP; vtepd --ageing %v --limit %d\n",
		o.warmup, o.duration, l.hosts[0].over, l.hosts[1].over, tcpPort, pace(o.tcpMbps), o.macRate, o.ageing, o.limit)
	if err := l.churn(ctx, tr, o.warmup, 0); err != nil {
		return false, err
	}
	start, err := l.measure(ctx, "start")
	if err != nil {
		return false, err
	}
	if err := l.churn(ctx, tr, o.duration, o.warmup); err != nil {
		return false, err
	}
	end, err := l.measure(ctx, "end")
	if err != nil {
		return false, err
	}
	tr.stop()

	fmt.Println()
	names := make([]string, len(l.hosts))
	all := make([][]check, len(l.hosts))
	for i, h := range l.hosts {
		names[i] = h.label
		all[i] = verdict(start[i], end[i])
	}
	pass = printVerdict(os.Stdout, names, all)
	fmt.Println()
	if err := l.summary(tr); err != nil {
		return false, err
	}
	if err := tr.err(); err != nil {
		return false, err
	}
	for _, h := range l.hosts {
		if err := h.vtepd.stop(); err != nil {
			return false, fmt.Errorf("vtepd %s: %v after SIGTERM; its log ends:\n%s", h.label, err, tail(h.logPath))
		}
	}
	if o.verbose {
		for _, h := range l.hosts {
			fmt.Printf("\n--- vtepd %s log\n%s", h.label, readFile(h.logPath))
		}
	}
	return pass, nil
}

func pace(mbps int) string {
	if mbps == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%d Mbit/s", mbps)
}

// setUp makes the namespaces, the cable between them and the daemons,
// registering the removal of each before the next step.
func (l *lab) setUp(ctx context.Context, bin string, o options) error {
	work, err := os.MkdirTemp("", "vtepd-soak.")
	if err != nil {
		return err
	}
	l.work = work
	l.undo = append(l.undo, func() { _ = os.RemoveAll(work) })

	pid := os.Getpid()
	l.hosts = []*host{
		{label: "a", ns: fmt.Sprintf("vt-soak-%d-a", pid), handle: netns.None(), under: "10.78.0.1", peer: "10.78.0.2", over: "10.79.42.1"},
		{label: "b", ns: fmt.Sprintf("vt-soak-%d-b", pid), handle: netns.None(), under: "10.78.0.2", peer: "10.78.0.1", over: "10.79.42.2"},
	}
	for _, h := range l.hosts {
		if err := ip(ctx, "netns", "add", h.ns); err != nil {
			return err
		}
		l.undo = append(l.undo, h.remove)
		h.handle, err = netns.GetFromName(h.ns)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", h.ns, err)
		}
		// IPv6 off: router solicitations and MLD reports would cross the
		// overlay at random moments.
		if err := ip(ctx, "netns", "exec", h.ns, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			return err
		}
		if err := ip(ctx, "-n", h.ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	a, b := l.hosts[0], l.hosts[1]
	if err := ip(ctx, "-n", a.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.ns); err != nil {
		return err
	}
	for _, h := range l.hosts {
		if err := ip(ctx, "-n", h.ns, "addr", "add", h.under+"/24", "dev", "eth0"); err != nil {
			return err
		}
		if err := ip(ctx, "-n", h.ns, "link", "set", "eth0", "up"); err != nil {
			return err
		}
	}
	for _, h := range l.hosts {
		h.logPath = filepath.Join(work, "vtepd-"+h.label+".log")
		metrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.metricsPort))
		h.metricsURL = "http://" + metrics + "/metrics"
		h.client = h.httpClient()
		args := []string{"netns", "exec", h.ns, bin,
			"--vni", strconv.Itoa(vni), "--local", h.under, "--remote", h.peer, "--addr", h.over + "/24",
			"--ageing", o.ageing.String(), "--limit", strconv.Itoa(o.limit),
			"--control", filepath.Join(work, "vtepd-"+h.label+".sock"), "--metrics", metrics}
		if h.vtepd, err = startProc(h.logPath, "ip", args...); err != nil {
			return fmt.Errorf("vtepd %s: %w", h.label, err)
		}
		l.undo = append(l.undo, func() { _ = h.vtepd.stop() })
	}
	return nil
}

// remove stops whatever still runs in the namespace (only what the soak
// started can be there) and deletes it, which takes its devices along.
func (h *host) remove() {
	if out, err := exec.Command("ip", "netns", "pids", h.ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if h.handle.IsOpen() {
		_ = h.handle.Close()
	}
	if out, err := exec.Command("ip", "netns", "del", h.ns).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: ip netns del %s: %v: %s\n", h.ns, err, strings.TrimSpace(string(out)))
		return
	}
	fmt.Fprintf(os.Stderr, "soak: removed namespace %s\n", h.ns)
}

// ip runs ip(8); a failure carries its output.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNS runs fn on an OS thread switched into ns. Sockets fn opens stay in
// ns and may be used from any goroutine afterwards.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and ends with this goroutine, rather
			// than run other goroutines in the wrong namespace.
			errc <- fmt.Errorf("leaving namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// httpClient dials from inside the host, where vtepd's metrics listen on
// loopback. No keep-alive: each scrape is alike, one connection of its own.
func (h *host) httpClient() *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNS(h.handle, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
	}
}

func (h *host) scrape(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.metricsURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("vtepd %s: metrics: %w", h.label, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("vtepd %s: metrics: %w", h.label, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("vtepd %s: metrics: %s", h.label, resp.Status)
	}
	return string(body), nil
}

// waitReady waits until the TAP carries its address and /metrics answers.
func (h *host) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if gone, err := h.vtepd.exited(); gone {
			return fmt.Errorf("vtepd %s exited at start (%v); its log ends:\n%s", h.label, err, tail(h.logPath))
		}
		out, _ := exec.CommandContext(ctx, "ip", "-n", h.ns, "-o", "addr", "show", "dev", dev).Output()
		_, serr := h.scrape(ctx)
		if strings.Contains(string(out), "inet "+h.over+"/") && serr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vtepd %s: not ready after 15s (%s with %s, metrics: %v); its log ends:\n%s",
				h.label, dev, h.over, serr, tail(h.logPath))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sample reads one host's figures once, and how many garbage collections
// it has run.
func (h *host) sample(ctx context.Context) (sample, uint64, error) {
	text, err := h.scrape(ctx)
	if err != nil {
		return sample{}, 0, err
	}
	var s sample
	g, ok1 := metricSum(text, "go_goroutines")
	heap, ok2 := metricSum(text, "go_memstats_heap_inuse_bytes")
	gcs, ok3 := metricSum(text, "go_gc_duration_seconds_count")
	if !ok1 || !ok2 || !ok3 {
		return sample{}, 0, fmt.Errorf("vtepd %s: /metrics lacks go_goroutines, go_memstats_heap_inuse_bytes or go_gc_duration_seconds_count", h.label)
	}
	s.goroutines, s.heapInuse = uint64(g), uint64(heap)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.vtepd.pid()))
	if err != nil {
		return sample{}, 0, fmt.Errorf("vtepd %s: %w", h.label, err)
	}
	if s.rss, err = parseVmRSS(string(status)); err != nil {
		return sample{}, 0, fmt.Errorf("vtepd %s: /proc/%d/status: %w", h.label, h.vtepd.pid(), err)
	}
	return s, uint64(gcs), nil
}

// measure takes one host's figures just after its next garbage collection.
// vtepd allocates little, so its heap in use climbs slowly towards the
// collector's goal (about twice the live data) and drops back at each
// collection, seconds apart: a sample taken anywhere in that cycle could
// read up to double. Right after a collection it reads close to the live
// data, the same way at the start and at the end. The lowest of a few
// samples after the collection counts (lowest). Without a collection
// within gcWait the heap hardly moves, and all samples count.
func (h *host) measure(ctx context.Context) (s sample, afterGC bool, err error) {
	first, gcs, err := h.sample(ctx)
	if err != nil {
		return sample{}, false, err
	}
	all := []sample{first}
	var after []sample
	deadline := time.Now().Add(gcWait)
	for len(after) < samplesAfterGC {
		if time.Now().After(deadline) {
			return lowest(all), false, nil
		}
		select {
		case <-ctx.Done():
			return sample{}, false, ctx.Err()
		case <-time.After(sampleGap):
		}
		s, n, err := h.sample(ctx)
		if err != nil {
			return sample{}, false, err
		}
		all = append(all, s)
		if n > gcs {
			after = append(after, s)
		}
	}
	return lowest(after), true, nil
}

// measure measures every host (see host.measure).
func (l *lab) measure(ctx context.Context, point string) ([]sample, error) {
	out := make([]sample, len(l.hosts))
	for i, h := range l.hosts {
		s, afterGC, err := h.measure(ctx)
		if err != nil {
			return nil, err
		}
		how := "just after a garbage collection"
		if !afterGC {
			how = fmt.Sprintf("no garbage collection within %v: lowest of the samples", gcWait)
		}
		fmt.Printf("soak: %s sample of vtepd %s (%s): %d goroutines, heap in use %.1f MiB, RSS %.1f MiB\n",
			point, h.label, how, s.goroutines, float64(s.heapInuse)/(1<<20), float64(s.rss)/(1<<20))
		out[i] = s
	}
	return out, nil
}

// churn lets the traffic run for d, printing progress, and stops early if
// a daemon or the traffic fails. offset is the time already run, for the
// progress lines.
func (l *lab) churn(ctx context.Context, tr *traffic, d, offset time.Duration) error {
	end := time.Now().Add(d)
	next := time.Now().Add(progressEvery)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, h := range l.hosts {
			if gone, err := h.vtepd.exited(); gone {
				return fmt.Errorf("vtepd %s exited during the soak (%v); its log ends:\n%s", h.label, err, tail(h.logPath))
			}
		}
		if err := tr.err(); err != nil {
			return err
		}
		now := time.Now()
		if !now.Before(end) {
			return nil
		}
		if !now.Before(next) {
			next = next.Add(progressEvery)
			l.progress(ctx, tr, offset+d-end.Sub(now))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (l *lab) progress(ctx context.Context, tr *traffic, at time.Duration) {
	line := fmt.Sprintf("soak: %4.0fs  tcp %7.1f MB  macs sent %7d", at.Seconds(), float64(tr.tcpBytes.Load())/1e6, tr.macFrames.Load())
	for _, h := range l.hosts {
		text, err := h.scrape(ctx)
		if err != nil {
			line += fmt.Sprintf("  | %s: %v", h.label, err)
			continue
		}
		entries, _ := metricSum(text, "vtepd_fdb_entries")
		learnt, _ := metricSum(text, "vtepd_fdb_learn_events_total")
		aged, _ := metricSum(text, "vtepd_fdb_aged_total")
		full, _ := metricSum(text, "vtepd_drops_total", `reason="fdb_full"`)
		gor, _ := metricSum(text, "go_goroutines")
		line += fmt.Sprintf("  | %s: fdb %4.0f learnt %6.0f aged %6.0f full %7.0f goroutines %3.0f", h.label, entries, learnt, aged, full, gor)
	}
	fmt.Println(line)
}

// summary prints what the churn did and refuses a soak that measured an
// idle daemon.
func (l *lab) summary(tr *traffic) error {
	fmt.Printf("traffic: %.1f MB over TCP, %d frames with random source MACs (%d send errors)\n",
		float64(tr.tcpBytes.Load())/1e6, tr.macFrames.Load(), tr.macErrors.Load())
	for _, h := range l.hosts {
		text, err := h.scrape(context.Background())
		if err != nil {
			return err
		}
		rx, _ := metricSum(text, "vtepd_rx_packets_total")
		learnt, _ := metricSum(text, "vtepd_fdb_learn_events_total")
		aged, _ := metricSum(text, "vtepd_fdb_aged_total")
		full, _ := metricSum(text, "vtepd_drops_total", `reason="fdb_full"`)
		fmt.Printf("vtepd %s: %.0f packets received, %.0f MACs learnt, %.0f aged out, %.0f refused at the limit\n",
			h.label, rx, learnt, aged, full)
		if rx == 0 || learnt == 0 {
			return fmt.Errorf("vtepd %s received or learnt nothing: the soak measured an idle daemon", h.label)
		}
	}
	if tr.tcpBytes.Load() == 0 {
		return errors.New("no TCP data crossed the overlay: the soak measured an idle daemon")
	}
	return nil
}

// traffic is the churn: a TCP stream from a to b over the overlay and
// random source MACs injected into both TAPs.
type traffic struct {
	tcpBytes, macFrames, macErrors atomic.Uint64

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	firstErr error
	closers  []io.Closer
}

func (t *traffic) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstErr == nil {
		t.firstErr = err
	}
}

func (t *traffic) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr
}

// stop ends the traffic: it closes the TCP sockets, which ends the calls
// blocked on them, and waits for every goroutine.
func (t *traffic) stop() {
	t.cancel()
	t.mu.Lock()
	cs := t.closers
	t.closers = nil
	t.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	t.wg.Wait()
}

func (t *traffic) closeLater(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closers = append(t.closers, c)
}

func startTraffic(ctx context.Context, a, b *host, o options) (*traffic, error) {
	t := &traffic{}
	ctx, t.cancel = context.WithCancel(ctx)
	var ln net.Listener
	addr := net.JoinHostPort(b.over, strconv.Itoa(tcpPort))
	if err := inNS(b.handle, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		return nil, fmt.Errorf("TCP listener on %s in %s: %w", addr, b.ns, err)
	}
	t.closeLater(ln)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.serve(ctx, ln)
	}()

	var conn net.Conn
	if err := inNS(a.handle, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
		return err
	}); err != nil {
		t.stop()
		return nil, fmt.Errorf("TCP from %s to %s over the overlay: %w", a.ns, addr, err)
	}
	t.closeLater(conn)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.send(ctx, conn, o.tcpMbps)
	}()

	for _, h := range []*host{a, b} {
		var fd int
		if err := inNS(h.handle, func() error {
			var err error
			fd, err = packetSocket(dev)
			return err
		}); err != nil {
			t.stop()
			return nil, fmt.Errorf("packet socket on %s in %s: %w", dev, h.ns, err)
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.inject(ctx, fd, o.macRate)
		}()
	}
	return t, nil
}

// serve reads and drops what the stream brings.
func (t *traffic) serve(ctx context.Context, ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		if ctx.Err() == nil {
			t.fail(fmt.Errorf("TCP accept: %w", err))
		}
		return
	}
	t.closeLater(c)
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		t.tcpBytes.Add(uint64(n))
		if err != nil {
			if ctx.Err() == nil {
				t.fail(fmt.Errorf("TCP stream, receiving end: %w", err))
			}
			return
		}
	}
}

// send writes the stream at mbps (0: as fast as it goes). A write that
// takes 10 s means the overlay stalled: that fails the soak.
func (t *traffic) send(ctx context.Context, c net.Conn, mbps int) {
	buf := make([]byte, 64<<10)
	start := time.Now()
	var sent int64
	for ctx.Err() == nil {
		if mbps > 0 {
			due := start.Add(time.Duration(float64(sent*8) / float64(mbps) * 1e3)) // 1 bit per µs = 1 Mbit/s
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			if ctx.Err() == nil {
				t.fail(fmt.Errorf("TCP stream, sending end: %w", err))
			}
			return
		}
	}
}

// packetSocket opens an AF_PACKET socket that sends on the device name of
// the current namespace and receives nothing (protocol 0).
func packetSocket(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// inject sends rate broadcast frames a second, each from a new random
// unicast, locally administered source MAC, in batches every 10 ms. It
// owns fd and closes it.
func (t *traffic) inject(ctx context.Context, fd, rate int) {
	defer unix.Close(fd)
	if rate == 0 {
		return
	}
	const tick = 10 * time.Millisecond
	frame := make([]byte, 60) // the minimum Ethernet frame, FCS excluded
	copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	frame[12], frame[13] = etherTypeLocal>>8, etherTypeLocal&0xff
	rng := rand.New(rand.NewPCG(uint64(fd), uint64(time.Now().UnixNano())))
	tk := time.NewTicker(tick)
	defer tk.Stop()
	start := time.Now()
	var sent int
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				v := rng.Uint64()
				// 0x02: unicast (bit 0 clear), locally administered (bit 1
				// set), as IEEE 802 reserves for addresses nobody owns.
				copy(frame[6:12], []byte{0x02, byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
				if _, err := unix.Write(fd, frame); err != nil {
					if ctx.Err() != nil {
						return
					}
					t.macErrors.Add(1)
					continue
				}
				t.macFrames.Add(1)
			}
		}
	}
}

// proc is a process the soak started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, set before done closes
	once sync.Once
	serr error
}

// startProc runs name args with its output in logPath. With `ip netns
// exec`, which execs in place, the pid is the program's own.
func startProc(logPath, name string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C reaches the soak, which stops it
	// in order; and killed with the soak if the soak itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits stopGrace before killing; it returns how
// the process ended, nil for a clean exit after SIGTERM.
func (p *proc) stop() error {
	p.once.Do(func() {
		if gone, err := p.exited(); gone {
			p.serr = fmt.Errorf("had already exited: %v", err)
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			p.serr = p.err
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.serr = fmt.Errorf("did not exit within %v of SIGTERM; killed", stopGrace)
		}
	})
	return p.serr
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// tail is the end of a log, for error messages.
func tail(path string) string {
	b := bytes.TrimRight([]byte(readFile(path)), "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// iperfSum is the part of an iperf3 -J summary ("end.sum_sent",
// "end.sum_received") the harness reads.
type iperfSum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
	JitterMS      float64 `json:"jitter_ms"`
	LostPackets   int64   `json:"lost_packets"`
	Packets       int64   `json:"packets"`
	LostPercent   float64 `json:"lost_percent"`
}

type iperfOutput struct {
	Error string `json:"error"`
	Start struct {
		RcvbufActual int64 `json:"rcvbuf_actual"`
	} `json:"start"`
	End struct {
		SumSent     *iperfSum `json:"sum_sent"`
		SumReceived *iperfSum `json:"sum_received"`
	} `json:"end"`
}

func decodeIperf(data []byte) (*iperfOutput, error) {
	var out iperfOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("iperf3 -J output: %w", err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("iperf3: %s", out.Error)
	}
	if out.End.SumSent == nil || out.End.SumReceived == nil {
		return nil, errors.New("iperf3 -J output: no end.sum_sent or end.sum_received")
	}
	return &out, nil
}

// retryable reports whether an iperf3 client's failed output says the
// test never started: the server busy with the previous test, refusing or
// resetting the connection while it sets up its listening socket again
// between tests, or a UDP stream whose one setup datagram or its answer
// was lost ("unable to read from stream socket"; iperf3 does not send it
// again, esnet/iperf#862), as happens when the previous run's flood is
// still draining. Anything else is a real failure.
func retryable(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "busy") || strings.Contains(s, "unable to connect to server") ||
		strings.Contains(s, "unable to read from stream socket")
}

// runIperf runs an iperf3 client with run, up to five times, each run cut
// off after limit: again when its output says retryable, pause later the
// first time and twice as long each time after (a server still draining
// a slow path's queues, on a loaded host, can stay busy for seconds: 15
// pauses in all), and at once when it hung until limit. failed is told of
// every try that fails: its number, whether it hung, and its error. A
// cancelled ctx ends a pause.
func runIperf(ctx context.Context, limit, pause time.Duration, run func(context.Context) ([]byte, error), failed func(try int, hung bool, err error)) ([]byte, error) {
	var lastErr error
	for try := 1; ; try++ {
		runCtx, cancel := context.WithTimeout(ctx, limit)
		out, err := run(runCtx)
		timedOut := errors.Is(runCtx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// iperf3 -J reports its own errors inside the JSON, exit status 1.
		if _, perr := decodeIperf(out); perr != nil {
			err = fmt.Errorf("%w (%v)", err, perr)
		}
		lastErr = err
		failed(try, timedOut, err)
		if try == 5 || !timedOut && !retryable(out) {
			return nil, lastErr
		}
		if timedOut {
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// parseIperfTCP reads an iperf3 -J report of a TCP run. The rate is what
// arrived: the receiver's bytes over the receiver's time.
func parseIperfTCP(data []byte, flows int) (TCPRun, error) {
	out, err := decodeIperf(data)
	if err != nil {
		return TCPRun{}, err
	}
	s, r := out.End.SumSent, out.End.SumReceived
	if r.Seconds <= 0 {
		return TCPRun{}, fmt.Errorf("iperf3 -J output: end.sum_received.seconds is %v", r.Seconds)
	}
	return TCPRun{
		Flows:         flows,
		Seconds:       r.Seconds,
		BytesSent:     s.Bytes,
		BytesReceived: r.Bytes,
		Retransmits:   s.Retransmits,
		Gbps:          float64(r.Bytes) * 8 / r.Seconds / 1e9,
	}, nil
}

// parseIperfUDP reads an iperf3 -J report of a UDP run. iperf3's receiver
// counts a packet lost when its sequence number never arrived, so the
// packets that arrived are the sent ones less the lost ones.
func parseIperfUDP(data []byte, payload int) (UDPRun, error) {
	out, err := decodeIperf(data)
	if err != nil {
		return UDPRun{}, err
	}
	r := out.End.SumReceived
	if r.Seconds <= 0 {
		return UDPRun{}, fmt.Errorf("iperf3 -J output: end.sum_received.seconds is %v", r.Seconds)
	}
	got := max(r.Packets-r.LostPackets, 0)
	u := UDPRun{
		Payload:         payload,
		Seconds:         r.Seconds,
		PacketsSent:     r.Packets,
		PacketsLost:     r.LostPackets,
		PacketsReceived: got,
		PPS:             float64(got) / r.Seconds,
		JitterMS:        r.JitterMS,
		RcvbufActual:    out.Start.RcvbufActual,
	}
	if r.Packets > 0 {
		u.LossPercent = 100 * float64(r.LostPackets) / float64(r.Packets)
	}
	return u, nil
}

// pingReply matches one reply line of iputils ping:
// "64 bytes from 10.201.0.2: icmp_seq=1 ttl=64 time=0.114 ms".
var pingReply = regexp.MustCompile(`icmp_seq=(\d+) .*time=([0-9.]+) ms`)

// parsePing reads ping(8)'s output for a run of sent requests. A sequence
// number seen twice (a duplicate reply) counts once.
func parsePing(out string, sent int) PingRun {
	p := PingRun{Sent: sent}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := pingReply.FindStringSubmatch(sc.Text())
		if m == nil || seen[m[1]] {
			continue
		}
		ms, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		seen[m[1]] = true
		p.RTTMicros = append(p.RTTMicros, ms*1000)
	}
	p.Received = len(p.RTTMicros)
	p.P50Micros = percentile(p.RTTMicros, 50)
	p.P99Micros = percentile(p.RTTMicros, 99)
	return p
}

// parseProcStat returns utime and stime, in clock ticks, from the contents
// of /proc/PID/stat (proc(5): fields 14 and 15). The command name, field 2,
// is in parentheses and may hold spaces, so fields count from its closing
// parenthesis.
func parseProcStat(data []byte) (utime, stime int64, err error) {
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, 0, errors.New("/proc/PID/stat: no command name in parentheses")
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseInt(f[14-3], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc/PID/stat: utime: %w", err)
	}
	if stime, err = strconv.ParseInt(f[15-3], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc/PID/stat: stime: %w", err)
	}
	return utime, stime, nil
}

// MicroResult is one Go benchmark's line of `go test -bench -benchmem`.
type MicroResult struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"` // without the -GOMAXPROCS suffix
	Procs       int     `json:"procs"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// benchProcs splits the "-8" GOMAXPROCS suffix off a benchmark name.
var benchProcs = regexp.MustCompile(`^(.*)-(\d+)$`)

// parseGoBench reads the output of `go test -bench . -benchmem` over one
// or more packages; the "pkg:" lines say which package the benchmarks
// after them belong to.
func parseGoBench(out string) ([]MicroResult, error) {
	var res []MicroResult
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // a benchmark's own log line, not a result
		}
		m := MicroResult{Package: pkg, Name: f[0], Procs: 1, Iterations: iters}
		if s := benchProcs.FindStringSubmatch(f[0]); s != nil {
			m.Name = s[1]
			m.Procs, _ = strconv.Atoi(s[2])
		}
		seen := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("go test -bench: %s: value %q: %w", f[0], f[i], err)
			}
			switch f[i+1] {
			case "ns/op":
				m.NsPerOp, seen = v, true
			case "MB/s":
				m.MBPerS = v
			case "B/op":
				m.BytesPerOp = v
			case "allocs/op":
				m.AllocsPerOp = v
			}
		}
		if !seen {
			return nil, fmt.Errorf("go test -bench: %s: no ns/op in %q", f[0], line)
		}
		res = append(res, m)
	}
	return res, sc.Err()
}

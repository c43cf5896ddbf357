package bench

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// The "end" sections below are from iperf3 3.12 -J between two namespaces
// joined by a veth pair (intervals and stream lists cut); the UDP one's
// "start" is from a run with --window 4M.
const iperfTCPJSON = `{
	"start": {"test_start": {"protocol": "TCP", "num_streams": 1, "duration": 1}},
	"intervals": [],
	"end": {
		"streams": [],
		"sum_sent": {"start": 0, "end": 1.000544, "seconds": 1.000544, "bytes": 1856897024,
			"bits_per_second": 14847099369.942749, "retransmits": 2142, "sender": true},
		"sum_received": {"start": 0, "end": 1.000624, "seconds": 1.000624, "bytes": 1856897024,
			"bits_per_second": 14845912342.698156, "sender": true},
		"cpu_utilization_percent": {"host_total": 82.84, "remote_total": 39.21}
	}
}`

const iperfUDPJSON = `{
	"start": {"sock_bufsize": 4194304, "sndbuf_actual": 8388608, "rcvbuf_actual": 8388608},
	"end": {
		"streams": [],
		"sum": {"start": 0, "end": 1.000052, "seconds": 1.000052, "bytes": 13770880,
			"bits_per_second": 110165828.17589007, "jitter_ms": 0.00416169939103,
			"lost_packets": 1641, "packets": 215170, "lost_percent": 0.7626527861690756, "sender": true},
		"sum_sent": {"start": 0, "end": 1.000011, "seconds": 1.000011, "bytes": 13770880,
			"bits_per_second": 110165828.17589007, "jitter_ms": 0, "lost_packets": 0,
			"packets": 215170, "lost_percent": 0, "sender": true},
		"sum_received": {"start": 0, "end": 1.000052, "seconds": 1.000052, "bytes": 13665856,
			"bits_per_second": 109321163.29950844, "jitter_ms": 0.00416169939103,
			"lost_packets": 1641, "packets": 215170, "lost_percent": 0.7626527861690756, "sender": false}
	}
}`

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestParseIperfTCP(t *testing.T) {
	got, err := parseIperfTCP([]byte(iperfTCPJSON), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := TCPRun{Flows: 1, Seconds: 1.000624, BytesSent: 1856897024, BytesReceived: 1856897024,
		Retransmits: 2142, Gbps: 1856897024 * 8 / 1.000624 / 1e9}
	if got.Flows != want.Flows || got.BytesSent != want.BytesSent || got.BytesReceived != want.BytesReceived ||
		got.Retransmits != want.Retransmits || !near(got.Seconds, want.Seconds) || !near(got.Gbps, want.Gbps) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseIperfUDP(t *testing.T) {
	got, err := parseIperfUDP([]byte(iperfUDPJSON), 64)
	if err != nil {
		t.Fatal(err)
	}
	const received = 215170 - 1641
	want := UDPRun{Payload: 64, Seconds: 1.000052, PacketsSent: 215170, PacketsLost: 1641,
		PacketsReceived: received, LossPercent: 100 * 1641.0 / 215170, PPS: received / 1.000052,
		JitterMS: 0.00416169939103, RcvbufActual: 8388608}
	if got.RcvbufActual != want.RcvbufActual {
		t.Errorf("rcvbuf: got %d, want %d", got.RcvbufActual, want.RcvbufActual)
	}
	if got.Payload != want.Payload || got.PacketsSent != want.PacketsSent || got.PacketsLost != want.PacketsLost ||
		got.PacketsReceived != want.PacketsReceived || !near(got.LossPercent, want.LossPercent) ||
		!near(got.PPS, want.PPS) || !near(got.Seconds, want.Seconds) || !near(got.JitterMS, want.JitterMS) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// The receiver counted exactly these bytes: received packets of 64 bytes.
	if got.PacketsReceived*64 != 13665856 {
		t.Errorf("received packets %d x 64 B = %d, want the receiver's 13665856 bytes", got.PacketsReceived, got.PacketsReceived*64)
	}
}

func TestParseIperfErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"iperf3 error", `{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection refused"}`,
			"iperf3: unable to connect to server: Connection refused"},
		{"no summary", `{"end": {}}`, "no end.sum_sent or end.sum_received"},
		{"not JSON", `iperf3: error - the server is busy running a test`, "iperf3 -J output"},
		{"zero time", `{"end": {"sum_sent": {"seconds": 0}, "sum_received": {"seconds": 0}}}`, "end.sum_received.seconds is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, parse := range []func([]byte) error{
				func(b []byte) error { _, err := parseIperfTCP(b, 1); return err },
				func(b []byte) error { _, err := parseIperfUDP(b, 64); return err },
			} {
				err := parse([]byte(tc.json))
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got error %v, want one containing %q", err, tc.want)
				}
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{`{"start": {}, "intervals": [], "end": {}, "error": "the server is busy running a test. try again later"}`, true},
		{`{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection reset by peer"}`, true},
		{`{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection refused"}`, true},
		{`{"start": {}, "intervals": [], "end": {}, "error": "error - unable to read from stream socket: Resource temporarily unavailable"}`, true},
		{`{"start": {}, "intervals": [], "end": {}, "error": "error - control socket has closed unexpectedly"}`, false},
		{`{"start": {}, "intervals": [], "end": {}, "error": "unable to set socket buffer size: Invalid argument"}`, false},
	} {
		if got := retryable([]byte(tc.out)); got != tc.want {
			t.Errorf("retryable(%s): got %v, want %v", tc.out, got, tc.want)
		}
	}
}

func TestParsePing(t *testing.T) {
	const out = `PING 10.201.0.2 (10.201.0.2) 56(84) bytes of data.
64 bytes from 10.201.0.2: icmp_seq=1 ttl=64 time=0.114 ms
64 bytes from 10.201.0.2: icmp_seq=2 ttl=64 time=0.006 ms
64 bytes from 10.201.0.2: icmp_seq=2 ttl=64 time=0.009 ms (DUP!)
64 bytes from 10.201.0.2: icmp_seq=4 ttl=64 time=1.03 ms
64 bytes from 10.201.0.2: icmp_seq=5 ttl=64 time=0.040 ms

--- 10.201.0.2 ping statistics ---
5 packets transmitted, 4 received, +1 duplicates, 20% packet loss, time 4ms
rtt min/avg/max/mdev = 0.006/0.297/1.030/0.425 ms
`
	got := parsePing(out, 5)
	wantRTT := []float64{114, 6, 1030, 40}
	if got.Sent != 5 || got.Received != 4 {
		t.Errorf("sent/received: got %d/%d, want 5/4", got.Sent, got.Received)
	}
	if len(got.RTTMicros) != len(wantRTT) {
		t.Fatalf("RTTs: got %v, want %v", got.RTTMicros, wantRTT)
	}
	for i := range wantRTT {
		if !near(got.RTTMicros[i], wantRTT[i]) {
			t.Errorf("RTT %d: got %v µs, want %v µs", i, got.RTTMicros[i], wantRTT[i])
		}
	}
	// Sorted: 6 40 114 1030. Nearest rank: p50 is the 2nd, p99 the 4th.
	if !near(got.P50Micros, 40) || !near(got.P99Micros, 1030) {
		t.Errorf("p50/p99: got %v/%v µs, want 40/1030 µs", got.P50Micros, got.P99Micros)
	}

	none := parsePing("PING 10.201.0.2 (10.201.0.2) 56(84) bytes of data.\n\n--- 10.201.0.2 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss\n", 3)
	if none.Received != 0 || none.P50Micros != 0 {
		t.Errorf("no replies: got received %d, p50 %v, want 0 and 0", none.Received, none.P50Micros)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 down to 1: the order must not matter
	}
	for _, tc := range []struct {
		name string
		vals []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p100 of 1..100", hundred, 100, 100},
		{"p99 of three", []float64{3, 1, 2}, 99, 3},
		{"p50 of four", []float64{4, 1, 3, 2}, 50, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.vals, tc.p); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMedianMinMax(t *testing.T) {
	for _, tc := range []struct {
		name              string
		vals              []float64
		median, min, max_ float64
	}{
		{"one", []float64{5}, 5, 5, 5},
		{"odd", []float64{9, 1, 4}, 4, 1, 9},
		{"even", []float64{4, 1, 3, 10}, 3.5, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, lo, hi := medianMinMax(tc.vals)
			if m != tc.median || lo != tc.min || hi != tc.max_ {
				t.Errorf("got median %v min %v max %v, want %v %v %v", m, lo, hi, tc.median, tc.min, tc.max_)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name, stat   string
		utime, stime int64
		err          string
	}{
		{"vtepd", "4242 (vtepd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 311 128 0 0 20 0 9 0 5000 1000000 3000 18446744073709551615",
			311, 128, ""},
		{"name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
			5, 6, ""},
		{"no name", "4242 vtepd S 1", 0, 0, "no command name"},
		{"cut short", "4242 (vtepd) S 1 2 3", 0, 0, "want at least 13"},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 6 0", 0, 0, "utime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, s, err := parseProcStat([]byte(tc.stat))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || u != tc.utime || s != tc.stime {
				t.Errorf("got utime %d stime %d err %v, want %d %d nil", u, s, err, tc.utime, tc.stime)
			}
		})
	}
}

func TestCPURun(t *testing.T) {
	before := []ProcCPU{{PID: 10, UTime: 100, STime: 50}, {PID: 11, UTime: 7, STime: 3}}
	after := []ProcCPU{{PID: 10, UTime: 160, STime: 90}, {PID: 11, UTime: 57, STime: 53}}
	// 100 + 100 ticks = 2 CPU seconds at 100 ticks/s, over 0.5 GB: 4 s/GB,
	// of which 60 + 50 ticks of user time: 2.2 s/GB.
	c := cpuRun(before, after, 100, 500_000_000)
	if !near(c.Seconds, 2) || !near(c.GB, 0.5) || !near(c.SecondsPerGB, 4) {
		t.Errorf("got %v CPU s over %v GB = %v s/GB, want 2 over 0.5 = 4", c.Seconds, c.GB, c.SecondsPerGB)
	}
	if !near(c.UserSecondsPerGB, 2.2) {
		t.Errorf("user time: got %v s/GB, want 2.2", c.UserSecondsPerGB)
	}
	if len(c.Procs) != 2 || c.Procs[1] != (ProcCPU{PID: 11, UTime: 50, STime: 50}) {
		t.Errorf("per process: got %+v, want pid 11 with 50 utime and 50 stime ticks", c.Procs)
	}
	if z := cpuRun(before, after, 100, 0); z.SecondsPerGB != 0 {
		t.Errorf("nothing moved: got %v s/GB, want 0 (no division by zero)", z.SecondsPerGB)
	}
}

func TestParseGoBench(t *testing.T) {
	const out = `goos: linux
goarch: amd64
pkg: github.com/vtepd/vtepd/encap
cpu: AMD EPYC
BenchmarkEncapVXLANIPv4/nocsum-2         	31565716	        37.93 ns/op	38230.71 MB/s	       0 B/op	       0 allocs/op
BenchmarkDecapVXLAN-2                    	236446018	         5.073 ns/op	  18133.16 MB/s	       0 B/op	       0 allocs/op
PASS
ok  	github.com/vtepd/vtepd/encap	5.105s
goos: linux
pkg: github.com/vtepd/vtepd/fdb
BenchmarkLookupDuringLearning-2   	15623454	        76.52 ns/op	       0 B/op	       0 allocs/op
BenchmarkSomethingThatLogs-2
    bench_test.go:12: a log line
BenchmarkRouteLookup              	51224538	        23.40 ns/op	      16 B/op	       1 allocs/op
PASS
ok  	github.com/vtepd/vtepd/fdb	9.2s
?   	github.com/vtepd/vtepd/dataplane	[no test files]
`
	got, err := parseGoBench(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []MicroResult{
		{Package: "github.com/vtepd/vtepd/encap", Name: "BenchmarkEncapVXLANIPv4/nocsum", Procs: 2, Iterations: 31565716, NsPerOp: 37.93, MBPerS: 38230.71},
		{Package: "github.com/vtepd/vtepd/encap", Name: "BenchmarkDecapVXLAN", Procs: 2, Iterations: 236446018, NsPerOp: 5.073, MBPerS: 18133.16},
		{Package: "github.com/vtepd/vtepd/fdb", Name: "BenchmarkLookupDuringLearning", Procs: 2, Iterations: 15623454, NsPerOp: 76.52},
		{Package: "github.com/vtepd/vtepd/fdb", Name: "BenchmarkRouteLookup", Procs: 1, Iterations: 51224538, NsPerOp: 23.40, BytesPerOp: 16, AllocsPerOp: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	if _, err := parseGoBench("BenchmarkX-2 100 fast ns/op\n"); err == nil || !strings.Contains(err.Error(), `value "fast"`) {
		t.Errorf("bad value: got error %v, want one naming the value", err)
	}
}

// TestRunIperfRetries: a client that hangs past its limit is run again at
// once, a busy server again after the pause, any other error ends it; the
// fifth failure is the last.
func TestRunIperfRetries(t *testing.T) {
	const ok = `{"start": {}, "intervals": [], "end": {}}`
	const busy = `{"start": {}, "intervals": [], "end": {}, "error": "the server is busy running a test. try again later"}`
	const refused = `{"start": {}, "intervals": [], "end": {}, "error": "unable to set socket buffer size: Invalid argument"}`
	hang := func(ctx context.Context) ([]byte, error) { <-ctx.Done(); return nil, errors.New("signal: killed") }
	answer := func(out string, err error) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) { return []byte(out), err }
	}
	failed := errors.New("exit status 1")
	for _, tc := range []struct {
		name      string
		runs      []func(context.Context) ([]byte, error)
		wantErr   bool
		wantRuns  int
		wantHangs int
	}{
		{"a hang, then an answer", []func(context.Context) ([]byte, error){hang, answer(ok, nil)}, false, 2, 1},
		{"busy, then an answer", []func(context.Context) ([]byte, error){answer(busy, failed), answer(ok, nil)}, false, 2, 0},
		{"another error ends it", []func(context.Context) ([]byte, error){answer(refused, failed), answer(ok, nil)}, true, 1, 0},
		{"five hangs", []func(context.Context) ([]byte, error){hang, hang, hang, hang, hang, answer(ok, nil)}, true, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, hangs := 0, 0
			out, err := runIperf(context.Background(), 20*time.Millisecond, time.Millisecond,
				func(ctx context.Context) ([]byte, error) { runs++; return tc.runs[runs-1](ctx) },
				func(_ int, hung bool, _ error) {
					if hung {
						hangs++
					}
				})
			if (err != nil) != tc.wantErr || runs != tc.wantRuns || hangs != tc.wantHangs {
				t.Errorf("got %q, %v after %d runs and %d hangs; want an error %v after %d runs and %d hangs",
					out, err, runs, hangs, tc.wantErr, tc.wantRuns, tc.wantHangs)
			}
		})
	}

	// A server busy four times in a row is waited for longer each time:
	// 1, 2, 4 and 8 pauses.
	const pause = 5 * time.Millisecond
	runs := 0
	start := time.Now()
	_, err := runIperf(context.Background(), time.Second, pause,
		func(context.Context) ([]byte, error) {
			if runs++; runs <= 4 {
				return []byte(busy), failed
			}
			return []byte(ok), nil
		}, func(int, bool, error) {})
	if waited := time.Since(start); err != nil || runs != 5 || waited < 15*pause {
		t.Errorf("busy four times: %v after %d runs and %v; want an answer after 5 runs and at least %v", err, runs, waited, 15*pause)
	}

	// Busy every time: no pause after the last try, and every try's
	// failure told, numbered, with its error.
	runs = 0
	var told []int
	start = time.Now()
	_, err = runIperf(context.Background(), time.Second, pause,
		func(context.Context) ([]byte, error) { runs++; return []byte(busy), failed },
		func(try int, hung bool, err error) {
			if !hung && errors.Is(err, failed) {
				told = append(told, try)
			}
		})
	if waited := time.Since(start); err == nil || runs != 5 || waited >= 31*pause {
		t.Errorf("busy five times: %v after %d runs and %v; want an error after 5 runs and 15 pauses, %v", err, runs, waited, 15*pause)
	}
	if !slices.Equal(told, []int{1, 2, 3, 4, 5}) {
		t.Errorf("busy five times: failures told for tries %v, want 1 to 5, each with its error", told)
	}

	// A cancel ends a pause at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	_, err = runIperf(ctx, time.Second, 10*time.Second,
		func(context.Context) ([]byte, error) { return []byte(busy), failed }, func(int, bool, error) {})
	if waited := time.Since(start); !errors.Is(err, context.Canceled) || waited > 5*time.Second {
		t.Errorf("cancelled in a pause of 10 s: %v after %v; want context.Canceled at once", err, waited)
	}
}

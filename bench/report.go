package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of Run: every raw figure and the summaries drawn
// from them, with the machine they were taken on. Its JSON encoding is the
// results file.
type Report struct {
	Date        time.Time     `json:"date"`
	WallSeconds float64       `json:"wall_seconds"`
	Machine     Machine       `json:"machine"`
	Settings    Settings      `json:"settings"`
	KernelVXLAN bool          `json:"kernel_vxlan"` // whether this kernel has the vxlan driver
	Paths       []PathResult  `json:"paths"`
	Skipped     []Skipped     `json:"skipped"`
	Micro       []MicroResult `json:"microbenchmarks"`
}

// Machine is what the figures were measured on.
type Machine struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"` // the Go that built vtepd, else this program's
	Commit    string `json:"commit"`     // vtepd's source revision
	Modified  bool   `json:"modified"`   // the working tree had changes not committed
	Iperf3    string `json:"iperf3"`
	Ping      string `json:"ping"`
	// TCPCongestion is the TCP congestion control the paths' namespaces
	// start with (net.ipv4.tcp_congestion_control), which iperf3's flows
	// use: BBR paces its sender, CUBIC does not, and the TCP figures
	// differ between them.
	TCPCongestion string `json:"tcp_congestion"`
}

// Settings are the Config a Report was measured with.
type Settings struct {
	Runs            int      `json:"runs"`
	DurationSeconds float64  `json:"duration_seconds"`
	Pings           int      `json:"pings"`
	PingIntervalMS  float64  `json:"ping_interval_ms"`
	UDPPayloads     []int    `json:"udp_payloads"`
	UDPBufferBytes  int      `json:"udp_buffered_window_bytes"` // BufferedUDPWindow
	Quick           bool     `json:"quick"`
	Paths           []string `json:"paths"`
	Benchtime       string   `json:"benchtime,omitempty"`
	// Generator is the load generator the TCP and UDP figures come from:
	// GenIperf3 or GenVtepload.
	Generator string `json:"generator"`
	// Flows are the TCP flow counts, in the order of RunRaw.TCP.
	Flows []int `json:"tcp_flows"`
	// Queues is the --queues every vtepd ran with; 0: vtepd's default,
	// which is min(Cores, 8) when vtepbench runs with the same CPUs.
	Queues int `json:"queues"`
}

// Skipped is a path that has no figures, and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// sortSkipped puts skipped in the order their paths come in paths, which
// is the order the report lists the measured ones; paths failed in a later
// run would otherwise come before those that failed at setup.
func sortSkipped(skipped []Skipped, paths []string) {
	slices.SortStableFunc(skipped, func(a, b Skipped) int {
		return slices.Index(paths, a.Path) - slices.Index(paths, b.Path)
	})
}

// PathResult is everything measured on one path.
type PathResult struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Figures holds one summary per metric key (see Metrics); the vtepd
	// CPU figure only on vtepd paths.
	Figures map[string]*Figure `json:"figures"`
	Runs    []RunRaw           `json:"runs"`
	// VtepdStats is `vtepctl stats --json` of each end after the last run:
	// vtepd's own packet and drop counters.
	VtepdStats []json.RawMessage `json:"vtepd_stats,omitempty"`
}

// Figure summarises one metric over the runs.
type Figure struct {
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"` // one per run, in run order
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	// VsKernel is Median divided by the kernel vxlan's median: nil when the
	// kernel path was not measured or the ratio means nothing (loss).
	VsKernel *float64 `json:"vs_kernel_vxlan"`
}

// RunRaw is one run of every measurement on a path.
type RunRaw struct {
	// TCP has one run per Settings.Flows entry, in that order.
	TCP []TCPRun `json:"tcp"`
	UDP []UDPRun `json:"udp"` // one per UDPPayloads entry
	// UDPBuffered is the 64-byte run again with BufferedUDPWindow socket
	// buffers at both ends (iperf3 --window).
	UDPBuffered *UDPRun `json:"udp_buffered,omitempty"`
	Ping        PingRun `json:"ping"`
	// CPU is vtepd's CPU time over the first TCP run (Settings.Flows[0]
	// flows); nil on kernel paths.
	CPU *CPURun `json:"vtepd_cpu"`
}

// TCPRun is one iperf3 TCP run.
type TCPRun struct {
	Flows         int     `json:"flows"`
	Seconds       float64 `json:"seconds"`
	BytesSent     int64   `json:"bytes_sent"`
	BytesReceived int64   `json:"bytes_received"`
	Retransmits   int64   `json:"retransmits"`
	Gbps          float64 `json:"gbit_per_s"` // received, 10^9 bit/s
	// BusiestWorker is, on a vtepd path, the largest share of the run's
	// time any one of both vtepds' workers was busy (vtepctl stats:
	// worker_busy_seconds over worker_up_seconds, between reads before and
	// after the run): near 1, a worker could not keep up.
	BusiestWorker float64 `json:"busiest_worker,omitempty"`
}

// workerTime is one worker's clock as vtepctl stats reads it, in seconds.
type workerTime struct{ up, busy float64 }

// busiestWorker is the largest share of the time between two reads of the
// workers' clocks that any worker found in both was busy; 0 without one.
func busiestWorker(before, after map[string]workerTime) float64 {
	most := 0.0
	for k, a := range after {
		b, ok := before[k]
		if !ok || a.up <= b.up {
			continue
		}
		most = max(most, min((a.busy-b.busy)/(a.up-b.up), 1))
	}
	return most
}

// UDPRun is one iperf3 UDP run, as the receiver counted it.
type UDPRun struct {
	Payload         int     `json:"payload_bytes"`
	Seconds         float64 `json:"seconds"`
	PacketsSent     int64   `json:"packets_sent"`
	PacketsLost     int64   `json:"packets_lost"`
	PacketsReceived int64   `json:"packets_received"`
	LossPercent     float64 `json:"loss_percent"`
	PPS             float64 `json:"packets_per_s"` // received
	JitterMS        float64 `json:"jitter_ms"`
	// RcvbufActual is the receive buffer the kernel gave the client's
	// socket, as iperf3 reports it (twice what was asked: the kernel counts
	// its own overhead); the server asks for the same size under the same
	// limit, net.core.rmem_max.
	RcvbufActual int64 `json:"rcvbuf_actual_bytes"`
}

// PingRun is one latency run: every round-trip time, in microseconds.
type PingRun struct {
	Sent      int       `json:"sent"`
	Received  int       `json:"received"`
	RTTMicros []float64 `json:"rtt_us"`
	P50Micros float64   `json:"p50_us"`
	P99Micros float64   `json:"p99_us"`
}

// CPURun is the CPU time both vtepd processes spent over one TCP
// run, from /proc/PID/stat.
type CPURun struct {
	ClockTicks   int       `json:"clock_ticks_per_s"`
	Procs        []ProcCPU `json:"procs"`
	Seconds      float64   `json:"cpu_seconds"`
	GB           float64   `json:"gb_moved"` // bytes received / 10^9
	SecondsPerGB float64   `json:"cpu_seconds_per_gb"`
	// UserSecondsPerGB is the part of SecondsPerGB spent in vtepd's own
	// code (utime), the rest being the kernel's work in its system calls.
	UserSecondsPerGB float64 `json:"user_cpu_seconds_per_gb"`
}

// ProcCPU is one process's share of a CPURun, in clock ticks.
type ProcCPU struct {
	PID   int   `json:"pid"`
	UTime int64 `json:"utime_ticks"`
	STime int64 `json:"stime_ticks"`
}

// Metric describes one summary figure.
type Metric struct {
	Key         string
	Title       string
	Unit        string
	LowerBetter bool
	NoRatio     bool // loss: a ratio of percentages near zero means nothing
	VtepdOnly   bool // only vtepd paths have it

	value func(*RunRaw) (float64, bool)
}

// Metric keys, as in PathResult.Figures and the JSON file.
const (
	KeyTCP1     = "tcp_1flow_gbps" // KeyTCP(1)
	KeyRTTP50   = "rtt_p50_us"
	KeyRTTP99   = "rtt_p99_us"
	KeyCPUPerGB = "vtepd_cpu_s_per_gb"
	// The part of KeyCPUPerGB in vtepd's own code (user time).
	KeyUserCPUPerGB = "vtepd_user_cpu_s_per_gb"
	// The largest share of its time a vtepd worker was busy during the
	// run with the most flows (TCPRun.BusiestWorker), in percent.
	KeyBusiestWorker = "vtepd_busiest_worker_pct"
	// The 64-byte UDP run with BufferedUDPWindow socket buffers.
	KeyUDPBufferedRate = "udp_64_buffered_kpps"
	KeyUDPBufferedLoss = "udp_64_buffered_loss_pct"
)

// KeyTCP is the key of the TCP figure with this many flows.
func KeyTCP(flows int) string {
	if flows == 1 {
		return KeyTCP1
	}
	return fmt.Sprintf("tcp_%dflows_gbps", flows)
}

// KeyUDPRate and KeyUDPLoss are the keys of the UDP figures of one payload.
func KeyUDPRate(payload int) string { return fmt.Sprintf("udp_%d_kpps", payload) }

// KeyUDPLoss is the loss figure's key; see KeyUDPRate.
func KeyUDPLoss(payload int) string { return fmt.Sprintf("udp_%d_loss_pct", payload) }

// Metrics lists every summary figure of a run with DefaultFlows, in table
// order.
var Metrics = MetricsFor(DefaultFlows)

// Metrics lists every summary figure of r, in table order.
func (r *Report) Metrics() []Metric { return MetricsFor(r.Settings.Flows) }

// MetricsFor lists every summary figure of a run that measured TCP with
// these flow counts, in table order.
func MetricsFor(flows []int) []Metric {
	var ms []Metric
	for _, n := range flows {
		title := fmt.Sprintf("TCP, %d flows", n)
		if n == 1 {
			title = "TCP, 1 flow"
		}
		ms = append(ms, Metric{Key: KeyTCP(n), Title: title, Unit: "Gbit/s",
			value: func(r *RunRaw) (float64, bool) {
				for _, t := range r.TCP {
					if t.Flows == n {
						return t.Gbps, true
					}
				}
				return 0, false
			}})
	}
	for i, size := range UDPPayloads {
		ms = append(ms,
			Metric{Key: KeyUDPRate(size), Title: fmt.Sprintf("UDP %d B", size), Unit: "kpps",
				value: func(r *RunRaw) (float64, bool) {
					if i >= len(r.UDP) {
						return 0, false
					}
					return r.UDP[i].PPS / 1e3, true
				}},
			Metric{Key: KeyUDPLoss(size), Title: fmt.Sprintf("UDP %d B loss", size), Unit: "%",
				LowerBetter: true, NoRatio: true,
				value: func(r *RunRaw) (float64, bool) {
					if i >= len(r.UDP) {
						return 0, false
					}
					return r.UDP[i].LossPercent, true
				}})
	}
	ms = append(ms,
		Metric{Key: KeyUDPBufferedRate, Title: "UDP 64 B, large buffers", Unit: "kpps",
			value: buffered(func(u *UDPRun) float64 { return u.PPS / 1e3 })},
		Metric{Key: KeyUDPBufferedLoss, Title: "UDP 64 B, large buffers, loss", Unit: "%",
			LowerBetter: true, NoRatio: true,
			value: buffered(func(u *UDPRun) float64 { return u.LossPercent })})
	return append(ms,
		Metric{Key: KeyRTTP50, Title: "RTT p50", Unit: "µs", LowerBetter: true,
			value: func(r *RunRaw) (float64, bool) { return r.Ping.P50Micros, true }},
		Metric{Key: KeyRTTP99, Title: "RTT p99", Unit: "µs", LowerBetter: true,
			value: func(r *RunRaw) (float64, bool) { return r.Ping.P99Micros, true }},
		Metric{Key: KeyCPUPerGB, Title: "vtepd CPU", Unit: "CPU s/GB", LowerBetter: true, VtepdOnly: true,
			value: cpu(func(c *CPURun) float64 { return c.SecondsPerGB })},
		Metric{Key: KeyUserCPUPerGB, Title: "vtepd CPU in its own code", Unit: "CPU s/GB", LowerBetter: true, VtepdOnly: true,
			value: cpu(func(c *CPURun) float64 { return c.UserSecondsPerGB })},
		Metric{Key: KeyBusiestWorker, Title: "vtepd busiest worker", Unit: "%", VtepdOnly: true, NoRatio: true,
			value: func(r *RunRaw) (float64, bool) {
				most := slices.MaxFunc(append([]TCPRun{{}}, r.TCP...), func(a, b TCPRun) int { return a.Flows - b.Flows })
				return 100 * most.BusiestWorker, most.BusiestWorker > 0
			}},
	)
}

// cpu reads one figure of a run's vtepd CPU time, if it has one.
func cpu(get func(*CPURun) float64) func(*RunRaw) (float64, bool) {
	return func(r *RunRaw) (float64, bool) {
		if r.CPU == nil {
			return 0, false
		}
		return get(r.CPU), true
	}
}

// buffered reads one figure of a run's buffered UDP run, if it has one.
func buffered(get func(*UDPRun) float64) func(*RunRaw) (float64, bool) {
	return func(r *RunRaw) (float64, bool) {
		if r.UDPBuffered == nil {
			return 0, false
		}
		return get(r.UDPBuffered), true
	}
}

// metric returns the Metric of r with key.
func (r *Report) metric(key string) Metric {
	for _, m := range r.Metrics() {
		if m.Key == key {
			return m
		}
	}
	panic("bench: no metric " + key)
}

// isVtepd reports whether path runs vtepd.
func isVtepd(path string) bool { return strings.HasPrefix(path, "vtepd-") }

// Summarize fills every path's Figures from its Runs: median, min and max
// of each metric, and the ratio of each median to the kernel vxlan's.
func (r *Report) Summarize() {
	for i := range r.Paths {
		p := &r.Paths[i]
		p.Figures = map[string]*Figure{}
		for _, m := range r.Metrics() {
			var vals []float64
			for k := range p.Runs {
				if v, ok := m.value(&p.Runs[k]); ok {
					vals = append(vals, v)
				}
			}
			if len(vals) == 0 {
				continue
			}
			f := &Figure{Unit: m.Unit, Values: vals}
			f.Median, f.Min, f.Max = medianMinMax(vals)
			p.Figures[m.Key] = f
		}
	}
	kernel := r.Path(PathKernelVXLAN)
	for i := range r.Paths {
		for key, f := range r.Paths[i].Figures {
			if kernel == nil || r.metric(key).NoRatio {
				continue
			}
			if k, ok := kernel.Figures[key]; ok && k.Median > 0 {
				ratio := f.Median / k.Median
				f.VsKernel = &ratio
			}
		}
	}
}

// Path returns the result of the named path, or nil.
func (r *Report) Path(name string) *PathResult {
	for i := range r.Paths {
		if r.Paths[i].Name == name {
			return &r.Paths[i]
		}
	}
	return nil
}

// medianMinMax of a non-empty slice; the median of an even count is the
// mean of the middle two.
func medianMinMax(vals []float64) (median, lo, hi float64) {
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1]
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of vals: the
// smallest value with at least p% of vals at or below it.
func percentile(vals []float64, p float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

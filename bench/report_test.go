package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeRun is one run with every figure derived from x, so that tests can
// tell runs and paths apart.
func fakeRun(x float64, vtepd bool) RunRaw {
	r := RunRaw{
		TCP:  []TCPRun{{Flows: 1, Gbps: x}, {Flows: 4, Gbps: 2 * x}, {Flows: 8, Gbps: 3 * x}},
		Ping: PingRun{Sent: 10, Received: 10, P50Micros: 100 / x, P99Micros: 200 / x},
	}
	for _, size := range UDPPayloads {
		r.UDP = append(r.UDP, UDPRun{Payload: size, PPS: 1000 * x, LossPercent: x})
	}
	// The buffered run: three times the rate, a tenth of the loss, and a
	// buffer cut to 1 MiB by rmem_max (the kernel reports twice that).
	r.UDPBuffered = &UDPRun{Payload: 64, PPS: 3000 * x, LossPercent: x / 10, RcvbufActual: 2 << 20}
	if vtepd {
		r.CPU = &CPURun{SecondsPerGB: 10 / x, UserSecondsPerGB: 2 / x}
	}
	return r
}

// fakeReport has the kernel at 10, 11 and 12 and vtepd VXLAN at 1, 2 and 9.
func fakeReport() *Report {
	r := &Report{
		Date:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine:  Machine{CPUModel: "Test CPU", Cores: 2, Kernel: "6.1.0", GoVersion: "go1.26.8", Commit: "0123456789abcdef", TCPCongestion: "cubic"},
		Settings: Settings{Runs: 3, DurationSeconds: 5, Pings: 1000, PingIntervalMS: 1, UDPPayloads: UDPPayloads, UDPBufferBytes: 4 << 20, Benchtime: "1s", Flows: DefaultFlows},
		Paths: []PathResult{
			{Name: PathKernelVXLAN, Title: pathTitles[PathKernelVXLAN],
				Runs: []RunRaw{fakeRun(10, false), fakeRun(12, false), fakeRun(11, false)}},
			{Name: PathVtepdVXLAN, Title: pathTitles[PathVtepdVXLAN],
				Runs: []RunRaw{fakeRun(2, true), fakeRun(9, true), fakeRun(1, true)}},
		},
		Skipped: []Skipped{{Path: PathVtepdIPIP, Reason: "failed: vtepd exited\nsecond line"}},
		Micro: []MicroResult{{Package: "github.com/vtepd/vtepd/fdb", Name: "BenchmarkRouteLookup", Procs: 2,
			Iterations: 1000, NsPerOp: 23.4}},
	}
	r.Summarize()
	return r
}

func TestSummarize(t *testing.T) {
	r := fakeReport()
	k, v := r.Path(PathKernelVXLAN), r.Path(PathVtepdVXLAN)
	for _, tc := range []struct {
		name             string
		f                *Figure
		median, min, max float64
		ratio            float64 // 0: want none
	}{
		{"kernel TCP 1 flow", k.Figures[KeyTCP1], 11, 10, 12, 1},
		{"vtepd TCP 1 flow", v.Figures[KeyTCP1], 2, 1, 9, 2.0 / 11},
		{"vtepd TCP 4 flows", v.Figures[KeyTCP(4)], 4, 2, 18, 4.0 / 22},
		{"vtepd TCP 8 flows", v.Figures[KeyTCP(8)], 6, 3, 27, 6.0 / 33},
		{"vtepd UDP 64 B", v.Figures[KeyUDPRate(64)], 2, 1, 9, 2.0 / 11}, // kpps
		{"vtepd UDP 1400 B loss", v.Figures[KeyUDPLoss(1400)], 2, 1, 9, 0},
		{"vtepd UDP 64 B, large buffers", v.Figures[KeyUDPBufferedRate], 6, 3, 27, 6.0 / 33},
		{"vtepd UDP 64 B, large buffers, loss", v.Figures[KeyUDPBufferedLoss], 0.2, 0.1, 0.9, 0},
		{"vtepd RTT p50", v.Figures[KeyRTTP50], 50, 100.0 / 9, 100, 50 / (100.0 / 11)},
		{"vtepd CPU", v.Figures[KeyCPUPerGB], 5, 10.0 / 9, 10, 0},
		{"vtepd CPU in its own code", v.Figures[KeyUserCPUPerGB], 1, 2.0 / 9, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.f == nil {
				t.Fatal("got no figure, want one")
			}
			if !near(tc.f.Median, tc.median) || !near(tc.f.Min, tc.min) || !near(tc.f.Max, tc.max) {
				t.Errorf("got median %v [%v–%v], want %v [%v–%v]", tc.f.Median, tc.f.Min, tc.f.Max, tc.median, tc.min, tc.max)
			}
			switch {
			case tc.ratio == 0 && tc.f.VsKernel != nil:
				t.Errorf("ratio: got %v, want none", *tc.f.VsKernel)
			case tc.ratio != 0 && (tc.f.VsKernel == nil || !near(*tc.f.VsKernel, tc.ratio)):
				t.Errorf("ratio: got %v, want %v", tc.f.VsKernel, tc.ratio)
			}
			if len(tc.f.Values) != 3 {
				t.Errorf("values: got %v, want one per run", tc.f.Values)
			}
		})
	}
	for _, key := range []string{KeyCPUPerGB, KeyUserCPUPerGB} {
		if f := k.Figures[key]; f != nil {
			t.Errorf("kernel path: got a vtepd CPU figure %s %+v, want none", key, f)
		}
	}

	// Without the kernel path there is nothing to compare with.
	r.Paths = r.Paths[1:]
	r.Summarize()
	if f := r.Paths[0].Figures[KeyTCP1]; f.VsKernel != nil {
		t.Errorf("no kernel path: got ratio %v, want none", *f.VsKernel)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, fakeReport(), "chart.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Measured 2026-01-02 03:04 UTC on Test CPU, 2 cores, Linux 6.1.0; vtepd at 0123456789ab, built with go1.26.8; TCP congestion control cubic.",
		"the median of 3 runs, [min–max], each path's taken in turn with the others'",
		"| path | 1 flow | 4 flows | 8 flows | vtepd CPU s/GB | in its own code |",
		"| kernel vxlan | 11.0 [10.0–12.0] | 22.0 [20.0–24.0] | 33.0 [30.0–36.0] | n/a |",
		"| vtepd VXLAN | 2.00 [1.00–9.00] ×0.18 | 4.00 [2.00–18.0] ×0.18 | 6.00 [3.00–27.0] ×0.18 | 5.00 [1.11–10.0] | 1.00 [0.222–2.00] |",
		"vtepd ran with its default queues (one per CPU, at most 8).", // no one-thread path in this report
		"| vtepd VXLAN | 2.00 [1.00–9.00] ×0.18 | 2.00 % [1.00–9.00] |",
		"| vtepd VXLAN | 50 [11–100] ×5.50 | 100 [22–200] ×5.50 |",
		"UDP at 64 B again, with 4 MiB socket buffers at both ends (iperf3 --window, vtepload -window)",
		"| vtepd VXLAN | 6.00 [3.00–27.0] ×0.18 | 0.200 % [0.100–0.900] |",
		"The kernel granted 1 MiB of buffer, not 4 MiB: net.core.rmem_max caps",
		"Not measured: vtepd IPIP (failed: vtepd exited).",
		"| fdb | BenchmarkRouteLookup | 23.4 | – | 0 | 0 |",
		"![vtepd against the kernel path",
		"](chart.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("got Markdown without %q:\n%s", want, md)
		}
	}
	// Four tables of paths, each with a row per path.
	for _, title := range []string{"kernel vxlan", "vtepd VXLAN"} {
		if got := strings.Count(md, "\n| "+title+" |"); got != 4 {
			t.Errorf("rows for %s: got %d, want 4 (one per table)", title, got)
		}
	}
	if strings.Contains(md, "Quick mode") {
		t.Error("got the quick-mode note in a full run's Markdown")
	}

	// A run with the one-thread path says that its vtepds had one queue.
	r := fakeReport()
	r.Settings.Paths = append(r.Settings.Paths, PathVtepdVXLANOneThread)
	b.Reset()
	if err := WriteMarkdown(&b, r, "chart.svg"); err != nil {
		t.Fatal(err)
	}
	if want := "vtepd ran with its default queues (one per CPU, at most 8; one on the one-thread path)."; !strings.Contains(b.String(), want) {
		t.Errorf("with the one-thread path: got Markdown without %q", want)
	}
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	r := fakeReport()
	if err := WriteSVG(&b, r); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, and the texts and bars a reader needs.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var texts []string
	bars := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "rect" {
				bars++
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"kernel vxlan", "vtepd VXLAN", "TCP throughput, 1 flow", "64-byte", "Round-trip time p50",
		"median of 3 runs", "×0.18", "Not measured: vtepd IPIP"} {
		if !strings.Contains(all, want) {
			t.Errorf("got chart texts without %q: %s", want, all)
		}
	}
	// One background and a bar per path in each of the three panels.
	if want := 1 + 3*len(r.Paths); bars != want {
		t.Errorf("rects: got %d, want %d", bars, want)
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		hi, step, max float64
	}{
		{14.6, 5, 15},
		{89.5, 20, 100},
		{10, 2, 10},
		{0.72, 0.2, 0.8},
		{0, 1, 1},
	} {
		step, top := niceAxis(tc.hi)
		if !near(step, tc.step) || !near(top, tc.max) {
			t.Errorf("niceAxis(%v): got step %v max %v, want %v %v", tc.hi, step, top, tc.step, tc.max)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" for no error
	}{
		{"defaults", func(*Config) {}, ""},
		{"runs", func(c *Config) { c.Runs = 0 }, "-runs: got 0, want at least 1"},
		{"duration fraction", func(c *Config) { c.Duration = 1500 * time.Millisecond }, "-duration: got 1.5s, want whole seconds"},
		{"duration short", func(c *Config) { c.Duration = 0 }, "-duration: got 0s"},
		{"pings", func(c *Config) { c.Pings = 1 }, "-pings: got 1, want at least 2"},
		{"unknown path", func(c *Config) { c.Paths = []string{"veth", "wireguard"} }, `-paths: unknown path "wireguard"`},
		{"path twice", func(c *Config) { c.Paths = []string{"veth", "veth"} }, `-paths: "veth" given twice`},
		{"no vtepd", func(c *Config) { c.Vtepd = "" }, "-vtepd and -vtepctl"},
		{"no vtepd needed", func(c *Config) { c.Vtepd, c.Paths = "", []string{PathVeth} }, ""},
		{"no go", func(c *Config) { c.GoTool = "" }, "-go"},
		{"flows chosen", func(c *Config) { c.Flows = []int{2, 16} }, ""},
		{"flows zero", func(c *Config) { c.Flows = []int{1, 0} }, "-flows: got [1 0], want distinct flow counts 1..128"},
		{"flows twice", func(c *Config) { c.Flows = []int{4, 4} }, "-flows: got [4 4], want distinct"},
		{"queues", func(c *Config) { c.Queues = 65 }, "-queues: got 65, want 0 (vtepd's default) or 1..64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			_, err := c.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}

	c := DefaultConfig()
	c.Paths = []string{PathVtepdIPIP, PathVeth}
	got, err := c.check()
	if err != nil || strings.Join(got.Paths, ",") != "veth,vtepd-ipip" {
		t.Errorf("paths: got %v (%v), want veth,vtepd-ipip: measured in the canonical order", got.Paths, err)
	}
	if got, _ := DefaultConfig().check(); strings.Join(got.Paths, ",") != strings.Join(AllPaths, ",") {
		t.Errorf("no -paths: got %v, want all of %v", got.Paths, AllPaths)
	}
	if got, _ := DefaultConfig().check(); !slices.Equal(got.Flows, DefaultFlows) {
		t.Errorf("no -flows: got %v, want %v", got.Flows, DefaultFlows)
	}
}

// TestSortSkipped: skipped paths follow the order of -paths, whenever they
// failed.
func TestSortSkipped(t *testing.T) {
	paths := []string{PathVeth, PathKernelVXLAN, PathVtepdVXLAN, PathVtepdIPIP}
	skipped := []Skipped{
		{Path: PathVtepdVXLAN, Reason: "failed at setup"},
		{Path: PathVtepdIPIP, Reason: "failed at setup"},
		{Path: PathKernelVXLAN, Reason: "failed: run 2"},
		{Path: PathVeth, Reason: "failed: the last stats"},
	}
	sortSkipped(skipped, paths)
	var got []string
	for _, s := range skipped {
		got = append(got, s.Path)
	}
	if !slices.Equal(got, paths) {
		t.Errorf("sorted: got %v, want %v", got, paths)
	}
}

// TestBusiestWorker: the largest busy share between two reads of the
// workers' clocks, of the workers in both; none without one.
func TestBusiestWorker(t *testing.T) {
	before := map[string]workerTime{
		"0/underlay/0": {up: 10, busy: 1},
		"0/underlay/1": {up: 10, busy: 2},
		"1/vx42/0":     {up: 10, busy: 9},
	}
	after := map[string]workerTime{
		"0/underlay/0": {up: 14, busy: 2}, // 1 s of 4
		"0/underlay/1": {up: 14, busy: 5}, // 3 s of 4: the busiest
		"1/vx42/0":     {up: 10, busy: 9}, // no time passed: left out
		"1/vx42/1":     {up: 4, busy: 4},  // not in before: left out
	}
	if got := busiestWorker(before, after); got != 0.75 {
		t.Errorf("busiest: got %v, want 0.75", got)
	}
	if got := busiestWorker(nil, after); got != 0 {
		t.Errorf("without a first read: got %v, want 0", got)
	}
	if got := busiestWorker(before, map[string]workerTime{"0/underlay/0": {up: 11, busy: 3}}); got != 1 {
		t.Errorf("more busy than up (reads a moment apart): got %v, want 1", got)
	}
}

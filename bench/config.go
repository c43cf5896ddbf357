package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The paths Run can measure, in the order it measures them.
const (
	PathVeth        = "veth"         // the veth pair alone, no overlay: the ceiling
	PathKernelVXLAN = "kernel-vxlan" // Linux's vxlan driver at both ends
	PathVtepdVXLAN  = "vtepd-vxlan"  // vtepd VXLAN at both ends
	PathVtepdIPIP   = "vtepd-ipip"   // vtepd IPIP at both ends
	// vtepd VXLAN with its workers on one thread (GOMAXPROCS=1, and so
	// one queue unless -queues says otherwise): what running in parallel
	// buys, or costs, on this host.
	PathVtepdVXLANOneThread = "vtepd-vxlan-1thread"
	// vtepd IPIP receiving through a fanout group of a packet socket per
	// queue (--ipip-receive fanout) rather than one raw socket.
	PathVtepdIPIPFanout = "vtepd-ipip-fanout"
	// The same two with every offload off (vtepd --offload off): what the
	// offloads are worth, side by side.
	PathVtepdVXLANPlain = "vtepd-vxlan-plain"
	PathVtepdIPIPPlain  = "vtepd-ipip-plain"
)

// AllPaths lists every path in measuring order.
var AllPaths = []string{PathVeth, PathKernelVXLAN, PathVtepdVXLAN, PathVtepdVXLANOneThread, PathVtepdIPIP, PathVtepdIPIPFanout, PathVtepdVXLANPlain, PathVtepdIPIPPlain}

// pathTitles are the names tables and charts show.
var pathTitles = map[string]string{
	PathVeth:        "veth, no overlay",
	PathKernelVXLAN: "kernel vxlan",
	PathVtepdVXLAN:  "vtepd VXLAN",
	PathVtepdIPIP:   "vtepd IPIP",

	PathVtepdVXLANOneThread: "vtepd VXLAN, one thread",
	PathVtepdIPIPFanout:     "vtepd IPIP, fanout receive",

	PathVtepdVXLANPlain: "vtepd VXLAN, offloads off",
	PathVtepdIPIPPlain:  "vtepd IPIP, offloads off",
}

// The load generators; see Config.Generator.
const (
	GenAuto     = "auto"
	GenIperf3   = "iperf3"
	GenVtepload = "vtepload" // cmd/vtepload: the harness's own, for hosts without iperf3
)

// DefaultFlows are the TCP flow counts measured (iperf3 --parallel) unless
// -flows chooses others: one flow, and enough to fill the queues of a
// server with 4 and 8 cores.
var DefaultFlows = []int{1, 4, 8}

// maxFlows is the most -flows takes (iperf3 allows 128 streams).
const maxFlows = 128

// UDPPayloads are the UDP payload sizes of the packet-rate runs, in bytes.
// 1400 fits every overlay's MTU (1450 for VXLAN over a 1500-byte underlay).
var UDPPayloads = []int{64, 512, 1400}

// BufferedUDPWindow is the socket buffer size (iperf3 --window) of a second
// 64-byte run. The default receive buffer (208 KiB) holds 256 datagrams of
// 64 bytes, and the receiving iperf3 drops whatever a burst brings beyond
// that. vtepd hands the stack its packets in batches, while the kernel's
// vxlan delivers them one at a time within the sender's own system call, so
// with the default buffer the figure says as much about burstiness as
// about what the path carries. With 4 MiB at both ends, it measures the
// latter.
const BufferedUDPWindow = 4 << 20

// DefaultMicroPackages are the packages whose Go benchmarks Run runs.
var DefaultMicroPackages = []string{"./encap", "./fdb", "./dataplane"}

// Config says what Run measures and how. Its fields are vtepbench's flags,
// and errors about them name the flag.
type Config struct {
	Runs         int           // -runs: every figure is the median of this many runs
	Duration     time.Duration // -duration: each iperf3 run, whole seconds
	Pings        int           // -pings: echo requests per latency run
	PingInterval time.Duration // time between echo requests
	Paths        []string      // -paths: which of AllPaths, in any order; empty means all
	// Flows are the TCP flow counts measured, in order (-flows); vtepd's
	// CPU per GB is taken over the first. Empty means DefaultFlows.
	Flows []int
	Quick bool // -quick: recorded in the report; QuickConfig sets the rest
	// Queues is vtepd's --queues on every vtepd path; 0 leaves vtepd its
	// default (one per CPU it may use, at most 8).
	Queues int // -queues

	Vtepd   string // -vtepd: the vtepd binary
	Vtepctl string // -vtepctl: the vtepctl binary
	// Generator is the load generator: GenIperf3, GenVtepload, or GenAuto
	// (iperf3, installed with apt if missing, else vtepload). Empty means
	// GenAuto.
	Generator string // -gen
	Vtepload  string // -vtepload: the vtepload binary, for GenVtepload

	Micro         bool     // -micro: also run the Go microbenchmarks
	MicroPackages []string // packages for `go test -bench`, relative to RepoDir
	Benchtime     string   // -benchtime: go test's -benchtime
	GoTool        string   // -go: the go command
	RepoDir       string   // the module's root, where go test and git run

	// Progress receives a line for each step: what is measured now, run k
	// of N. Nil discards them.
	Progress io.Writer
}

// DefaultConfig is what `make bench` measures: 3 runs of 5 s per iperf3
// figure and 1000 pings 1 ms apart, every path, and the microbenchmarks.
func DefaultConfig() Config {
	return Config{
		Runs:          3,
		Duration:      5 * time.Second,
		Pings:         1000,
		PingInterval:  time.Millisecond,
		Vtepd:         "bin/vtepd",
		Vtepctl:       "bin/vtepctl",
		Micro:         true,
		MicroPackages: DefaultMicroPackages,
		Benchtime:     "1s",
		GoTool:        "go",
		RepoDir:       ".",
	}
}

// QuickConfig is DefaultConfig cut down to one short run per path, so the
// whole harness runs in well under a minute: for checking that it works,
// not for figures to quote.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Quick = true
	c.Runs = 1
	c.Duration = time.Second
	c.Pings = 200
	c.Benchtime = "1000x"
	return c
}

// check returns c with its path list filled in, or an error naming the
// flag that is wrong and what it wants.
func (c Config) check() (Config, error) {
	if c.Runs < 1 {
		return c, fmt.Errorf("-runs: got %d, want at least 1", c.Runs)
	}
	if c.Duration < time.Second || c.Duration%time.Second != 0 {
		return c, fmt.Errorf("-duration: got %v, want whole seconds, at least 1s (iperf3 -t counts seconds)", c.Duration)
	}
	switch c.Generator {
	case "":
		c.Generator = GenAuto
	case GenAuto, GenIperf3, GenVtepload:
	default:
		return c, fmt.Errorf("-gen: got %q, want %s, %s or %s", c.Generator, GenAuto, GenIperf3, GenVtepload)
	}
	if c.Generator == GenVtepload && c.Vtepload == "" {
		return c, errors.New("-gen vtepload: needs -vtepload, the vtepload binary (make bench builds bin/vtepload)")
	}
	if len(c.Flows) == 0 {
		c.Flows = DefaultFlows
	}
	for i, f := range c.Flows {
		if f < 1 || f > maxFlows || slices.Contains(c.Flows[:i], f) {
			return c, fmt.Errorf("-flows: got %v, want distinct flow counts 1..%d like 1,4,8", c.Flows, maxFlows)
		}
	}
	if c.Queues < 0 || c.Queues > 64 {
		return c, fmt.Errorf("-queues: got %d, want 0 (vtepd's default) or 1..64", c.Queues)
	}
	if c.Pings < 2 {
		return c, fmt.Errorf("-pings: got %d, want at least 2", c.Pings)
	}
	if c.PingInterval < time.Millisecond {
		return c, fmt.Errorf("ping interval: got %v, want at least 1ms", c.PingInterval)
	}
	if len(c.Paths) == 0 {
		c.Paths = AllPaths
	}
	var seen []string
	for _, p := range c.Paths {
		if !slices.Contains(AllPaths, p) {
			return c, fmt.Errorf("-paths: unknown path %q, want some of %s", p, strings.Join(AllPaths, ","))
		}
		if slices.Contains(seen, p) {
			return c, fmt.Errorf("-paths: %q given twice", p)
		}
		seen = append(seen, p)
	}
	// Measure in the canonical order whatever order the flag gave.
	var ordered []string
	for _, p := range AllPaths {
		if slices.Contains(seen, p) {
			ordered = append(ordered, p)
		}
	}
	c.Paths = ordered
	if c.needsVtepd() && (c.Vtepd == "" || c.Vtepctl == "") {
		return c, fmt.Errorf("-vtepd and -vtepctl: want the paths of both binaries (make build puts them in bin/)")
	}
	if c.Micro && (c.GoTool == "" || len(c.MicroPackages) == 0) {
		return c, fmt.Errorf("-go: want the go command to run the microbenchmarks, or -micro=false")
	}
	return c, nil
}

func (c Config) needsVtepd() bool { return slices.ContainsFunc(c.Paths, isVtepd) }

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteMarkdown writes r as Markdown: a heading with the date and machine,
// one table per kind of figure with a row per path, the Go microbenchmarks,
// and, when chart is not empty, an image link to it (relative to where the
// Markdown is written).
func WriteMarkdown(w io.Writer, r *Report, chart string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## vtepd against the kernel path\n\n")
	m := r.Machine
	if r.Settings.Generator == GenVtepload {
		m.Iperf3 = "" // iperf3 may be there, but measured nothing
	}
	fmt.Fprintf(&b, "Measured %s on %s.\n", r.Date.UTC().Format("2006-01-02 15:04 MST"), machineLine(m))
	fmt.Fprintf(&b, "Two network namespaces joined by a veth pair, a fresh pair per path. ")
	runs := "from a single run"
	if r.Settings.Runs > 1 {
		runs = fmt.Sprintf("the median of %d runs, [min–max], each path's taken in turn with the others'", r.Settings.Runs)
	}
	fmt.Fprintf(&b, "Each figure is %s; ×N is its ratio to the kernel's vxlan. ", runs)
	gen := "iperf3"
	if r.Settings.Generator == GenVtepload {
		gen = "vtepload (the harness's own load generator, in place of iperf3)"
	}
	fmt.Fprintf(&b, "%s runs of %g s; latency from %d pings %g ms apart.", gen, r.Settings.DurationSeconds, r.Settings.Pings, r.Settings.PingIntervalMS)
	if q := r.Settings.Queues; q > 0 {
		fmt.Fprintf(&b, " vtepd ran with --queues %d.", q)
	} else {
		b.WriteString(" vtepd ran with its default queues (one per CPU, at most 8")
		if slices.Contains(r.Settings.Paths, PathVtepdVXLANOneThread) {
			b.WriteString("; one on the one-thread path")
		}
		b.WriteString(").")
	}
	if r.Settings.Quick {
		b.WriteString(" Quick mode: a check that the harness works, not figures to quote.")
	}
	b.WriteString("\n")
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "\nNot measured: %s (%s).\n", titleOf(s.Path), firstLineOf(s.Reason))
	}

	var tcp []column
	for _, n := range r.Settings.Flows {
		tcp = append(tcp, column{flowsName(n), KeyTCP(n)})
	}
	tcp = append(tcp, column{"vtepd CPU s/GB", KeyCPUPerGB}, column{"in its own code", KeyUserCPUPerGB})
	cpuRun, mostRun := "the first run", "the run with the most flows"
	if len(r.Settings.Flows) > 0 {
		cpuRun = fmt.Sprintf("the %d-flow run", r.Settings.Flows[0])
		mostRun = fmt.Sprintf("the %d-flow run", slices.Max(r.Settings.Flows))
	}
	tcp = append(tcp, column{"busiest worker", KeyBusiestWorker})
	table(&b, r, "TCP throughput, Gbit/s (higher is better), and the CPU time vtepd spends per GB moved (both daemons, during "+cpuRun+"; lower is better), with the part of it in vtepd's own code (user time; the rest is the kernel's, in vtepd's system calls), and the largest share of its time one vtepd worker was busy during "+mostRun+" (near 100%: a worker that could not keep up; on a host with fewer cores than busy threads every worker looks busier, preempted time counting as busy)", tcp)
	var udp []column
	for _, size := range UDPPayloads {
		udp = append(udp, column{fmt.Sprintf("%d B", size), KeyUDPRate(size)}, column{"loss", KeyUDPLoss(size)})
	}
	table(&b, r, "UDP packets received, thousands per second (higher is better), and loss, the sender sending as fast as it can (iperf3 -b 0)", udp)
	if win := r.Settings.UDPBufferBytes; win > 0 {
		table(&b, r, fmt.Sprintf("UDP at 64 B again, with %s socket buffers at both ends (iperf3 --window, vtepload -window): what the path carries once the receiving socket can hold a burst", size(win)),
			[]column{{"64 B", KeyUDPBufferedRate}, {"loss", KeyUDPBufferedLoss}})
		if got := grantedBuffer(r); got > 0 && got < 2*int64(win) {
			fmt.Fprintf(&b, "\nThe kernel granted %s of buffer, not %s: net.core.rmem_max caps what a socket may ask for.\n", size(int(got/2)), size(win))
		}
	}
	table(&b, r, "Round-trip time, µs (lower is better)", []column{{"p50", KeyRTTP50}, {"p99", KeyRTTP99}})

	if len(r.Micro) > 0 {
		fmt.Fprintf(&b, "\n### Go microbenchmarks (`go test -bench . -benchmem`, -benchtime %s)\n\n", r.Settings.Benchtime)
		b.WriteString("| package | benchmark | ns/op | MB/s | B/op | allocs/op |\n|---|---|--:|--:|--:|--:|\n")
		for _, m := range r.Micro {
			mbs := "–"
			if m.MBPerS > 0 {
				mbs = num(m.MBPerS)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %g | %g |\n", shortPkg(m.Package), m.Name, num(m.NsPerOp), mbs, m.BytesPerOp, m.AllocsPerOp)
		}
	}
	if chart != "" {
		fmt.Fprintf(&b, "\n![vtepd against the kernel path: TCP, UDP packet rate and round-trip time per path](%s)\n", chart)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// grantedBuffer is the smallest receive buffer the kernel gave a buffered
// UDP run's socket (twice the usable size), or 0 when none was reported.
func grantedBuffer(r *Report) int64 {
	var least int64
	for _, p := range r.Paths {
		for _, run := range p.Runs {
			if u := run.UDPBuffered; u != nil && u.RcvbufActual > 0 && (least == 0 || u.RcvbufActual < least) {
				least = u.RcvbufActual
			}
		}
	}
	return least
}

// size prints a byte count in KiB or MiB.
func size(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

type column struct{ head, key string }

func table(b *strings.Builder, r *Report, title string, cols []column) {
	fmt.Fprintf(b, "\n### %s\n\n| path |", title)
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.head)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, p := range r.Paths {
		fmt.Fprintf(b, "| %s |", p.Title)
		for _, c := range cols {
			fmt.Fprintf(b, " %s |", cell(p, c.key, r.Settings.Runs))
		}
		b.WriteString("\n")
	}
}

// cell is "median [min–max] ×ratio", leaving out what does not apply.
func cell(p PathResult, key string, runs int) string {
	f := p.Figures[key]
	if f == nil {
		return "n/a"
	}
	s := value(f.Median, f.Unit)
	if f.Unit == "%" {
		s += " %"
	}
	if runs > 1 {
		s += fmt.Sprintf(" [%s–%s]", value(f.Min, f.Unit), value(f.Max, f.Unit))
	}
	if f.VsKernel != nil && p.Name != PathKernelVXLAN {
		s += " ×" + ratio(*f.VsKernel)
	}
	return s
}

// value prints v for its unit: round-trip times in whole microseconds, as
// ping(8) reports them to the microsecond, everything else with num.
func value(v float64, unit string) string {
	if unit == "µs" && v >= 1 {
		return fmt.Sprintf("%.0f", v)
	}
	return num(v)
}

// num prints about three significant digits, without exponents.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func ratio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func machineLine(m Machine) string {
	commit := m.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown commit"
	}
	if m.Modified {
		commit += " with uncommitted changes"
	}
	s := fmt.Sprintf("%s, %d cores, Linux %s; vtepd at %s, built with %s", m.CPUModel, m.Cores, m.Kernel, commit, m.GoVersion)
	if m.Iperf3 != "" {
		s += "; " + m.Iperf3
	}
	if m.TCPCongestion != "" {
		s += "; TCP congestion control " + m.TCPCongestion
	}
	return s
}

func titleOf(path string) string {
	if t, ok := pathTitles[path]; ok {
		return t
	}
	return path
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func shortPkg(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// flowsName is "1 flow" or "N flows".
func flowsName(n int) string {
	if n == 1 {
		return "1 flow"
	}
	return fmt.Sprintf("%d flows", n)
}

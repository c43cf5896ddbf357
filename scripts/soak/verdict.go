package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// sample is what the soak reads from one vtepd at one moment.
type sample struct {
	goroutines uint64 // go_goroutines
	heapInuse  uint64 // go_memstats_heap_inuse_bytes
	rss        uint64 // VmRSS of /proc/PID/status, in bytes
}

// lowest is the smallest value of each field over samples taken a moment
// apart: what stays, rather than what a scrape caught in passing (a
// collection's sweep, the connection serving the scrape itself).
func lowest(samples []sample) sample {
	if len(samples) == 0 {
		return sample{}
	}
	m := samples[0]
	for _, s := range samples[1:] {
		m.goroutines = min(m.goroutines, s.goroutines)
		m.heapInuse = min(m.heapInuse, s.heapInuse)
		m.rss = min(m.rss, s.rss)
	}
	return m
}

// The memory a vtepd may gain between the first and the last sample:
// 20% of where it started plus 4 MiB. A leak that matters grows with the
// traffic: a few dozen bytes kept per random source MAC (thousands a
// second) or per packet of the TCP stream is tens of MiB within a minute,
// far beyond this. What the allowance absorbs is not traffic-bound: the
// Go runtime returns freed memory to the kernel lazily (the scavenger), so
// RSS lags the heap; buffer pools and the FDB's slot arrays reach their
// working size at their own pace; and a heap of a few MiB moves by more
// than 20% between collections, which the fixed 4 MiB covers. Goroutines
// get no allowance: a steady daemon runs the same ones at the end as at the
// start, and every extra one is a leak.
const (
	memGrowthPercent = 20
	memGrowthBytes   = 4 << 20
)

func memAllowed(start uint64) uint64 {
	return start + start*memGrowthPercent/100 + memGrowthBytes
}

// check is one figure of one vtepd at the start and end of the soak.
type check struct {
	what       string
	start, end uint64
	allowed    uint64 // the largest end that passes
	bytes      bool   // print as MiB
}

func (c check) ok() bool { return c.end <= c.allowed }

// verdict compares the samples taken after the warm-up (start) and at the
// end of the soak.
func verdict(start, end sample) []check {
	return []check{
		{what: "goroutines", start: start.goroutines, end: end.goroutines, allowed: start.goroutines},
		{what: "heap in use", start: start.heapInuse, end: end.heapInuse, allowed: memAllowed(start.heapInuse), bytes: true},
		{what: "RSS", start: start.rss, end: end.rss, allowed: memAllowed(start.rss), bytes: true},
	}
}

// printVerdict writes the checks of every daemon as a table and reports
// whether all of them passed.
func printVerdict(w io.Writer, names []string, all [][]check) bool {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "vtepd\tfigure\tstart\tend\tgrowth\tallowed\tverdict\t")
	pass := true
	for i, cs := range all {
		for _, c := range cs {
			word := "ok"
			if !c.ok() {
				word, pass = "GREW", false
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", names[i], c.what,
				c.format(c.start), c.format(c.end), c.growth(), "+"+c.format(c.allowed-c.start), word)
		}
	}
	_ = tw.Flush()
	return pass
}

func (c check) format(v uint64) string {
	if c.bytes {
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	return strconv.FormatUint(v, 10)
}

func (c check) growth() string {
	if c.end >= c.start {
		return "+" + c.format(c.end-c.start)
	}
	return "-" + c.format(c.start-c.end)
}

// metricSum adds up every series of the metric name in a Prometheus text
// exposition whose labels include all of the given label="value" pairs.
func metricSum(text, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name with this prefix
		}
		match := true
		for _, l := range labels {
			match = match && containsLabel(lbls, l)
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func containsLabel(labels, pair string) bool {
	for _, l := range strings.Split(labels, ",") {
		if l == pair {
			return true
		}
	}
	return false
}

// parseVmRSS reads the resident set size from the text of /proc/PID/status
// ("VmRSS:	   12345 kB").
func parseVmRSS(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS: want \"N kB\", got %q", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: want \"N kB\", got %q", strings.TrimSpace(rest))
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line (is the process a zombie?)")
}

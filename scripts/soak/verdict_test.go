package main

import (
	"strings"
	"testing"
)

const mib = 1 << 20

func TestVerdict(t *testing.T) {
	base := sample{goroutines: 20, heapInuse: 10 * mib, rss: 30 * mib}
	tests := []struct {
		name   string
		end    sample
		failed []string // the figures that must fail
	}{
		{"unchanged", base, nil},
		{"shrank", sample{goroutines: 18, heapInuse: 8 * mib, rss: 25 * mib}, nil},
		{"one more goroutine", sample{goroutines: 21, heapInuse: 10 * mib, rss: 30 * mib}, []string{"goroutines"}},
		// 10 MiB + 20% + 4 MiB = 16 MiB; 30 MiB + 20% + 4 MiB = 40 MiB.
		{"memory at the allowance", sample{goroutines: 20, heapInuse: 16 * mib, rss: 40 * mib}, nil},
		{"heap one byte over", sample{goroutines: 20, heapInuse: 16*mib + 1, rss: 30 * mib}, []string{"heap in use"}},
		{"RSS one byte over", sample{goroutines: 20, heapInuse: 10 * mib, rss: 40*mib + 1}, []string{"RSS"}},
		{"everything grew", sample{goroutines: 500, heapInuse: 200 * mib, rss: 300 * mib}, []string{"goroutines", "heap in use", "RSS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var failed []string
			for _, c := range verdict(base, tc.end) {
				if !c.ok() {
					failed = append(failed, c.what)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.failed, ",") {
				t.Errorf("failed checks: got %q, want %q", failed, tc.failed)
			}
		})
	}
}

func TestMemAllowedSmallHeap(t *testing.T) {
	// A 1 MiB heap may reach 1.2 MiB + 4 MiB: the fixed part dominates.
	if got, want := memAllowed(1*mib), uint64(1*mib+mib/5+4*mib); got != want {
		t.Errorf("memAllowed(1 MiB): got %d, want %d", got, want)
	}
}

func TestLowest(t *testing.T) {
	got := lowest([]sample{
		{goroutines: 21, heapInuse: 9 * mib, rss: 31 * mib},
		{goroutines: 20, heapInuse: 12 * mib, rss: 30 * mib},
		{goroutines: 22, heapInuse: 10 * mib, rss: 32 * mib},
	})
	if want := (sample{goroutines: 20, heapInuse: 9 * mib, rss: 30 * mib}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPrintVerdict(t *testing.T) {
	var b strings.Builder
	pass := printVerdict(&b, []string{"a", "b"}, [][]check{
		verdict(sample{20, 10 * mib, 30 * mib}, sample{20, 11 * mib, 29 * mib}),
		verdict(sample{20, 10 * mib, 30 * mib}, sample{21, 10 * mib, 30 * mib}),
	})
	if pass {
		t.Errorf("got pass, want a failure (b has one more goroutine)")
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"vtepd figure start end growth allowed verdict",
		"a goroutines 20 20 +0 +0 ok",
		"a heap in use 10.0 MiB 11.0 MiB +1.0 MiB +6.0 MiB ok",
		"a RSS 30.0 MiB 29.0 MiB -1.0 MiB +10.0 MiB ok",
		"b goroutines 20 21 +1 +0 GREW",
		"b heap in use 10.0 MiB 10.0 MiB +0.0 MiB +6.0 MiB ok",
		"b RSS 30.0 MiB 30.0 MiB +0.0 MiB +10.0 MiB ok",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("got table\n%s\nwant (spacing aside)\n%s", b.String(), strings.Join(want, "\n"))
	}
}

func TestMetricSum(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 17
go_goroutines_extra 99
go_memstats_heap_inuse_bytes 4.202496e+06
vtepd_drops_total{network="vx42",kind="vxlan",vni="42",reason="fdb_full"} 120
vtepd_drops_total{network="vx42",kind="vxlan",vni="42",reason="malformed"} 3
vtepd_drops_total{network="vx7",kind="vxlan",vni="7",reason="fdb_full"} 5
`
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
		found  bool
	}{
		{"plain", "go_goroutines", nil, 17, true},
		{"float", "go_memstats_heap_inuse_bytes", nil, 4202496, true},
		{"all series", "vtepd_drops_total", nil, 128, true},
		{"by label", "vtepd_drops_total", []string{`reason="fdb_full"`}, 125, true},
		{"by two labels", "vtepd_drops_total", []string{`reason="fdb_full"`, `vni="7"`}, 5, true},
		{"absent", "go_threads", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found := metricSum(text, tc.metric, tc.labels...)
			if got != tc.want || found != tc.found {
				t.Errorf("got %v, %v, want %v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name, status string
		want         uint64
		err          string
	}{
		{"kB", "Name:\tvtepd\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n", 12345 << 10, ""},
		{"absent", "Name:\tvtepd\nState:\tZ (zombie)\n", 0, "no VmRSS line"},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, `VmRSS: want "N kB", got "12 MB"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS(tc.status)
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %d, %v, want %d, error containing %q", got, err, tc.want, tc.err)
			}
		})
	}
}

package control_test

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vtepd/vtepd/control"
)

// fakeStats hands out whatever the test last set, as a daemon's counters
// would change between scrapes.
type fakeStats struct {
	mu    sync.Mutex
	stats []control.NetworkStats
}

func (f *fakeStats) set(s []control.NetworkStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = s
}

func (f *fakeStats) get() []control.NetworkStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// The reasons a dataplane reports, every one of them present with zeros.
func drops(nonzero map[string]uint64) map[string]uint64 {
	m := map[string]uint64{"malformed": 0, "unknown_vni": 0, "too_big": 0, "fdb_full": 0, "tap_write": 0}
	maps.Copy(m, nonzero)
	return m
}

// Two networks and the underlay, as the daemon lists them.
func firstStats() []control.NetworkStats {
	return []control.NetworkStats{
		{Name: "underlay", Kind: "underlay", Drops: drops(map[string]uint64{"malformed": 3, "unknown_vni": 9})},
		{Name: "ipip0", Kind: control.KindIPIP, RxPackets: 5, RxBytes: 420, TxPackets: 6, TxBytes: 504,
			Drops: drops(map[string]uint64{"too_big": 1})},
		{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, RxPackets: 10, RxBytes: 980, TxPackets: 12, TxBytes: 1176,
			Drops: drops(map[string]uint64{"malformed": 2}), FDBEntries: 3, Learnt: 4, Moved: 1, Aged: 2, Flooded: 6},
	}
}

// The same daemon a while later: every value changed, one counter past 2^32.
func secondStats() []control.NetworkStats {
	return []control.NetworkStats{
		{Name: "underlay", Kind: "underlay", Drops: drops(map[string]uint64{"malformed": 4, "unknown_vni": 9, "tap_write": 1}),
			Offload: control.OffloadStats{GROTrains: 21, GRODatagrams: 22, Fallbacks: 1}},
		{Name: "ipip0", Kind: control.KindIPIP, RxPackets: 7, RxBytes: 600, TxPackets: 8, TxBytes: 700,
			Drops: drops(map[string]uint64{"too_big": 2}), CsumCompleted: 3, Offload: control.OffloadStats{TSOFrames: 31, TSOSegments: 32, CoalescedWrites: 33, CoalescedFrames: 34}},
		{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, RxPackets: 1 << 40, RxBytes: 1<<40 + 17, TxPackets: 13, TxBytes: 1300,
			Drops: drops(map[string]uint64{"malformed": 2, "fdb_full": 5}), FDBEntries: 1, Learnt: 9, Moved: 3, Aged: 7, Flooded: 11, ARPSuppressed: 14, ARPFlooded: 15,
			Offload: control.OffloadStats{TSOFrames: 41, TSOSegments: 42, GSOSends: 43, GSODatagrams: 44, CoalescedWrites: 45, CoalescedFrames: 46},
			Queues:  []control.QueueStats{{Queue: 0, RxPackets: 1<<40 - 3, TxPackets: 10}, {Queue: 1, RxPackets: 3, TxPackets: 3}}},
	}
}

// series names one series: network, kind, vni, then reason for drops.
func series(network, kind, vni string, reason ...string) string {
	s := fmt.Sprintf("network=%q kind=%q vni=%q", network, kind, vni)
	for _, r := range reason {
		s += fmt.Sprintf(" reason=%q", r)
	}
	return s
}

// seriesOf names a parsed series the way series does, so that a label
// missing, added or renamed shows up as a different name.
func seriesOf(m *dto.Metric) string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	s := fmt.Sprintf("network=%q kind=%q vni=%q", l["network"], l["kind"], l["vni"])
	if r, ok := l["reason"]; ok {
		s += fmt.Sprintf(" reason=%q", r)
	}
	for _, k := range []string{"network", "kind", "vni", "reason"} {
		delete(l, k)
	}
	if len(l) > 0 {
		s += fmt.Sprintf(" other labels %v", l)
	}
	return s
}

func valueOf(mf *dto.MetricFamily, m *dto.Metric) float64 {
	if mf.GetType() == dto.MetricType_GAUGE {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return fams
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("got Content-Type %q, want text/plain", ct)
	}
	return rec.Body.String()
}

type family struct {
	typ    dto.MetricType
	series map[string]float64
}

// wantFamilies are the vtepd families for firstStats or secondStats: the
// underlay only in drops, ipip0 without a VNI and without FDB families.
func wantFamilies(second bool) map[string]family {
	pick := func(a, b float64) float64 {
		if second {
			return b
		}
		return a
	}
	counter := dto.MetricType_COUNTER
	ipip := series("ipip0", "ipip", "")
	vx := series("vx42", "vxlan", "42")
	dropSeries := map[string]float64{}
	for _, r := range []string{"malformed", "unknown_vni", "too_big", "fdb_full", "tap_write"} {
		dropSeries[series("underlay", "underlay", "", r)] = 0
		dropSeries[series("ipip0", "ipip", "", r)] = 0
		dropSeries[series("vx42", "vxlan", "42", r)] = 0
	}
	dropSeries[series("underlay", "underlay", "", "malformed")] = pick(3, 4)
	dropSeries[series("underlay", "underlay", "", "unknown_vni")] = 9
	dropSeries[series("underlay", "underlay", "", "tap_write")] = pick(0, 1)
	dropSeries[series("ipip0", "ipip", "", "too_big")] = pick(1, 2)
	dropSeries[series("vx42", "vxlan", "42", "malformed")] = 2
	dropSeries[series("vx42", "vxlan", "42", "fdb_full")] = pick(0, 5)
	// Every entry has offload series, zeros included; only the second
	// stats set them, each to a value of its own.
	under := series("underlay", "underlay", "")
	offload := func(u, i, v float64) family {
		return family{counter, map[string]float64{under: pick(0, u), ipip: pick(0, i), vx: pick(0, v)}}
	}
	fams := map[string]family{
		"vtepd_offload_tso_frames_total":       offload(0, 31, 41),
		"vtepd_offload_tso_segments_total":     offload(0, 32, 42),
		"vtepd_offload_gso_sends_total":        offload(0, 0, 43),
		"vtepd_offload_gso_datagrams_total":    offload(0, 0, 44),
		"vtepd_offload_gro_trains_total":       offload(21, 0, 0),
		"vtepd_offload_gro_datagrams_total":    offload(22, 0, 0),
		"vtepd_offload_coalesced_writes_total": offload(0, 33, 45),
		"vtepd_offload_coalesced_frames_total": offload(0, 34, 46),
		"vtepd_offload_fallbacks_total":        offload(1, 0, 0),
		"vtepd_rx_packets_total":               {counter, map[string]float64{ipip: pick(5, 7), vx: pick(10, 1<<40)}},
		"vtepd_csum_completed_total":           {counter, map[string]float64{ipip: pick(0, 3), vx: 0}},
		"vtepd_rx_bytes_total":                 {counter, map[string]float64{ipip: pick(420, 600), vx: pick(980, 1<<40+17)}},
		"vtepd_tx_packets_total":               {counter, map[string]float64{ipip: pick(6, 8), vx: pick(12, 13)}},
		"vtepd_tx_bytes_total":                 {counter, map[string]float64{ipip: pick(504, 700), vx: pick(1176, 1300)}},
		"vtepd_drops_total":                    {counter, dropSeries},
		"vtepd_fdb_entries":                    {dto.MetricType_GAUGE, map[string]float64{vx: pick(3, 1)}},
		"vtepd_fdb_learn_events_total":         {counter, map[string]float64{vx: pick(4, 9)}},
		"vtepd_fdb_moves_total":                {counter, map[string]float64{vx: pick(1, 3)}},
		"vtepd_fdb_aged_total":                 {counter, map[string]float64{vx: pick(2, 7)}},
		"vtepd_flood_replications_total":       {counter, map[string]float64{vx: pick(6, 11)}},
		"vtepd_arp_suppressed_total":           {counter, map[string]float64{vx: pick(0, 14)}},
		"vtepd_arp_flooded_total":              {counter, map[string]float64{vx: pick(0, 15)}},
	}
	if second {
		// Each device queue's share, both ways: only the second stats
		// list queues.
		q := func(n, dir string) string { return vx + " other labels map[direction:" + dir + " queue:" + n + "]" }
		fams["vtepd_queue_packets_total"] = family{counter, map[string]float64{
			q("0", "rx"): 1<<40 - 3, q("0", "tx"): 10, q("1", "rx"): 3, q("1", "tx"): 3,
		}}
	}
	return fams
}

func checkFamilies(t *testing.T, fams map[string]*dto.MetricFamily, want map[string]family) {
	t.Helper()
	for name, w := range want {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("%s: got no such family, want one", name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s: got type %v, want %v", name, mf.GetType(), w.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: got no help text, want one", name)
		}
		got := map[string]float64{}
		for _, m := range mf.GetMetric() {
			got[seriesOf(m)] = valueOf(mf, m)
		}
		for _, s := range slices.Sorted(maps.Keys(w.series)) {
			v, ok := got[s]
			switch {
			case !ok:
				t.Errorf("%s{%s}: got no series, want value %v", name, s, w.series[s])
			case v != w.series[s]:
				t.Errorf("%s{%s}: got %v, want %v", name, s, v, w.series[s])
			}
		}
		for _, s := range slices.Sorted(maps.Keys(got)) {
			if _, ok := w.series[s]; !ok {
				t.Errorf("%s{%s}: got unexpected series with value %v", name, s, got[s])
			}
		}
	}
	for name := range fams {
		if _, ok := want[name]; strings.HasPrefix(name, "vtepd_") && !ok {
			t.Errorf("got unexpected family %s", name)
		}
	}
}

// checkDrops asserts a drop series for every reason of every entry, read
// from the stats themselves rather than from a hand-written list.
func checkDrops(t *testing.T, fams map[string]*dto.MetricFamily, stats []control.NetworkStats) {
	t.Helper()
	got := map[string]float64{}
	if mf := fams["vtepd_drops_total"]; mf != nil {
		for _, m := range mf.GetMetric() {
			got[seriesOf(m)] = valueOf(mf, m)
		}
	}
	for _, s := range stats {
		vni := ""
		if s.Kind == control.KindVXLAN {
			vni = fmt.Sprint(s.VNI)
		}
		for reason, n := range s.Drops {
			key := series(s.Name, s.Kind, vni, reason)
			if v, ok := got[key]; !ok || v != float64(n) {
				t.Errorf("vtepd_drops_total{%s}: got %v (present %v), want %d", key, v, ok, n)
			}
		}
	}
}

func TestMetricsHandler(t *testing.T) {
	f := &fakeStats{}
	h := control.NewMetricsHandler(f.get)
	// The steps share one handler in order: the second proves each scrape
	// reads the stats afresh.
	steps := []struct {
		name  string
		stats []control.NetworkStats
		want  map[string]family
	}{
		{"first scrape", firstStats(), wantFamilies(false)},
		{"values changed", secondStats(), wantFamilies(true)},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.stats)
			fams := parseMetrics(t, scrape(t, h))
			checkFamilies(t, fams, tc.want)
			checkDrops(t, fams, tc.stats)
			// The standard runtime and process collectors share the registry.
			for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_start_time_seconds"} {
				if _, ok := fams[name]; !ok {
					t.Errorf("got no family %s, want one", name)
				}
			}
		})
	}
}

func TestMetricsEmpty(t *testing.T) {
	h := control.NewMetricsHandler(func() []control.NetworkStats { return nil })
	fams := parseMetrics(t, scrape(t, h))
	checkFamilies(t, fams, map[string]family{})
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("got no family go_goroutines, want one")
	}
}

func TestMetricsLint(t *testing.T) {
	h := control.NewMetricsHandler((&fakeStats{stats: firstStats()}).get)
	problems, err := promlint.New(strings.NewReader(scrape(t, h))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestListenMetrics(t *testing.T) {
	f := &fakeStats{stats: firstStats()}
	m, err := control.ListenMetrics("127.0.0.1:0", f.get, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = m.Close()
		}
	})
	addr := m.Addr()
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("got Addr %q, want 127.0.0.1 with the port chosen", addr)
	}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := get("/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", resp.StatusCode)
	}
	fams := parseMetrics(t, body)
	checkFamilies(t, fams, wantFamilies(false))
	if resp, _ := get("/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: got status %d, want 404", resp.StatusCode)
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	closed = true
	if err := m.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	// The port is free again once Close has returned.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s after Close: got %v, want the port released", addr, err)
	}
	_ = ln.Close()
}

func TestListenMetricsErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })
	cases := []struct {
		name  string
		addr  string
		want  string
		errIs error
	}{
		{"port in use", busy.Addr().String(), "metrics " + busy.Addr().String() + ": bind: address already in use", syscall.EADDRINUSE},
		{"no port", "localhost", "metrics localhost: address localhost: missing port in address", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := control.ListenMetrics(tc.addr, (&fakeStats{}).get, nil)
			if err == nil {
				_ = m.Close()
				t.Fatalf("got no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q, want %q", err, tc.want)
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Errorf("got error %v, want one wrapping %v", err, tc.errIs)
			}
		})
	}
}

// TestMetricsBGP: the speaker's sessions and ignored routes are series of
// their own, and a daemon without a speaker exports none of them.
func TestMetricsBGP(t *testing.T) {
	var info *control.BGPInfo
	bgp := func() (control.BGPInfo, error) {
		if info == nil {
			return control.BGPInfo{}, control.ErrNotFound
		}
		return *info, nil
	}
	h := control.NewMetricsHandler(func() []control.NetworkStats { return nil }, control.MetricsBGP(bgp))
	fams := parseMetrics(t, scrape(t, h))
	checkFamilies(t, fams, map[string]family{})

	info = &control.BGPInfo{ASN: 65000, RouterID: "10.0.0.1", Neighbors: []control.BGPNeighbor{
		{Address: "10.0.0.2", ASN: 65000, State: "Established", Received: 5, Sent: 3},
		{Address: "10.0.0.3", ASN: 65001, State: "Active"},
	}, Ignored: map[string]uint64{"vni": 2, "own": 0}}
	fams = parseMetrics(t, scrape(t, h))
	other := func(labels string) string { return `network="" kind="" vni="" other labels map[` + labels + `]` }
	checkFamilies(t, fams, map[string]family{
		"vtepd_bgp_speaker": {dto.MetricType_GAUGE, map[string]float64{other("asn:65000 router_id:10.0.0.1"): 1}},
		"vtepd_bgp_session_up": {dto.MetricType_GAUGE, map[string]float64{
			other("asn:65000 neighbor:10.0.0.2"): 1, other("asn:65001 neighbor:10.0.0.3"): 0}},
		"vtepd_bgp_routes_received": {dto.MetricType_GAUGE, map[string]float64{
			other("neighbor:10.0.0.2"): 5, other("neighbor:10.0.0.3"): 0}},
		"vtepd_bgp_routes_sent": {dto.MetricType_GAUGE, map[string]float64{
			other("neighbor:10.0.0.2"): 3, other("neighbor:10.0.0.3"): 0}},
		"vtepd_bgp_routes_ignored_total": {dto.MetricType_COUNTER, map[string]float64{
			`network="" kind="" vni="" reason="vni"`: 2, `network="" kind="" vni="" reason="own"`: 0}},
	})
}

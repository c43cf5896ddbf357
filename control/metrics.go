package control

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// underlayKind is the Kind of the pseudo-networks ("underlay",
// "ipip-underlay") that carry the drops of the shared underlay sockets.
const underlayKind = "underlay"

// Labels every vtepd series carries; drops add "reason".
var metricLabels = []string{"network", "kind", "vni"}

// statsCollector turns what a stats function returns into metrics at every
// scrape. Keeping the counters where the dataplane keeps them, and reading
// them only here, leaves the forwarding path free of any metrics library.
type statsCollector struct {
	stats func() []NetworkStats

	rxPackets, rxBytes *prometheus.Desc
	txPackets, txBytes *prometheus.Desc
	drops              *prometheus.Desc
	fdbEntries         *prometheus.Desc
	learnt, moved      *prometheus.Desc
	aged, flooded      *prometheus.Desc
	csumCompleted      *prometheus.Desc
	arpSuppressed      *prometheus.Desc
	arpFlooded         *prometheus.Desc
	offload            [len(offloadMetrics)]*prometheus.Desc
	// queuePackets is each device queue's share of the traffic, by
	// direction (rx, tx): how evenly the workers are loaded.
	queuePackets *prometheus.Desc
	// workerBusy is the time each queue's own worker was not waiting for
	// packets: its rate is the worker's load, 1 for one that cannot keep
	// up.
	workerBusy *prometheus.Desc
}

// offloadMetrics are the offload counters' series: name and help, in the
// order offloadValues returns them.
var offloadMetrics = [...][2]string{
	{"vtepd_offload_tso_frames_total", "TCP and UDP super-frames read from the device (TSO, USO) and cut into segments in user space."},
	{"vtepd_offload_tso_segments_total", "Segments the super-frames were cut into."},
	{"vtepd_offload_gso_sends_total", "UDP GSO sends (UDP_SEGMENT) that carried more than one datagram."},
	{"vtepd_offload_gso_datagrams_total", "Datagrams carried by the UDP GSO sends."},
	{"vtepd_offload_gro_trains_total", "Reads that returned a train of datagrams the kernel coalesced (UDP_GRO); counted on the underlay, before the VNI is known."},
	{"vtepd_offload_gro_datagrams_total", "Datagrams in the GRO trains."},
	{"vtepd_offload_coalesced_writes_total", "TCP and UDP super-frames written to the device, made of received segments or datagrams coalesced in user space."},
	{"vtepd_offload_coalesced_frames_total", "Received frames coalesced into those super-frames."},
	{"vtepd_offload_fallbacks_total", "Offloads turned off because the kernel refused them, at start or while forwarding; traffic goes on without them."},
}

func offloadValues(o OffloadStats) [len(offloadMetrics)]uint64 {
	return [...]uint64{o.TSOFrames, o.TSOSegments, o.GSOSends, o.GSODatagrams,
		o.GROTrains, o.GRODatagrams, o.CoalescedWrites, o.CoalescedFrames, o.Fallbacks}
}

func newStatsCollector(stats func() []NetworkStats) *statsCollector {
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string(nil), metricLabels...), extra...), nil)
	}
	c := &statsCollector{
		stats: stats,
		rxPackets: desc("vtepd_rx_packets_total",
			"Packets received from remote endpoints over the underlay and delivered to the network's TAP/TUN device."),
		rxBytes: desc("vtepd_rx_bytes_total",
			"Bytes of the inner frames or packets counted by vtepd_rx_packets_total, outer headers excluded."),
		txPackets: desc("vtepd_tx_packets_total",
			"Packets sent to remote endpoints over the underlay, each copy of a flooded frame included."),
		txBytes: desc("vtepd_tx_bytes_total",
			"Bytes of the inner frames or packets counted by vtepd_tx_packets_total, outer headers excluded."),
		drops: desc("vtepd_drops_total",
			"Packets dropped, by reason; the underlay pseudo-networks count drops before a packet reaches a network.",
			"reason"),
		fdbEntries: desc("vtepd_fdb_entries",
			"MAC entries in the network's forwarding database, static and learnt; flood-list addresses are not counted."),
		learnt: desc("vtepd_fdb_learn_events_total",
			"MAC addresses learnt into the forwarding database from received frames."),
		moved: desc("vtepd_fdb_moves_total",
			"Learnt MAC addresses that moved to another remote endpoint."),
		aged: desc("vtepd_fdb_aged_total",
			"Learnt forwarding entries removed because they were not refreshed within the ageing time."),
		csumCompleted: desc("vtepd_csum_completed_total",
			"Received packets whose TCP or UDP checksum the sender left for offload (the pseudo-header sum only) and vtepd finished before delivering them."),
		arpSuppressed: desc("vtepd_arp_suppressed_total",
			"ARP requests from the device answered by vtepd for a host an EVPN peer announced, instead of flooded."),
		arpFlooded: desc("vtepd_arp_flooded_total",
			"ARP requests from the device of an EVPN network for an address no peer announced, flooded."),
		flooded: desc("vtepd_flood_replications_total",
			"Copies of broadcast, unknown-unicast and multicast frames sent by head-end replication, one per flood-list remote or multicast group."),
	}
	for i, m := range offloadMetrics {
		c.offload[i] = desc(m[0], m[1])
	}
	c.queuePackets = desc("vtepd_queue_packets_total",
		"Packets by device queue and direction: tx read from the queue and sent, rx written into it; each queue has its own worker.",
		"queue", "direction")
	c.workerBusy = desc("vtepd_worker_busy_seconds_total",
		"Time each queue's own worker (a device queue's transmit worker, an underlay socket's receiving worker) was not waiting for packets; its rate is the worker's load.",
		"queue")
	return c
}

// Describe sends every descriptor, so the registry can check names and
// labels once at registration.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.rxPackets, c.rxBytes, c.txPackets, c.txBytes, c.drops,
		c.fdbEntries, c.learnt, c.moved, c.aged, c.flooded, c.queuePackets, c.csumCompleted,
		c.arpSuppressed, c.arpFlooded, c.workerBusy,
	} {
		ch <- d
	}
	for _, d := range c.offload {
		ch <- d
	}
}

// Collect reads the stats afresh. Underlay pseudo-networks have no traffic
// or table of their own, so they export only drops, offloads and their
// receiving workers' time; only VXLAN networks have a forwarding database
// and a flood list.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		vni := ""
		if s.Kind != KindIPIP && s.Kind != underlayKind {
			vni = strconv.FormatUint(uint64(s.VNI), 10)
		}
		labels := []string{s.Name, s.Kind, vni}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
		// Every reason the backend reports is exported, zeros included, so
		// that a rate over a reason exists before its first drop.
		for reason, n := range s.Drops {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n),
				s.Name, s.Kind, vni, reason)
		}
		for i, v := range offloadValues(s.Offload) {
			counter(c.offload[i], v)
		}
		for _, q := range s.Queues {
			if q.WorkerUpSeconds > 0 {
				ch <- prometheus.MustNewConstMetric(c.workerBusy, prometheus.CounterValue, q.WorkerBusySeconds,
					s.Name, s.Kind, vni, strconv.Itoa(q.Queue))
			}
		}
		if s.Kind == underlayKind {
			continue
		}
		counter(c.rxPackets, s.RxPackets)
		counter(c.rxBytes, s.RxBytes)
		counter(c.txPackets, s.TxPackets)
		counter(c.txBytes, s.TxBytes)
		counter(c.csumCompleted, s.CsumCompleted)
		for _, q := range s.Queues {
			n := strconv.Itoa(q.Queue)
			ch <- prometheus.MustNewConstMetric(c.queuePackets, prometheus.CounterValue, float64(q.RxPackets),
				s.Name, s.Kind, vni, n, "rx")
			ch <- prometheus.MustNewConstMetric(c.queuePackets, prometheus.CounterValue, float64(q.TxPackets),
				s.Name, s.Kind, vni, n, "tx")
		}
		if s.Kind != KindVXLAN {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.fdbEntries, prometheus.GaugeValue, float64(s.FDBEntries), labels...)
		counter(c.learnt, s.Learnt)
		counter(c.moved, s.Moved)
		counter(c.aged, s.Aged)
		counter(c.flooded, s.Flooded)
		counter(c.arpSuppressed, s.ARPSuppressed)
		counter(c.arpFlooded, s.ARPFlooded)
	}
}

// bgpCollector exports the BGP speaker's sessions and what it ignored.
type bgpCollector struct {
	bgp                 func() (BGPInfo, error)
	up, received, sent  *prometheus.Desc
	ignored, configured *prometheus.Desc
}

func newBGPCollector(bgp func() (BGPInfo, error)) *bgpCollector {
	return &bgpCollector{bgp: bgp,
		configured: prometheus.NewDesc("vtepd_bgp_speaker", "1 while vtepd runs a BGP speaker, by its AS and router id.", []string{"asn", "router_id"}, nil),
		up: prometheus.NewDesc("vtepd_bgp_session_up", "1 while the session with the neighbor is Established, else 0.",
			[]string{"neighbor", "asn"}, nil),
		received: prometheus.NewDesc("vtepd_bgp_routes_received", "EVPN routes the neighbor sent that vtepd holds.", []string{"neighbor"}, nil),
		sent:     prometheus.NewDesc("vtepd_bgp_routes_sent", "EVPN routes vtepd sent the neighbor.", []string{"neighbor"}, nil),
		ignored: prometheus.NewDesc("vtepd_bgp_routes_ignored_total",
			"Peers' routes vtepd did not use, by reason (own, malformed, route_type, max_prefixes, vni, next_hop, static, fdb).",
			[]string{"reason"}, nil),
	}
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.configured, c.up, c.received, c.sent, c.ignored} {
		ch <- d
	}
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.bgp()
	if err != nil {
		return // no speaker: no series
	}
	ch <- prometheus.MustNewConstMetric(c.configured, prometheus.GaugeValue, 1, strconv.FormatUint(uint64(info.ASN), 10), info.RouterID)
	for _, n := range info.Neighbors {
		up := 0.0
		if n.State == "Established" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, n.Address, strconv.FormatUint(uint64(n.ASN), 10))
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.GaugeValue, float64(n.Received), n.Address)
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.GaugeValue, float64(n.Sent), n.Address)
	}
	for reason, v := range info.Ignored {
		ch <- prometheus.MustNewConstMetric(c.ignored, prometheus.CounterValue, float64(v), reason)
	}
}

// MetricsOption adds to what the metrics export.
type MetricsOption func(reg *prometheus.Registry)

// MetricsBGP exports the BGP speaker that bgp describes: its sessions, the
// routes each carries and the routes ignored. Nothing while bgp fails
// (vtepd runs no speaker).
func MetricsBGP(bgp func() (BGPInfo, error)) MetricsOption {
	return func(reg *prometheus.Registry) { reg.MustRegister(newBGPCollector(bgp)) }
}

// NewMetricsHandler returns an http.Handler serving the Prometheus text
// exposition of what stats returns, read fresh at every scrape, together
// with the Go runtime and process metrics. It uses a registry of its own,
// never the global one.
func NewMetricsHandler(stats func() []NetworkStats, opts ...MetricsOption) http.Handler {
	return newMetricsHandler(stats, nil, opts)
}

func newMetricsHandler(stats func() []NetworkStats, log *zap.Logger, more []MetricsOption) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newStatsCollector(stats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, o := range more {
		o(reg)
	}
	opts := promhttp.HandlerOpts{}
	if log != nil {
		opts.ErrorLog = zap.NewStdLog(log)
	}
	return promhttp.HandlerFor(reg, opts)
}

// MetricsServer serves /metrics over HTTP until Close.
type MetricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	closeOnce sync.Once
	closeErr  error
}

// ListenMetrics listens on addr (host:port, like 127.0.0.1:9470; port 0
// picks a free port) and serves the metrics of stats at /metrics until
// Close. log may be nil.
func ListenMetrics(addr string, stats func() []NetworkStats, log *zap.Logger, opts ...MetricsOption) (*MetricsServer, error) {
	if log == nil {
		log = zap.NewNop()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		// The OpError repeats the address and says "listen tcp"; its
		// cause alone reads better after the address.
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return nil, fmt.Errorf("metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", newMetricsHandler(stats, log, opts))
	m := &MetricsServer{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          zap.NewStdLog(log),
		},
		done: make(chan struct{}),
	}
	log.Info("metrics listening", zap.String("address", m.Addr()))
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", zap.String("address", m.Addr()), zap.Error(err))
		}
	}()
	return m, nil
}

// Addr is the address the server is bound to, with the port it was given
// when asked for port 0.
func (m *MetricsServer) Addr() string { return m.ln.Addr().String() }

// Close stops serving, drops open connections and releases the port before
// it returns. Calling it again does nothing.
func (m *MetricsServer) Close() error {
	m.closeOnce.Do(func() {
		m.closeErr = m.srv.Close()
		<-m.done
	})
	return m.closeErr
}

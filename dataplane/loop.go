package dataplane

import (
	"errors"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/fdb"
)

// netDevice is what a VXLAN and an IPIP network share: the device the network
// owns, the transmit workers reading its queues, and stopping them together.
type netDevice struct {
	link     Link
	queues   []Link // Queues(link): transmit worker i reads queues[i]
	wg       sync.WaitGroup
	stopped  atomic.Bool
	readErrs atomic.Int64 // last device read-error log, unix nanoseconds
	loss     deviceLoss   // the device deleted under the network (devloss.go)
}

func newNetDevice(link Link) netDevice { return netDevice{link: link, queues: Queues(link)} }

// stop closes the device, which ends the transmit workers, and waits for them.
func (p *netDevice) stop() error {
	if p.stopped.Swap(true) {
		return nil
	}
	err := p.link.Close()
	p.wg.Wait()
	return err
}

// read fills bufs[i][Headroom:] with a batch of frames from the device
// queue q. It returns false when the transmit worker is to end: the network
// was stopped, the device closed or deleted. Other errors are logged and
// retried after a pause; they stop no other queue.
func (p *netDevice) read(q Link, bufs [][]byte, sizes []int, log *zap.Logger) (int, bool) {
	for {
		n, err := q.Read(bufs, sizes, Headroom)
		if err == nil {
			return n, true
		}
		if p.stopped.Load() || errors.Is(err, os.ErrClosed) || p.lostDevice(err, log) {
			return 0, false
		}
		readFailed(log, &p.readErrs, "device read failed", err)
	}
}

// txLoop is a transmit worker of a device without offloads: it reads
// batches from queue q until the device is closed or lost, hands each
// frame to forward, which encapsulates it in place and appends it to the
// batch to send (or sends or drops it itself), and sends the batch.
func (p *netDevice) txLoop(q Link, log *zap.Logger, forward func(buf []byte, size int, out [][]byte) [][]byte, send func([][]byte)) {
	defer p.wg.Done()
	bufs := newBuffers(linkBatch, Headroom+maxPacket)
	sizes := make([]int, linkBatch)
	out := make([][]byte, 0, linkBatch)
	for {
		count, ok := p.read(q, bufs, sizes, log)
		if !ok {
			return
		}
		out = out[:0]
		for i := 0; i < count; i++ {
			out = forward(bufs[i], sizes[i], out)
		}
		send(out)
	}
}

// QueueStats is the traffic of one device queue: frames read from it and
// sent to the underlay (Tx), and frames written into it (Rx), as its
// workers counted them; or of one of an underlay's receiving sockets:
// packets read from it (Rx) and sent by the networks' transmit workers of
// its index (Tx).
type QueueStats struct {
	TxPackets, TxBytes uint64
	RxPackets, RxBytes uint64
	// Up is how long the queue's own worker has run (a device queue's
	// transmit worker, a socket's receiving worker) and Busy the part it
	// was not waiting for packets: Busy/Up near 1 is a worker that cannot
	// keep up. Both zero for a worker whose reader cannot tell.
	Up, Busy time.Duration
}

// queueStats splits c, whose first shards are the transmit workers' (one
// per queue) and the rest receive workers' (worker r writes into queue
// r mod queues), into per-queue figures.
func (p *netDevice) queueStats(c *Counters) []QueueStats {
	q := len(p.queues)
	out := make([]QueueStats, q)
	for i, s := range c.Shards() {
		if i < q {
			out[i].TxPackets += s.TxPackets
			out[i].TxBytes += s.TxBytes
			out[i].Up, out[i].Busy = s.Up, s.Busy
			continue
		}
		k := (i - q) % q
		out[k].RxPackets += s.RxPackets
		out[k].RxBytes += s.RxBytes
	}
	return out
}

// countSent counts one underlay send of pkts, of which the first sent left:
// those as transmitted, their bytes as the inner packets' (each less hdrLen
// bytes of outer headers, as a device counts), the rest as DropSend with
// err. A partial send is credited its share of the batch's bytes.
func countSent(c *counterShard, log *zap.Logger, pkts [][]byte, hdrLen, sent int, err error) {
	var bytes uint64
	for _, p := range pkts {
		bytes += uint64(len(p) - hdrLen)
	}
	c.TxPackets.Add(uint64(sent))
	if sent == len(pkts) {
		c.TxBytes.Add(bytes)
		return
	}
	c.TxBytes.Add(bytes * uint64(sent) / uint64(len(pkts)))
	c.drop(log, DropSend, uint64(len(pkts)-sent), err)
}

// newBuffers allocates the n buffers one loop owns for its whole life.
func newBuffers(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs
}

// connReader is a receive loop's batch: the datagrams, their sizes and
// senders, read from one socket.
type connReader struct {
	conn     Conn
	done     *atomic.Bool // set before conn is closed on purpose
	log      *zap.Logger
	readErrs *atomic.Int64
	bufs     [][]byte
	sizes    []int
	srcs     []netip.AddrPort
	// segs[i] is the datagram size of a GRO train in bufs[i], 0 for one
	// datagram; always 0 from a Conn that cannot coalesce.
	segs []int
	segr segReader // conn, when it reports GRO trains
}

// segReader is a Conn that can return GRO trains (UDPOffload.GRO).
type segReader interface {
	ReadBatchSegs(bufs [][]byte, sizes []int, srcs []netip.AddrPort, segs []int) (int, error)
}

func newConnReader(conn Conn, done *atomic.Bool, log *zap.Logger, readErrs *atomic.Int64) *connReader {
	r := &connReader{
		conn: conn, done: done, log: log, readErrs: readErrs,
		bufs:  newBuffers(connBatch, maxPacket),
		sizes: make([]int, connBatch),
		srcs:  make([]netip.AddrPort, connBatch),
		segs:  make([]int, connBatch),
	}
	r.segr, _ = conn.(segReader)
	return r
}

// read reads a batch. It returns false when the socket was closed on
// purpose; other errors are logged and retried after a pause.
func (r *connReader) read() (int, bool) {
	for {
		var (
			n   int
			err error
		)
		if r.segr != nil {
			n, err = r.segr.ReadBatchSegs(r.bufs, r.sizes, r.srcs, r.segs)
		} else {
			n, err = r.conn.ReadBatch(r.bufs, r.sizes, r.srcs)
		}
		if err == nil {
			return n, true
		}
		if r.done.Load() {
			return 0, false
		}
		readFailed(r.log, r.readErrs, "underlay read failed", err)
	}
}

// busyPoll is a reader's busy polling (DeviceConfig.BusyPoll,
// UDPOffload.BusyPoll): the read function it hands the runtime poller tries
// again while keep says so, instead of parking there. The zero value never
// spins.
type busyPoll struct {
	spin  time.Duration
	until time.Time
	// clock, when set, keeps the time the read waits in the runtime's
	// poller: its worker's idle time.
	clock *workerClock
}

// park notes that the read is about to wait in the runtime's poller.
func (b *busyPoll) park() {
	if b.clock != nil {
		b.clock.park()
	}
}

// woke notes that the read runs again, after a wait if it parked: each
// call of a read function the poller runs begins with it.
func (b *busyPoll) woke() {
	if b.clock != nil {
		b.clock.woke()
	}
}

// workerClock is a worker's time: when it started, and how long its reader
// has waited for packets in the runtime's poller. Only the worker writes
// it (start before it runs, then park, woke and stop), making seq odd while
// it does; a reader takes its view, and the time, while seq stays even and
// unchanged, so each view is the clock at one instant and what a read
// reports never goes back.
type workerClock struct {
	seq     atomic.Uint64
	started atomic.Int64 // on the fdb.Now clock; 0: no worker
	parked  atomic.Int64 // nanoseconds of the waits that ended
	since   atomic.Int64 // when the wait under way began; 0: none
}

// start marks the worker started now.
func (w *workerClock) start() {
	w.seq.Add(1)
	w.started.Store(fdb.Now())
	w.seq.Add(1)
}

// park notes that the worker begins to wait.
func (w *workerClock) park() {
	w.seq.Add(1)
	w.since.Store(fdb.Now())
	w.seq.Add(1)
}

// woke notes that the worker runs again, ending its wait if it was in one.
func (w *workerClock) woke() {
	s := w.since.Load()
	if s == 0 {
		return
	}
	w.seq.Add(1)
	w.parked.Add(fdb.Now() - s)
	w.since.Store(0)
	w.seq.Add(1)
}

// stop notes that the worker has ended: from then on it counts as waiting.
func (w *workerClock) stop() {
	if w.started.Load() != 0 && w.since.Load() == 0 {
		w.park()
	}
}

// read returns how long the worker has run and how much of it it was not
// waiting, both zero when it never started.
func (w *workerClock) read() (up, busy time.Duration) {
	for {
		s := w.seq.Load()
		if s&1 != 0 {
			runtime.Gosched() // the worker is writing
			continue
		}
		now := fdb.Now()
		start, parked, since := w.started.Load(), w.parked.Load(), w.since.Load()
		if w.seq.Load() != s {
			continue
		}
		if start == 0 {
			return 0, 0
		}
		idle := parked
		if since != 0 {
			idle += now - since
		}
		return time.Duration(now - start), time.Duration(now - start - idle)
	}
}

// start begins a read's spin.
func (b *busyPoll) start() {
	if b.spin > 0 {
		b.until = time.Now().Add(b.spin)
	}
}

// keep reports whether a read that found nothing is to try again: until the
// spin is over. It yields the processor first, since workers can outnumber
// processors.
func (b *busyPoll) keep() bool {
	if b.spin <= 0 || !time.Now().Before(b.until) {
		return false
	}
	runtime.Gosched()
	return true
}

// readFailed logs a read error at most once a second and pauses the loop a
// little, so a socket or device that keeps failing cannot spin a core.
func readFailed(log *zap.Logger, last *atomic.Int64, msg string, err error) {
	now := time.Now().UnixNano()
	if l := last.Load(); now-l >= int64(time.Second) && last.CompareAndSwap(l, now) {
		log.Warn(msg, zap.Error(err))
	}
	time.Sleep(10 * time.Millisecond)
}

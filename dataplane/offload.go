package dataplane

import (
	"errors"
	"net/netip"
	"os"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/encap"
)

// trainSize is the space one super-frame is segmented into: 64 KiB of
// payload plus, for every segment, a copy of the headers (at most 134 bytes
// of Ethernet, IP and TCP) and the headroom in front of it. It holds the
// segments of any MSS from about 64 bytes up; a super-frame that would
// need more is dropped as malformed (the kernel's smallest MSS is 88).
const trainSize = 256 << 10

// rxQueue collects the inner frames one receive loop has decapsulated for
// one device, so that consecutive TCP segments of a flow, and UDP datagrams
// of a flow where the device has USO, are written as one super-frame (the
// user-space half of GRO) when the device takes them, and one by one
// otherwise. A receive loop owns one; frames point
// into its socket buffers and are written before the next read.
type rxQueue struct {
	worker   int // the receive worker's number: its shard and device queue
	link     Link
	vnet     vnetLink // link, when it takes super-frames
	counters *counterShard
	log      *zap.Logger
	l3       int // offset of the IP header in a frame: 14 (TAP) or 0 (TUN)

	frames [][]byte
	groups [maxParts]encap.Group
	parts  [][]byte
	w      *vnetWriter
	zero   [encap.VirtioNetHdrLen]byte
	// super describes a received super-frame, and segs holds it cut into
	// segments (addSuper); made at the first one.
	super [encap.VirtioNetHdrLen]byte
	segs  []byte
}

func newRxQueue(worker int) *rxQueue {
	return &rxQueue{
		worker: worker,
		frames: make([][]byte, 0, maxParts),
		parts:  make([][]byte, 0, maxParts+1),
		w:      newVnetWriter(),
	}
}

// add queues frame for link, writing out what was queued for another
// device first.
func (q *rxQueue) add(link Link, c *counterShard, log *zap.Logger, l3 int, frame []byte) {
	if link != q.link {
		q.flush()
		q.link, q.counters, q.log, q.l3 = link, c, log, l3
		q.vnet, _ = link.(vnetLink)
	}
	q.frames = append(q.frames, frame)
	if len(q.frames) == cap(q.frames) {
		q.flush()
	}
}

// superFrame reports whether frame, too long for a device of mtu, is a
// TCP super-frame whose sender left segmentation and the checksum to the
// device (encap.DescribeSuperFrame), and if so describes it for addSuper.
func (q *rxQueue) superFrame(frame []byte, l3, mtu int) bool {
	return encap.DescribeSuperFrame(frame, l3, mtu, q.super[:])
}

// addSuper cuts the super-frame superFrame described into segments that
// fit the device, each checksum complete, and writes them as add would,
// counting each as a checksum completed. A device with offloads gets them
// coalesced again.
func (q *rxQueue) addSuper(link Link, c *counterShard, log *zap.Logger, l3 int, frame []byte) {
	if q.segs == nil {
		q.segs = make([]byte, 2*maxPacket)
	}
	segs, segLen, lastLen, err := encap.GSOSplit(frame, q.super[:], l3, q.segs, 0)
	if err != nil {
		c.drop(log, DropMalformed, 1, err)
		return
	}
	for i := range segs {
		l := segLen
		if i == segs-1 {
			l = lastLen
		}
		q.add(link, c, log, l3, q.segs[i*segLen:i*segLen+l])
	}
	q.flush() // before the next super-frame reuses segs
	c.CsumCompleted.Add(uint64(segs))
}

// flush writes every queued frame and counts it.
func (q *rxQueue) flush() {
	if len(q.frames) == 0 {
		return
	}
	defer func() {
		clear(q.frames) // keep no socket buffer reachable through a stale slice
		q.frames = q.frames[:0]
	}()
	if q.vnet == nil {
		// One Write for the batch; a frame the device refuses is counted
		// as a drop and the rest written after it.
		for frames := q.frames; len(frames) > 0; {
			n, err := q.link.Write(frames, 0)
			n = min(max(n, 0), len(frames))
			bytes := 0
			for _, f := range frames[:n] {
				bytes += len(f)
			}
			q.count(n, bytes, nil)
			if err == nil || n == len(frames) {
				break
			}
			q.count(1, len(frames[n]), err)
			frames = frames[n+1:]
		}
		return
	}
	if len(q.frames) == 1 {
		f := q.frames[0]
		q.parts = append(q.parts[:0], q.zero[:], f)
		q.count(1, len(f), q.vnet.WriteVnet(q.w, q.parts))
		return
	}
	n, err := encap.Coalesce(q.frames, q.l3, q.groups[:], q.vnet.USO())
	if err != nil { // cannot happen: groups is as long as frames can be
		q.counters.drop(q.log, DropLinkWrite, uint64(len(q.frames)), err)
		return
	}
	for i := range q.groups[:n] {
		// By index: parts takes a slice of the group's header, which of
		// a loop variable's copy would move that copy to the heap, one
		// allocation per write.
		g := &q.groups[i]
		first := q.frames[g.Start]
		q.parts = append(q.parts[:0], g.Hdr[:], first)
		bytes := len(first)
		hdrLen := int(encap.VirtioNetHdr(g.Hdr[:]).HdrLen())
		for _, f := range q.frames[g.Start+1 : g.Start+g.Count] {
			q.parts = append(q.parts, f[hdrLen:])
			bytes += len(f)
		}
		err := q.vnet.WriteVnet(q.w, q.parts)
		if err == nil && g.Count > 1 {
			q.counters.Offload.CoalescedWrites.Add(1)
			q.counters.Offload.CoalescedFrames.Add(uint64(g.Count))
		}
		q.count(g.Count, bytes, err)
	}
	clear(q.parts)
}

func (q *rxQueue) count(frames, bytes int, err error) {
	q.counters.tally(q.log, &q.counters.RxPackets, &q.counters.RxBytes, DropLinkWrite, frames, bytes, err)
}

// readVnet reads a batch of frames from an offloading device: frame i at
// bufs[i][Headroom:], its virtio-net header in the bytes before. Like read,
// it returns false when the transmit loop is to end.
func (p *netDevice) readVnet(d vnetLink, bufs [][]byte, sizes []int, log *zap.Logger) (int, bool) {
	for {
		n, err := d.ReadVnet(bufs, sizes, Headroom)
		if err == nil {
			return n, true
		}
		if p.stopped.Load() || errors.Is(err, os.ErrClosed) || p.lostDevice(err, log) {
			return 0, false
		}
		readFailed(log, &p.readErrs, "device read failed", err)
	}
}

// txLoopVnet is txLoop for a device with offloads: a batch of frames per
// wake-up, partial checksums finished, TCP and UDP super-frames cut into
// segments.
// With UDP GSO, the segments to one remote leave as one train per system
// call, and so do runs of frames read one by one that go to one remote with
// one size (dgramTrain); without GSO, packets leave in sendmmsg(2) batches.
// While someone traces the network, everything takes the one-packet path,
// so that each packet is seen with the headers it leaves with.
func (n *vxlanTx) txLoopVnet(d vnetLink) {
	defer n.wg.Done()
	bufs := newBuffers(linkBatch, Headroom+maxPacket)
	sizes := make([]int, linkBatch)
	train := make([]byte, trainSize)
	out := make([][]byte, 0, linkBatch)
	w := &gsoWriter{}
	tr := &dgramTrain{parts: make([][]byte, 0, encap.MaxUDPSegments)}
	run := &gsoRun{}
	for {
		count, ok := n.readVnet(d, bufs, sizes, n.log)
		if !ok {
			return
		}
		pool := n.u.gso.Load()
		out = out[:0]
		for i := 0; i < count; i++ {
			buf := bufs[i]
			h := encap.VirtioNetHdr(buf[Headroom-encap.VirtioNetHdrLen : Headroom])
			frame := buf[Headroom : Headroom+sizes[i]]
			if h.GSOType() == encap.VirtioGSONone {
				n.sendRun(run, w, train) // in order: what came before goes first
				if err := encap.CompleteChecksum(frame, h); err != nil {
					n.c.drop(n.log, DropMalformed, 1, err)
					continue
				}
				if pool != nil {
					if remote, ok := n.unicastHit(frame); ok && n.obs.on() == nil && n.fits(len(frame)) {
						out = n.send(out) // in order: what came before goes first
						n.queueDatagram(tr, w, pool, buf, len(frame), remote)
						continue
					}
					n.sendTrain(tr, w)
				}
				out = n.forward(buf, len(frame), out)
				continue
			}
			if len(frame) < encap.EthernetHeaderLen {
				n.c.drop(n.log, DropMalformed, 1, encap.ErrShortFrame)
				continue
			}
			n.sendTrain(tr, w) // in order: what came before goes first
			out = n.send(out)
			n.forwardSuper(frame, h, train, w, pool, out, run)
		}
		n.sendRun(run, w, train)
		n.sendTrain(tr, w)
		n.send(out)
	}
}

// unicastHit returns the remote of a frame that forward would send to one
// remote, and false for anything forward would drop or flood.
func (n *vxlanTx) unicastHit(frame []byte) (netip.Addr, bool) {
	if len(frame) < encap.EthernetHeaderLen || len(frame) > n.maxFrame {
		return netip.Addr{}, false
	}
	dst := encap.Ethernet(frame).Dst()
	if dst[0]&1 != 0 {
		return netip.Addr{}, false
	}
	if n.local != nil {
		n.noteLocal(frame) // forward does it for the rest
	}
	return n.table.Lookup(dst)
}

// dgramTrain gathers the VXLAN datagrams of frames read one at a time (not
// super-frames) that leave for one remote from one GSO socket, all of the
// first one's size but maybe the last, so that they go as one UDP_SEGMENT send: one
// system call and one trip through the stack for the lot, and, at a
// receiver with UDP_GRO, one read. Small packets of one flow, a stream of
// 64-byte UDP say, arrive that way. A transmit loop owns one; its parts
// point into the loop's read buffers and are sent before the next read.
type dgramTrain struct {
	pool   *gsoPool // the GSO sockets it leaves by
	parts  [][]byte // VXLAN header and inner frame, each in its own buffer
	remote netip.Addr
	sock   uint32 // which GSO socket: the flow hash modulo their number
	bytes  int    // the sum of the parts' lengths
	// first is the read buffer the first part lies in: a train of one
	// leaves by the one-packet path, which writes the outer headers there.
	first []byte
}

// queueDatagram writes the VXLAN header in the headroom of the frame in
// buf and adds the datagram to tr, sending what tr held first when the
// datagram cannot join it.
func (n *vxlanTx) queueDatagram(tr *dgramTrain, w *gsoWriter, pool *gsoPool, buf []byte, frameLen int, remote netip.Addr) {
	frame := buf[Headroom : Headroom+frameLen]
	sock := pool.sock(encap.FlowHash(frame))
	part := buf[Headroom-encap.VXLANHeaderLen : Headroom+frameLen]
	encap.PutVXLAN(part, n.cfg.VNI)
	// A train is cut every len(parts[0]) bytes: a part may join if it is
	// no longer than that and no part before it was shorter.
	if k := len(tr.parts); k > 0 && (pool != tr.pool || remote != tr.remote || sock != tr.sock ||
		len(part) > len(tr.parts[0]) || len(tr.parts[k-1]) < len(tr.parts[0]) ||
		k == encap.MaxUDPSegments || tr.bytes+len(part) > maxUDPPayload) {
		n.sendTrain(tr, w)
	}
	if len(tr.parts) == 0 {
		tr.pool, tr.remote, tr.sock, tr.first = pool, remote, sock, buf
	}
	tr.parts = append(tr.parts, part)
	tr.bytes += len(part)
}

// sendTrain sends what tr holds and empties it: one datagram by the raw
// socket, as forward sends it (a GSO send of one buys nothing and measured
// slower), more as one GSO train.
func (n *vxlanTx) sendTrain(tr *dgramTrain, w *gsoWriter) {
	switch k := len(tr.parts); k {
	case 0:
		return
	case 1:
		n.one[0] = n.u.outer(tr.first, len(tr.parts[0])-encap.VXLANHeaderLen, n.cfg.VNI, tr.remote, n.u.cfg.TTL)
		n.send(n.one)
		n.one[0] = nil
	default:
		err := tr.pool.sendParts(w, tr.remote, tr.sock, tr.parts, len(tr.parts[0]))
		n.gsoSent(tr.pool, k, err)
		n.countTrain(k, tr.bytes-k*encap.VXLANHeaderLen, err)
	}
	clear(tr.parts)
	tr.parts, tr.bytes, tr.first = tr.parts[:0], 0, nil
}

// gsoRun is the tail of a super-frame's VXLAN datagrams that forwardSuper
// kept back, in train[start:end], because they were fewer than one GSO send
// carries and all of one size. The next super-frame of the same batch to
// the same remote and socket, cut to the same size, is cut right behind
// them, so that its first datagrams leave in the same send: a TCP
// super-frame from a TAP holds up to 46 segments and a send of 1,472-byte
// datagrams 44, which would otherwise make two sends of each super-frame,
// the second of two datagrams, and two GRO trains at the receiver. A
// transmit loop owns one and sends it (sendRun) before anything else it
// sends, and at the end of each batch, so nothing waits for a later read.
type gsoRun struct {
	pool       *gsoPool
	remote     netip.Addr
	hash       uint32 // the first super-frame's flow hash: the socket's
	stride     int    // VXLAN header and segment
	start, end int
}

// joins reports whether datagrams of stride bytes to remote from pool's
// socket for hash may follow what run holds.
func (r *gsoRun) joins(pool *gsoPool, remote netip.Addr, hash uint32, stride int) bool {
	return r.end > r.start && r.pool == pool && r.remote == remote && r.stride == stride &&
		pool.sock(r.hash) == pool.sock(hash)
}

// sendRun sends what run holds of train and empties it.
func (n *vxlanTx) sendRun(run *gsoRun, w *gsoWriter, train []byte) {
	if run.end > run.start {
		n.sendDatagrams(run.pool, w, run.remote, run.hash, train[run.start:run.end], run.stride)
	}
	*run = gsoRun{}
}

// sendDatagrams sends the VXLAN datagrams of stride bytes in b (the last
// may be shorter) by GSO, as many in each send as one send carries.
func (n *vxlanTx) sendDatagrams(pool *gsoPool, w *gsoWriter, remote netip.Addr, hash uint32, b []byte, stride int) {
	chunk := gsoChunk(stride) * stride
	for off := 0; off < len(b); off += chunk {
		end := min(len(b), off+chunk)
		k := (end - off + stride - 1) / stride
		err := pool.send(w, remote, hash, b[off:end], stride)
		n.gsoSent(pool, k, err)
		n.countTrain(k, end-off-k*encap.VXLANHeaderLen, err)
	}
}

// gsoChunk is how many datagrams of stride bytes one GSO send carries.
func gsoChunk(stride int) int { return min(encap.MaxUDPSegments, maxUDPPayload/stride) }

// forwardSuper segments a TCP or UDP super-frame and sends the segments: as GSO
// trains when the destination is one remote and the underlay has GSO
// sockets, joined to the run a super-frame before it left behind where they
// can be (gsoRun), else each segment the way forward sends a frame (which is
// also the way while someone traces the network: every segment is seen at
// every stage).
func (n *vxlanTx) forwardSuper(frame []byte, h encap.VirtioNetHdr, train []byte, w *gsoWriter, pool *gsoPool, out [][]byte, run *gsoRun) {
	t := n.obs.on()
	dst := encap.Ethernet(frame).Dst()
	var remote netip.Addr
	hit := false
	if dst[0]&1 == 0 && pool != nil && t == nil && n.fits(int(h.HdrLen())+int(h.GSOSize())) {
		remote, hit = n.table.Lookup(dst)
	}
	if !hit {
		n.sendRun(run, w, train) // in order, and before train is reused
		n.splitAndForward(frame, h, train, out, t)
		return
	}
	// Cut the segments behind the run, or, where they do not fit there,
	// behind the run moved to the start of train (less than one send's
	// worth, where sending it would make a short send).
	base := run.end
	segs, segLen, lastLen, err := encap.GSOSplit(frame, h, encap.EthernetHeaderLen, train[base:], encap.VXLANHeaderLen)
	if errors.Is(err, encap.ErrGSOOutTooSmall) && run.start > 0 {
		run.end = copy(train, train[run.start:run.end])
		run.start, base = 0, run.end
		segs, segLen, lastLen, err = encap.GSOSplit(frame, h, encap.EthernetHeaderLen, train[base:], encap.VXLANHeaderLen)
	}
	if errors.Is(err, encap.ErrGSOOutTooSmall) && base > 0 {
		n.sendRun(run, w, train)
		base = 0
		segs, segLen, lastLen, err = encap.GSOSplit(frame, h, encap.EthernetHeaderLen, train, encap.VXLANHeaderLen)
	}
	if err != nil {
		n.sendRun(run, w, train)
		n.dropped(n.c, t, DropMalformed, StageDeviceIn, frame, err)
		return
	}
	n.c.Offload.TSOFrames.Add(1)
	n.c.Offload.TSOSegments.Add(uint64(segs))
	if segLen > n.maxFrame {
		n.sendRun(run, w, train)
		n.c.drop(n.log, DropTooBig, uint64(segs), nil)
		return
	}
	stride := encap.VXLANHeaderLen + segLen
	for i := 0; i < segs; i++ {
		encap.PutVXLAN(train[base+i*stride:], n.cfg.VNI)
	}
	end := base + (segs-1)*stride + encap.VXLANHeaderLen + lastLen
	hash := encap.FlowHash(frame)
	if !run.joins(pool, remote, hash, stride) {
		n.sendRun(run, w, train)
		*run = gsoRun{pool: pool, remote: remote, hash: hash, stride: stride, start: base}
	}
	run.end = end
	// Send every whole send's worth; keep back the rest while all of it
	// is of full size, so that the next super-frame may fill its send.
	chunk := gsoChunk(stride) * stride
	whole := run.start + (run.end-run.start)/chunk*chunk
	if lastLen < segLen || whole == run.end {
		n.sendRun(run, w, train)
		return
	}
	if whole > run.start {
		n.sendDatagrams(pool, w, remote, run.hash, train[run.start:whole], stride)
		run.start = whole
	}
}

// splitAndForward segments a super-frame that does not leave as GSO
// trains and sends each segment the way forward sends a frame.
func (n *vxlanTx) splitAndForward(frame []byte, h encap.VirtioNetHdr, train []byte, out [][]byte, t *observing) {
	segs, segLen, lastLen, err := encap.GSOSplit(frame, h, encap.EthernetHeaderLen, train, Headroom)
	if err != nil {
		n.dropped(n.c, t, DropMalformed, StageDeviceIn, frame, err)
		return
	}
	n.c.Offload.TSOFrames.Add(1)
	n.c.Offload.TSOSegments.Add(uint64(segs))
	stride := Headroom + segLen
	for i := 0; i < segs; i++ {
		l := segLen
		if i == segs-1 {
			l = lastLen
		}
		if len(out) == cap(out) {
			out = n.send(out)
		}
		out = n.forward(train[i*stride:], l, out)
	}
	n.send(out)
}

// countTrain counts the frames of one GSO send, which leave or fail
// together, carrying this many inner bytes (countSent is the same for a
// sendmmsg batch, which may leave in part).
func (n *vxlanTx) countTrain(frames, bytes int, err error) {
	n.c.tally(n.log, &n.c.TxPackets, &n.c.TxBytes, DropSend, frames, bytes, err)
	if err == nil {
		n.uc.TxPackets.Add(uint64(frames))
		n.uc.TxBytes.Add(uint64(bytes + frames*encap.VXLANHeaderLen))
	}
}

// gsoSent counts a UDP_SEGMENT send of k datagrams from pool, and turns
// GSO off when the kernel refused it (see Underlay.gsoRefused).
func (n *vxlanTx) gsoSent(pool *gsoPool, k int, err error) {
	if err != nil {
		n.u.gsoRefused(pool, err, n.c)
	}
	if err == nil && k > 1 {
		n.c.Offload.GSOSends.Add(1)
		n.c.Offload.GSODatagrams.Add(uint64(k))
	}
}

// txLoopVnet is txLoop for a TUN device with offloads: a super-frame is
// cut into segments, each encapsulated in place, and the lot sent in
// sendmmsg(2) batches (a raw socket has no GSO).
func (n *ipipTx) txLoopVnet(d vnetLink) {
	defer n.wg.Done()
	bufs := newBuffers(linkBatch, Headroom+maxPacket)
	sizes := make([]int, linkBatch)
	train := make([]byte, trainSize)
	out := make([][]byte, 0, maxParts)
	for {
		count, ok := n.readVnet(d, bufs, sizes, n.log)
		if !ok {
			return
		}
		out = out[:0]
		for i := 0; i < count; i++ {
			out = n.forwardVnet(bufs[i], sizes[i], train, out)
		}
		n.send(out)
	}
}

// forwardVnet handles one packet read from an offloading TUN device and
// returns out with what is still to be sent.
func (n *ipipTx) forwardVnet(buf []byte, size int, train []byte, out [][]byte) [][]byte {
	h := encap.VirtioNetHdr(buf[Headroom-encap.VirtioNetHdrLen : Headroom])
	pkt := buf[Headroom : Headroom+size]
	if h.GSOType() == encap.VirtioGSONone {
		if err := encap.CompleteChecksum(pkt, h); err != nil {
			n.c.drop(n.log, DropMalformed, 1, err)
			return out
		}
		return n.forward(buf, size, out)
	}
	n.send(out) // in order: what came before goes first
	out = out[:0]
	segs, segLen, lastLen, err := encap.GSOSplit(pkt, h, 0, train, Headroom)
	if err != nil {
		n.c.drop(n.log, DropMalformed, 1, err)
		return out
	}
	n.c.Offload.TSOFrames.Add(1)
	n.c.Offload.TSOSegments.Add(uint64(segs))
	stride := Headroom + segLen
	for i := 0; i < segs; i++ {
		l := segLen
		if i == segs-1 {
			l = lastLen
		}
		out = n.forward(train[i*stride:], l, out)
		if len(out) == cap(out) {
			n.send(out)
			out = out[:0]
		}
	}
	n.send(out)
	return out[:0]
}

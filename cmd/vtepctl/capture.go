package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/encap"
)

// captureSnaplen keeps whole packets, TCP super-frames of 64 KiB included,
// as tcpdump's default does.
const captureSnaplen = 262144

// pcapFile is one pcap file being written; a name ending in .pcapng gets
// pcapng, which can say where events were lost.
type pcapFile struct {
	name    string
	f       *os.File
	w       *pcapgo.Writer
	ng      *pcapgo.NgWriter
	packets int
	lost    uint64 // trace events lost before the last packet written
}

func createPcap(name string, link layers.LinkType) (*pcapFile, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	p := &pcapFile{name: name, f: f}
	if strings.HasSuffix(name, ".pcapng") {
		p.ng, err = pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "vtepd", LinkType: link, SnapLength: captureSnaplen},
			pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "vtepctl capture"}})
	} else {
		p.w = pcapgo.NewWriter(f)
		err = p.w.WriteFileHeader(captureSnaplen, link)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// write writes one packet. lost is how many trace events vtepd could not
// hand over so far: in pcapng, the first packet after a loss carries how
// many (its drop count, and a comment Wireshark shows).
func (p *pcapFile) write(e control.TraceEvent, data []byte, lost uint64) error {
	ci := gopacket.CaptureInfo{Timestamp: e.Time, CaptureLength: len(data), Length: len(data)}
	var err error
	if p.ng != nil {
		var opts pcapgo.NgPacketOptions
		if lost > p.lost {
			n := lost - p.lost
			opts.DropCount = &n
			opts.Comments = []string{fmt.Sprintf("vtepctl: %d trace events lost before this packet (vtepd never waits for a capture)", n)}
			p.lost = lost
		}
		err = p.ng.WritePacketWithOptions(ci, data, opts)
	} else {
		err = p.w.WritePacket(ci, data)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.packets++
	return nil
}

// finish writes what a pcapng file says at its end, the events lost in
// all (isb_ifdrop), and flushes it.
func (p *pcapFile) finish(lost uint64) error {
	if p.ng == nil {
		return nil
	}
	err := p.ng.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{LastUpdate: time.Now(), PacketsDropped: lost,
		PacketsReceived: pcapgo.NgNoValue64})
	if ferr := p.ng.Flush(); err == nil {
		err = ferr
	}
	return err
}

// captureWindow is how long capture holds events before writing them, so
// that it can write them in the order of their timestamps: each of vtepd's
// workers hands its events over as they come, and a receive worker's
// event (an ACK) can reach vtepctl before the transmit worker's event of
// the data it acknowledges, although it crossed the socket after it.
const captureWindow = 250 * time.Millisecond

// held is one packet waiting to be written, in arrival order seq.
type held struct {
	to   *pcapFile
	e    control.TraceEvent
	data []byte
	seq  int
}

// reorder writes held packets in timestamp order once they are window
// older than the newest event seen; flush writes the rest.
type reorder struct {
	window time.Duration
	newest time.Time
	heap   []held
	seq    int
	lost   uint64 // events lost so far, as the stream says
}

func (r *reorder) less(i, j int) bool {
	a, b := r.heap[i], r.heap[j]
	if !a.e.Time.Equal(b.e.Time) {
		return a.e.Time.Before(b.e.Time)
	}
	return a.seq < b.seq
}

func (r *reorder) Len() int           { return len(r.heap) }
func (r *reorder) Less(i, j int) bool { return r.less(i, j) }
func (r *reorder) Swap(i, j int)      { r.heap[i], r.heap[j] = r.heap[j], r.heap[i] }
func (r *reorder) Push(x any)         { r.heap = append(r.heap, x.(held)) }
func (r *reorder) Pop() any {
	x := r.heap[len(r.heap)-1]
	r.heap = r.heap[:len(r.heap)-1]
	return x
}

// add holds a packet for to and writes those whose time has come.
func (r *reorder) add(to *pcapFile, e control.TraceEvent, data []byte) error {
	r.seq++
	heap.Push(r, held{to: to, e: e, data: data, seq: r.seq})
	if e.Time.After(r.newest) {
		r.newest = e.Time
	}
	for len(r.heap) > 0 && !r.heap[0].e.Time.After(r.newest.Add(-r.window)) {
		h := heap.Pop(r).(held)
		if err := h.to.write(h.e, h.data, r.lost); err != nil {
			return err
		}
	}
	return nil
}

// flush writes every packet still held, in order.
func (r *reorder) flush() error {
	for len(r.heap) > 0 {
		h := heap.Pop(r).(held)
		if err := h.to.write(h.e, h.data, r.lost); err != nil {
			return err
		}
	}
	return nil
}

// capture writes the frames of one network to pcap files: at the device
// (--inner) and on the underlay (--outer), from the same trace stream, so
// that a frame can be seen before and after encapsulation.
func (c *cli) capture(args []string) error {
	const cmd = "capture"
	var network, innerName, outerName, countText, match string
	var asJSON bool
	err := options(cmd, args, map[string]*string{
		"network": &network, "inner": &innerName, "outer": &outerName, "count": &countText, "match": &match,
	}, &asJSON)
	if err != nil {
		return err
	}
	if network == "" {
		return usagef("%s: --network: required (the network whose frames to write)", cmd)
	}
	if innerName == "" && outerName == "" {
		return usagef("%s: want --inner FILE, --outer FILE or both", cmd)
	}
	count, err := parseCount(cmd, countText)
	if err != nil {
		return err
	}
	nets, err := c.client.Networks()
	if err != nil {
		return err
	}
	kind := ""
	for _, n := range nets {
		if n.Name == network {
			kind = n.Kind
		}
	}
	if kind == "" {
		return fmt.Errorf("%s: network %q: no such network", cmd, network)
	}

	// A TAP carries Ethernet frames; a TUN, IP packets without one.
	innerLink := layers.LinkTypeEthernet
	if kind == control.KindIPIP {
		innerLink = layers.LinkTypeRaw
	}
	var in, out *pcapFile
	var files []*pcapFile
	closeAll := func() error {
		var errs []error
		for _, p := range files {
			if err := p.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			}
		}
		files = nil
		return errors.Join(errs...)
	}
	defer closeAll()
	if innerName != "" {
		if in, err = createPcap(innerName, innerLink); err != nil {
			return err
		}
		files = append(files, in)
	}
	if outerName != "" {
		if out, err = createPcap(outerName, layers.LinkTypeRaw); err != nil {
			return err
		}
		files = append(files, out)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rebuilt, lost := 0, uint64(0)
	order := &reorder{window: captureWindow}
	err = c.client.Trace(ctx, control.TraceRequest{Network: network, Match: match, Count: count}, func(e control.TraceEvent) error {
		lost = e.Lost
		order.lost = max(order.lost, e.Lost)
		switch e.Stage {
		case control.StageDeviceIn, control.StageDeviceOut:
			if in != nil {
				return order.add(in, e, e.Bytes)
			}
		case control.StageSocketOut, control.StageSocketIn:
			if out == nil {
				return nil
			}
			pkt := e.Bytes
			if e.UDPPayload {
				if pkt = rebuildOuter(e); pkt == nil {
					return nil // no addresses to rebuild the headers from
				}
				rebuilt++
			}
			return order.add(out, e, pkt)
		}
		return nil
	})
	if errors.Is(err, context.Canceled) {
		err = nil // Ctrl-C: the end the user asked for
	}
	if ferr := order.flush(); err == nil {
		err = ferr
	}
	for _, p := range files {
		if ferr := p.finish(lost); err == nil {
			err = ferr
		}
	}
	if cerr := closeAll(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if asJSON {
		type file struct {
			Name    string `json:"name"`
			Packets int    `json:"packets"`
		}
		sum := struct {
			Inner   *file  `json:"inner,omitempty"`
			Outer   *file  `json:"outer,omitempty"`
			Rebuilt int    `json:"rebuilt"`
			Lost    uint64 `json:"lost"`
		}{Rebuilt: rebuilt, Lost: lost}
		if in != nil {
			sum.Inner = &file{in.name, in.packets}
		}
		if out != nil {
			sum.Outer = &file{out.name, out.packets}
		}
		return c.printJSON(sum)
	}
	if in != nil {
		fmt.Fprintf(c.out, "%s: %d packets at the device (%s)\n", in.name, in.packets, linkName(innerLink))
	}
	if out != nil {
		fmt.Fprintf(c.out, "%s: %d packets on the underlay (raw IP)", out.name, out.packets)
		if rebuilt > 0 {
			fmt.Fprintf(c.out, ", %d with outer IP and UDP headers rebuilt from the sender's address and port", rebuilt)
		}
		fmt.Fprintln(c.out)
	}
	if lost > 0 {
		fmt.Fprintf(c.out, "%d events lost: vtepctl wrote too slowly, and vtepd never waits for a capture"+
			" (a .pcapng file records where)\n", lost)
	}
	return nil
}

func linkName(l layers.LinkType) string {
	if l == layers.LinkTypeEthernet {
		return "Ethernet"
	}
	return "raw IP"
}

// rebuildOuter puts outer IP and UDP headers in front of a UDP payload the
// socket handed over without them: from the peer to the local address on
// receive, the other way on send. Addresses and ports are the real ones;
// TTL (64), identification (0) and the rest are this function's, not what
// crossed the wire. Nil when the event lacks an address.
func rebuildOuter(e control.TraceEvent) []byte {
	peer, perr := netip.ParseAddr(e.Peer)
	local, lerr := netip.ParseAddr(e.Local)
	if perr != nil || lerr != nil || peer.Is4() != local.Is4() {
		return nil
	}
	src, dst, sport, dport := peer, local, e.PeerPort, e.LocalPort
	if e.Stage == control.StageSocketOut {
		src, dst, sport, dport = local, peer, e.LocalPort, e.PeerPort
	}
	hl := encap.IPv4MinHeaderLen
	if !src.Is4() {
		hl = encap.IPv6HeaderLen
	}
	ulen := encap.UDPHeaderLen + len(e.Bytes)
	if hl+ulen > 0xffff {
		return nil
	}
	pkt := make([]byte, hl+ulen)
	u := encap.UDP(pkt[hl:])
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(ulen))
	copy(pkt[hl+encap.UDPHeaderLen:], e.Bytes)
	if src.Is4() {
		ip := encap.IPv4(pkt)
		ip.SetVersion()
		ip.SetHeaderLen(encap.IPv4MinHeaderLen)
		ip.SetTotalLength(uint16(len(pkt)))
		ip.SetTTL(encap.DefaultTTL)
		ip.SetProtocol(encap.ProtocolUDP)
		ip.SetSrc(src)
		ip.SetDst(dst)
		ip.SetChecksum()
		// UDP checksum 0: none, which RFC 768 allows over IPv4 and RFC
		// 7348 section 5 recommends for VXLAN.
		return pkt
	}
	ip := encap.IPv6(pkt)
	ip.SetVersion()
	ip.SetPayloadLength(uint16(ulen))
	ip.SetNextHeader(encap.ProtocolUDP)
	ip.SetHopLimit(encap.DefaultTTL)
	ip.SetSrc(src)
	ip.SetDst(dst)
	// Over IPv6 the checksum is mandatory (RFC 8200 section 8.1).
	u.SetChecksum(u.CalculateChecksum(encap.PseudoHeaderSum(encap.ProtocolUDP, src, dst, uint16(ulen))))
	return pkt
}

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/encap"
)

// trace follows frames through the running vtepd, one block per frame and
// stage, or one JSON object per event with --json.
func (c *cli) trace(args []string) error {
	const cmd = "trace"
	var network, countText, match, simulate string
	var asJSON bool
	if err := options(cmd, args, map[string]*string{"network": &network, "count": &countText, "match": &match, "simulate": &simulate}, &asJSON); err != nil {
		return err
	}
	if simulate != "" {
		if countText != "" || match != "" {
			return usagef("%s: --simulate follows no traffic: --count and --match are for a live trace", cmd)
		}
		res, err := c.client.Simulate(control.SimulateRequest{Network: network, Expr: simulate})
		if err != nil {
			return err
		}
		if asJSON {
			return c.printJSON(res)
		}
		_, err = io.WriteString(c.out, res.String())
		return err
	}
	count, err := parseCount(cmd, countText)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	req := control.TraceRequest{Network: network, Match: match, Count: count}
	if !asJSON {
		fmt.Fprintf(c.out, "tracing %s%s: Ctrl-C to stop\n", traceScope(req), countNote(count))
	}
	frames := map[string]bool{} // network/frame
	events, lost := 0, uint64(0)
	enc := json.NewEncoder(c.out)
	err = c.client.Trace(ctx, req, func(e control.TraceEvent) error {
		events++
		lost = e.Lost
		frames[e.Network+"/"+strconv.FormatUint(e.Frame, 10)] = true
		if asJSON {
			return enc.Encode(jsonEvent(e))
		}
		_, err := io.WriteString(c.out, renderEvent(e))
		return err
	})
	if errors.Is(err, context.Canceled) {
		err = nil // Ctrl-C: the end the user asked for
	}
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(c.out, "%d frames, %d events%s\n", len(frames), events, lostNote(lost))
	}
	return nil
}

func parseCount(cmd, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, usagef("%s: --count: want a number of frames, 0 or more, got %q", cmd, s)
	}
	return n, nil
}

func traceScope(req control.TraceRequest) string {
	s := "every network"
	if req.Network != "" {
		s = req.Network
	}
	if req.Match != "" {
		s += fmt.Sprintf(", frames matching %q", req.Match)
	}
	return s
}

func countNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return ", 1 frame"
	}
	return fmt.Sprintf(", %d frames", n)
}

func lostNote(lost uint64) string {
	if lost == 0 {
		return ""
	}
	return fmt.Sprintf(", %d events lost (vtepctl read too slowly; vtepd never waits for a trace)", lost)
}

// innerOffset is where the inner frame (VXLAN) or packet (IPIP) starts in
// the bytes of an event, -1 when they are too short to tell.
func innerOffset(e control.TraceEvent) int {
	stage := e.Stage
	if stage == control.StageDrop {
		stage = e.At
	}
	switch stage {
	case control.StageEncap, control.StageSocketOut, control.StageSocketIn:
		return encap.InnerOffset(e.Bytes, e.UDPPayload, e.Kind == control.KindIPIP)
	}
	return 0
}

// innerFrame is the inner frame or packet of an event, nil when it has none.
func innerFrame(e control.TraceEvent) []byte {
	off := innerOffset(e)
	if off < 0 || off >= len(e.Bytes) {
		return nil
	}
	return e.Bytes[off:]
}

// inner is what a trace shows of an inner frame: its headers, decoded.
type inner struct {
	Length    int    `json:"length"`
	SrcMAC    string `json:"src_mac,omitempty"`
	DstMAC    string `json:"dst_mac,omitempty"`
	VLAN      int    `json:"vlan,omitempty"`
	EtherType string `json:"ethertype,omitempty"`
	Src       string `json:"src,omitempty"`
	Dst       string `json:"dst,omitempty"`
	Protocol  string `json:"protocol,omitempty"`
	TTL       int    `json:"ttl,omitempty"`
	IPLength  int    `json:"ip_length,omitempty"`
	DF        bool   `json:"df,omitempty"`
	SrcPort   int    `json:"src_port,omitempty"`
	DstPort   int    `json:"dst_port,omitempty"`
	TCPFlags  string `json:"tcp_flags,omitempty"`
	ICMP      string `json:"icmp,omitempty"`
	ARP       string `json:"arp,omitempty"`
}

// decodeInner decodes the inner frame b of a network of kind.
func decodeInner(kind string, b []byte) *inner {
	if b == nil {
		return nil
	}
	var d encap.Inner
	encap.DecodeInner(&d, b, kind == control.KindIPIP)
	in := &inner{Length: d.Len, VLAN: int(d.VLAN)}
	if d.Ethernet {
		in.SrcMAC, in.DstMAC = net.HardwareAddr(d.SrcMAC[:]).String(), net.HardwareAddr(d.DstMAC[:]).String()
		in.EtherType = encap.EtherTypeName(d.EtherType)
		if in.EtherType == "" {
			in.EtherType = fmt.Sprintf("%#04x", d.EtherType)
		}
	}
	if d.EtherType == encap.EtherTypeARP {
		in.ARP = arpText(b[encap.EthernetHeaderLen+int(d.Tags)*encap.VLANTagLen:])
		return in
	}
	if !d.L3 {
		return in
	}
	in.Src, in.Dst, in.TTL, in.IPLength, in.DF = d.Src.String(), d.Dst.String(), int(d.TTL), d.IPLen, d.DF
	in.Protocol = protocolName(d.Protocol)
	if d.Ports {
		in.SrcPort, in.DstPort = int(d.SrcPort), int(d.DstPort)
	}
	switch d.Protocol {
	case encap.ProtocolTCP:
		if len(d.L4) >= 14 {
			in.TCPFlags = tcpFlags(d.L4[13])
		}
	case encap.ProtocolICMP, encap.ProtocolICMPv6:
		in.ICMP = icmpText(d.Protocol, d.L4)
	}
	return in
}

// protocolName is encap's name of IP protocol p, or its number.
func protocolName(p uint8) string {
	if name := encap.ProtocolName(p); name != "" {
		return name
	}
	return fmt.Sprintf("protocol %d", p)
}

// tcpFlags names the flags of RFC 9293 section 3.1, as tcpdump writes them.
func tcpFlags(f byte) string {
	var s strings.Builder
	for _, x := range []struct {
		bit  byte
		name string
	}{{0x02, "S"}, {0x01, "F"}, {0x04, "R"}, {0x08, "P"}, {0x10, "."}, {0x20, "U"}} {
		if f&x.bit != 0 {
			s.WriteString(x.name)
		}
	}
	return "[" + s.String() + "]"
}

// icmpText names the ICMP (RFC 792) or ICMPv6 (RFC 4443) message.
func icmpText(proto uint8, b []byte) string {
	if len(b) < 4 {
		return "truncated"
	}
	typ, code := b[0], b[1]
	idSeq := ""
	if len(b) >= 8 {
		idSeq = fmt.Sprintf(", id %d, seq %d", binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]))
	}
	if proto == encap.ProtocolICMPv6 {
		switch typ {
		case 128:
			return "echo request" + idSeq
		case 129:
			return "echo reply" + idSeq
		case 135:
			return "neighbor solicitation"
		case 136:
			return "neighbor advertisement"
		case 1:
			return fmt.Sprintf("destination unreachable, code %d", code)
		case 2:
			return "packet too big"
		}
		return fmt.Sprintf("type %d, code %d", typ, code)
	}
	switch typ {
	case 8:
		return "echo request" + idSeq
	case 0:
		return "echo reply" + idSeq
	case 3:
		if code == 4 && len(b) >= 8 {
			return fmt.Sprintf("destination unreachable, fragmentation needed, next-hop MTU %d", binary.BigEndian.Uint16(b[6:]))
		}
		return fmt.Sprintf("destination unreachable, code %d", code)
	case 11:
		return "time exceeded"
	}
	return fmt.Sprintf("type %d, code %d", typ, code)
}

// arpText reads an ARP packet for IPv4 over Ethernet (RFC 826).
func arpText(b []byte) string {
	if len(b) < 28 || binary.BigEndian.Uint16(b[2:]) != encap.EtherTypeIPv4 {
		return "ARP, not IPv4 over Ethernet"
	}
	sha := net.HardwareAddr(b[8:14]).String()
	spa, tpa := net.IP(b[14:18]).String(), net.IP(b[24:28]).String()
	switch binary.BigEndian.Uint16(b[6:]) {
	case 1:
		return fmt.Sprintf("who-has %s tell %s", tpa, spa)
	case 2:
		return fmt.Sprintf("%s is-at %s", spa, sha)
	}
	return fmt.Sprintf("operation %d", binary.BigEndian.Uint16(b[6:]))
}

// lines renders the decoded inner frame for the text trace.
func (in *inner) lines() []string {
	if in == nil {
		return nil
	}
	var out []string
	if in.SrcMAC != "" {
		l := fmt.Sprintf("ethernet %s > %s, %s", in.SrcMAC, in.DstMAC, in.EtherType)
		if in.VLAN != 0 {
			l += fmt.Sprintf(", vlan %d", in.VLAN)
		}
		out = append(out, l)
	}
	if in.ARP != "" {
		out = append(out, "arp "+in.ARP)
	}
	if in.Src != "" {
		l := fmt.Sprintf("ip %s > %s, ttl %d, %d bytes", in.Src, in.Dst, in.TTL, in.IPLength)
		if in.DF {
			l += ", DF"
		}
		out = append(out, l)
		switch {
		case in.ICMP != "":
			out = append(out, strings.ToLower(in.Protocol)+" "+in.ICMP)
		case in.SrcPort != 0 || in.DstPort != 0:
			l := fmt.Sprintf("%s %d > %d", strings.ToLower(in.Protocol), in.SrcPort, in.DstPort)
			if in.TCPFlags != "" {
				l += " flags " + in.TCPFlags
			}
			out = append(out, l)
		default:
			out = append(out, strings.ToLower(in.Protocol))
		}
	}
	return out
}

// header is one field of the headers encapsulation added.
type header struct {
	Layer  string `json:"layer"`
	Field  string `json:"field"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Value  string `json:"value"`
}

// outerHeaders names every byte range an encap event's bytes start with,
// offsets from the start of the outer IP packet (or of the UDP payload),
// and the inner frame after them as one last range.
func outerHeaders(e control.TraceEvent) []header {
	b := e.Bytes
	off := innerOffset(e)
	if off < 0 {
		return nil
	}
	var hs []header
	switch {
	case e.UDPPayload:
		hs = vxlanHeader(b, 0)
	case len(b) > 0 && b[0]>>4 == encap.IPv4Version:
		// encap.Explain walks frames from their Ethernet header, which the
		// kernel adds on the way out: give it one, then take it away.
		frame := make([]byte, encap.EthernetHeaderLen+len(b))
		encap.Ethernet(frame).SetEtherType(encap.EtherTypeIPv4)
		copy(frame[encap.EthernetHeaderLen:], b)
		fields, _ := encap.Explain(frame) // what it names before an error is right
		for _, f := range fields {
			if f.Off < encap.EthernetHeaderLen || f.Off-encap.EthernetHeaderLen >= off {
				continue
			}
			hs = append(hs, header{f.Layer, f.Name, f.Off - encap.EthernetHeaderLen, f.Len, f.Value})
		}
	case len(b) >= encap.IPv6HeaderLen && b[0]>>4 == encap.IPv6Version:
		ip := encap.IPv6(b)
		hs = append(hs,
			header{"outer IPv6", "version, class, flow", 0, 4, fmt.Sprintf("6, %#02x, %#05x", ip.TrafficClass(), ip.FlowLabel())},
			header{"outer IPv6", "payload length", 4, 2, fmt.Sprintf("%d", ip.PayloadLength())},
			header{"outer IPv6", "next header", 6, 1, fmt.Sprintf("%d (%s)", ip.NextHeader(), protocolName(ip.NextHeader()))},
			header{"outer IPv6", "hop limit", 7, 1, fmt.Sprintf("%d", ip.HopLimit())},
			header{"outer IPv6", "source", 8, 16, ip.Src().String()},
			header{"outer IPv6", "destination", 24, 16, ip.Dst().String()},
		)
		if e.Kind != control.KindIPIP && len(b) >= encap.IPv6HeaderLen+encap.UDPHeaderLen {
			u := encap.UDP(b[encap.IPv6HeaderLen:])
			o := encap.IPv6HeaderLen
			hs = append(hs,
				header{"UDP", "source port", o, 2, fmt.Sprintf("%d (a hash of the inner flow)", u.SrcPort())},
				header{"UDP", "destination port", o + 2, 2, fmt.Sprintf("%d", u.DstPort())},
				header{"UDP", "length", o + 4, 2, fmt.Sprintf("%d", u.Length())},
				header{"UDP", "checksum", o + 6, 2, fmt.Sprintf("%#04x (mandatory over IPv6)", u.Checksum())},
			)
			hs = append(hs, vxlanHeader(b, o+encap.UDPHeaderLen)...)
		}
	}
	what := "inner frame"
	if e.Kind == control.KindIPIP {
		what = "inner packet"
	}
	return append(hs, header{what, "", off, len(b) - off, fmt.Sprintf("%d bytes, as read from the device", len(b)-off)})
}

func vxlanHeader(b []byte, off int) []header {
	if len(b) < off+encap.VXLANHeaderLen {
		return nil
	}
	v := encap.VXLAN(b[off:])
	return []header{
		{"VXLAN", "flags", off, 1, fmt.Sprintf("%#02x (I flag: the VNI is valid)", v.Flags())},
		{"VXLAN", "reserved", off + 1, 3, "0"},
		{"VXLAN", "VNI", off + 4, 3, fmt.Sprintf("%d (24 bits: which virtual network)", v.VNI())},
		{"VXLAN", "reserved", off + 7, 1, "0"},
	}
}

// jsonEvent is an event as trace --json prints it: the API's event with its
// inner frame decoded, and at encap the headers added.
type jsonTraceEvent struct {
	control.TraceEvent
	Inner   *inner   `json:"inner,omitempty"`
	Headers []header `json:"headers,omitempty"`
}

func jsonEvent(e control.TraceEvent) jsonTraceEvent {
	j := jsonTraceEvent{TraceEvent: e, Inner: decodeInner(e.Kind, innerFrame(e))}
	if e.Stage == control.StageEncap {
		j.Headers = outerHeaders(e)
	}
	return j
}

// learnNotes say what each learning result (fdb.LearnResult) means.
var learnNotes = map[string]string{
	"new":       "learnt: frames to it now go straight there",
	"moved":     "moved: it was behind another VTEP, now it is behind this one",
	"refreshed": "known already: its age starts again (to within a millisecond)",
	"full":      "not learnt: the fdb is at its limit",
	"static":    "not learnt: a static entry puts it behind another VTEP; the frame is dropped",
	"disabled":  "not learnt: learning is off",
	"ignored":   "not learnt: not a unicast source MAC",
	"flap held": "not moved: it moved too often lately, it stays where it was",
}

// dropNotes say what each drop reason (as vtepctl stats names it) means.
var dropNotes = map[string]string{
	"malformed":       "its headers do not hold together",
	"unknown_vni":     "no network here serves its VNI",
	"too_big":         "larger than the network's MTU allows",
	"fdb_full":        "its source MAC was not learnt (the frame itself goes on)",
	"tap_write":       "the device refused it",
	"tun_write":       "the device refused it",
	"no_remote":       "nowhere to send it: no FDB entry and an empty flood list",
	"send_error":      "the underlay socket refused it",
	"unknown_source":  "its sender is no known remote",
	"static_conflict": "its source MAC is pinned behind another VTEP",
	"unsupported":     "a kind of packet this network does not carry",
}

// renderEvent is one event as the text trace shows it: a line saying which
// frame, where and when, and indented lines saying what happened.
func renderEvent(e control.TraceEvent) string {
	var b strings.Builder
	head := fmt.Sprintf("#%d %s", e.Frame, e.Network)
	if e.Kind == control.KindVXLAN {
		head += fmt.Sprintf(" vni %d", e.VNI)
	}
	fmt.Fprintf(&b, "%s  %s  %d bytes  %s\n", head, e.Stage, len(e.Bytes), e.Time.Local().Format("15:04:05.000000"))
	line := func(format string, args ...any) { fmt.Fprintf(&b, "    "+format+"\n", args...) }
	device := "TAP"
	if e.Kind == control.KindIPIP {
		device = "TUN"
	}
	in := decodeInner(e.Kind, innerFrame(e))
	peer := e.Peer
	if e.PeerPort != 0 {
		peer += fmt.Sprintf(" port %d", e.PeerPort)
	}
	switch e.Stage {
	case control.StageDeviceIn:
		line("read from the %s device %s", device, e.Network)
		for _, l := range in.lines() {
			line("%s", l)
		}
	case control.StageLookup:
		renderLookup(line, e, in)
	case control.StageEncap:
		hs := outerHeaders(e)
		if len(hs) == 0 {
			line("outer headers too short to read")
			break
		}
		last := hs[len(hs)-1]
		line("%d bytes of headers in front of the %s:", last.Offset, last.Layer)
		if e.UDPPayload {
			line("(the socket writes the IP and UDP headers itself)")
		}
		fmt.Fprintf(&b, "    %-9s %-24s %-12s %-23s %s\n", "bytes", "hex", "layer", "field", "value")
		for _, h := range hs {
			hex := ""
			if h.Field != "" {
				hex = hexOf(e.Bytes[h.Offset : h.Offset+h.Length])
			}
			fmt.Fprintf(&b, "    %-9s %-24s %-12s %-23s %s\n",
				byteRange(encap.Field{Off: h.Offset, Len: h.Length}), hex, h.Layer, h.Field, h.Value)
		}
	case control.StageSocketOut:
		from := ""
		if e.LocalPort != 0 {
			from = fmt.Sprintf(" (from port %d)", e.LocalPort)
		}
		line("sent to %s%s", peer, from)
	case control.StageSocketIn:
		if e.UDPPayload {
			line("received from %s on port %d: the UDP payload, the kernel took the IP and UDP headers off", peer, e.LocalPort)
		} else {
			line("received from %s: the whole outer packet, as the underlay socket gives it", peer)
		}
	case control.StageDecap:
		if e.Kind == control.KindIPIP {
			line("outer IPv4 header off, the inner packet is %d bytes", len(e.Bytes))
		} else {
			line("VXLAN header off (VNI %d), the inner frame is %d bytes", e.VNI, len(e.Bytes))
		}
		for _, l := range in.lines() {
			line("%s", l)
		}
	case control.StageLearn:
		mac := "the source MAC"
		if in != nil && in.SrcMAC != "" {
			mac = in.SrcMAC
		}
		note := learnNotes[e.Learn]
		if note == "" {
			note = e.Learn
		}
		line("%s behind %s: %s, %s", mac, e.Peer, e.Learn, note)
	case control.StageDeviceOut:
		line("written to the %s device %s", device, e.Network)
	case control.StageDrop:
		note := dropNotes[e.Drop]
		if note != "" {
			note = ": " + note
		}
		line("DROPPED at %s, %s%s", e.At, e.Drop, note)
		if e.Peer != "" {
			line("peer %s", peer)
		}
		for _, l := range in.lines() {
			line("%s", l)
		}
	}
	return b.String()
}

func renderLookup(line func(string, ...any), e control.TraceEvent, in *inner) {
	dst := "the destination"
	if in != nil {
		switch {
		case in.DstMAC != "":
			dst = in.DstMAC
		case in.Dst != "":
			dst = in.Dst
		}
	}
	remotes := strings.Join(e.Remotes, " ")
	if remotes == "" {
		remotes = "nobody (the flood list is empty)"
	}
	switch e.Lookup {
	case control.LookupHit:
		line("fdb hit: %s is behind %s", dst, e.Peer)
	case control.LookupMiss:
		line("fdb miss: %s is unknown, flooded to %s", dst, remotes)
	case control.LookupFlood:
		line("flood: %s is a broadcast or multicast address, sent to %s", dst, remotes)
	case control.LookupRoute:
		if e.Route != "" {
			line("route %s: %s via %s", e.Route, dst, e.Peer)
		} else {
			line("route: %s via %s", dst, e.Peer)
		}
	case control.LookupSuppressed:
		line("suppressed: answered into the device from the control plane's neighbours, sent nowhere:")
		for _, l := range decodeInner(e.Kind, e.Answer).lines() {
			line("  %s", l)
		}
	case control.LookupNoRoute:
		line("no route for %s", dst)
	default:
		line("%s", e.Lookup)
	}
}

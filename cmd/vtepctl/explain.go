package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/encap"
	"github.com/vtepd/vtepd/fdb"
)

// explain prints a packet built by the encap package, as vtepd would send
// it, with every byte range named: what a VTEP adds to a frame, and what
// that costs the MTU.
func explain(args []string, w io.Writer) error {
	asJSON := false
	if len(args) == 2 && args[1] == "--json" {
		asJSON, args = true, args[:1]
	}
	if len(args) != 1 || (args[0] != "vxlan" && args[0] != "ipip") {
		return usagef("explain: want explain vxlan or explain ipip, then maybe --json")
	}
	var (
		pkt              []byte
		intro, overhead  string
		overheadBytes    int
		underlayMTU      = 1500
		local, remote    = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		vtepMAC, peerMAC = [6]byte{0x02, 0, 0x0a, 0, 0, 0x01}, [6]byte{0x02, 0, 0x0a, 0, 0, 0x02}
	)
	if args[0] == "vxlan" {
		inner := samplePing("192.168.42.1", "192.168.42.2")
		frame := make([]byte, encap.EthernetHeaderLen+len(inner))
		e := encap.Ethernet(frame)
		e.SetDst([6]byte{0x02, 0x42, 0, 0, 0, 0x02})
		e.SetSrc([6]byte{0x02, 0x42, 0, 0, 0, 0x01})
		e.SetEtherType(encap.EtherTypeIPv4)
		copy(frame[encap.EthernetHeaderLen:], inner)
		pkt = make([]byte, encap.EthernetHeaderLen+encap.VXLANIPv4HeadersLen+len(frame))
		copy(pkt[encap.EthernetHeaderLen+encap.VXLANIPv4HeadersLen:], frame)
		o := encap.OuterIPv4{
			Src: local, Dst: remote,
			SrcPort: encap.SourcePort(encap.FlowHash(frame), encap.DefaultSourcePortMin, encap.DefaultSourcePortMax),
			DstPort: encap.DefaultVXLANPort, VNI: 42, TTL: encap.DefaultTTL,
		}
		if err := encap.EncapVXLANIPv4(pkt[encap.EthernetHeaderLen:], &o); err != nil {
			return err
		}
		overheadBytes = encap.VXLANOverheadIPv4
		intro = "VXLAN over IPv4 (RFC 7348): a ping from 192.168.42.1 to 192.168.42.2 on VNI 42,\n" +
			"carried from VTEP 10.0.0.1 to VTEP 10.0.0.2. vtepd reads the inner frame from the TAP\n" +
			"and writes the outer IPv4, UDP and VXLAN headers in front of it; the kernel adds the\n" +
			"outer Ethernet header when it sends the packet out of the underlay device."
		overhead = fmt.Sprintf("inner Ethernet %d + VXLAN %d + UDP %d + outer IPv4 %d = %d bytes",
			encap.EthernetHeaderLen, encap.VXLANHeaderLen, encap.UDPHeaderLen, encap.IPv4MinHeaderLen, overheadBytes)
	} else {
		inner := samplePing("10.244.0.5", "10.244.1.7")
		pkt = make([]byte, encap.EthernetHeaderLen+encap.IPv4MinHeaderLen+len(inner))
		copy(pkt[encap.EthernetHeaderLen+encap.IPv4MinHeaderLen:], inner)
		o := encap.OuterIPIP{Src: local, Dst: remote, TTL: encap.DefaultTTL, DF: encap.IPIPDFCopy}
		if err := encap.EncapIPIP(pkt[encap.EthernetHeaderLen:], &o); err != nil {
			return err
		}
		overheadBytes = encap.IPIPOverhead
		intro = "IP in IP (RFC 2003): a ping from pod 10.244.0.5 to pod 10.244.1.7, carried from node\n" +
			"10.0.0.1 to node 10.0.0.2 as Calico's IPIP mode does. vtepd reads the inner packet from\n" +
			"the TUN device and writes one outer IPv4 header (protocol 4) in front of it."
		overhead = fmt.Sprintf("outer IPv4 %d = %d bytes", encap.IPv4MinHeaderLen, overheadBytes)
	}
	outer := encap.Ethernet(pkt)
	outer.SetDst(peerMAC)
	outer.SetSrc(vtepMAC)
	outer.SetEtherType(encap.EtherTypeIPv4)
	return printExplained(w, explainParts{kind: args[0], intro: intro, overhead: overhead, overheadBytes: overheadBytes,
		underlayMTU: underlayMTU, pkt: pkt}, asJSON)
}

// explainParts is what explain prints: a packet, outer Ethernet header
// first, and the words around it.
type explainParts struct {
	kind, intro, overhead      string
	overheadBytes, underlayMTU int
	pkt                        []byte
}

func printExplained(w io.Writer, p explainParts, asJSON bool) error {
	pkt, intro, overhead, overheadBytes, underlayMTU := p.pkt, p.intro, p.overhead, p.overheadBytes, p.underlayMTU
	fields, err := encap.Explain(pkt)
	if err != nil {
		return err
	}
	// Bytes count from the outer IP header, where the packet vtepd writes
	// begins, as vtepctl trace counts them: the outer Ethernet header,
	// the kernel's, comes before byte 0.
	const eth = encap.EthernetHeaderLen
	if asJSON {
		out := explained{Kind: p.kind, Intro: strings.ReplaceAll(intro, "\n", " "), Bytes: len(pkt) - eth,
			Overhead: overheadBytes, UnderlayMTU: underlayMTU, MaxInner: underlayMTU - overheadBytes}
		for _, f := range fields {
			out.Fields = append(out.Fields, explainedField{Offset: f.Off - eth, Length: f.Len,
				Hex: hex.EncodeToString(pkt[f.Off : f.Off+f.Len]), Layer: f.Layer, Name: f.Name, Value: f.Value})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "%s\n\n", intro)
	fmt.Fprintf(w, "Bytes count from the outer IP header, as vtepctl trace counts them; the outer\n"+
		"Ethernet header (eth) is the kernel's, in front of it.\n\n")
	fmt.Fprintf(w, "%-9s %-24s %-15s %-24s %s\n", "bytes", "hex", "layer", "field", "value")
	for _, f := range fields {
		at := "eth " + byteRange(f)
		if f.Off >= eth {
			at = byteRange(encap.Field{Off: f.Off - eth, Len: f.Len})
		}
		fmt.Fprintf(w, "%-9s %-24s %-15s %-24s %s\n", at, hexOf(pkt[f.Off:f.Off+f.Len]), f.Layer, f.Name, f.Value)
	}
	fmt.Fprintf(w, "\n%d bytes on the wire, %d of them the packet vtepd writes. Overhead on top of the inner IP packet: %s.\n",
		len(pkt), len(pkt)-eth, overhead)
	fmt.Fprintf(w, "On a %d-byte underlay MTU the inner packet can be at most %d bytes: that is the\n"+
		"MTU vtepd gives the device by default (the underlay's minus %d). A larger packet with\n"+
		"DF set cannot cross the tunnel whole.\n", underlayMTU, underlayMTU-overheadBytes, overheadBytes)
	return nil
}

// explained is explain --json: the packet's fields, each with its bytes
// (offsets from the start of the packet, outer Ethernet header included).
type explained struct {
	Kind        string           `json:"kind"`
	Intro       string           `json:"intro"`
	Bytes       int              `json:"bytes"`
	Fields      []explainedField `json:"fields"`
	Overhead    int              `json:"overhead"`
	UnderlayMTU int              `json:"underlay_mtu"`
	MaxInner    int              `json:"max_inner"`
}

type explainedField struct {
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Hex    string `json:"hex"`
	Layer  string `json:"layer"`
	Name   string `json:"name"`
	Value  string `json:"value"`
}

// samplePing is the IPv4 ICMP echo request ping(8) sends: identifier 1,
// sequence 1, 56 bytes of data, DF set, TTL 64.
func samplePing(src, dst string) []byte {
	data := make([]byte, 56) // each byte its offset in the ICMP message
	for i := range data {
		data[i] = byte(encap.ICMPv4HeaderLen + i)
	}
	p := make([]byte, encap.IPv4MinHeaderLen+encap.ICMPv4HeaderLen+len(data))
	if _, err := encap.PutICMPv4Echo(p, netip.MustParseAddr(src), netip.MustParseAddr(dst), 0x1c46,
		encap.ICMPv4EchoRequest, 1, 1, data); err != nil {
		panic(err) // fixed IPv4 addresses and a buffer of the right size
	}
	return p
}

func byteRange(f encap.Field) string {
	if f.Len == 1 {
		return fmt.Sprint(f.Off)
	}
	return fmt.Sprintf("%d-%d", f.Off, f.Off+f.Len-1)
}

// hexOf shows up to eight bytes, then an ellipsis.
func hexOf(b []byte) string {
	const most = 8
	var sb strings.Builder
	for i, c := range b {
		if i == most {
			sb.WriteString("…")
			break
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

// explainLive is explain --network: the packet the running daemon would
// write now for a ping out of that network's device, from its live tables
// and settings (the device's MAC and address, the VNI, the port, the
// source port the flow gets, the remote its FDB or routes pick), asked
// with a what-if, so nothing is sent.
func (c *cli) explainLive(args []string) error {
	const cmd = "explain"
	var network, to string
	var asJSON bool
	if err := options(cmd, args, map[string]*string{"network": &network, "to": &to}, &asJSON); err != nil {
		return err
	}
	nets, err := c.client.Networks()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(nets, func(n control.NetworkInfo) bool { return n.Name == network })
	if i < 0 {
		return fmt.Errorf("%s: --network %s: no such network", cmd, network)
	}
	info := nets[i]
	var dst netip.Addr
	if to != "" {
		if dst, err = netip.ParseAddr(to); err != nil || !dst.Is4() {
			return usagef("%s: --to: want an IPv4 address, got %q", cmd, to)
		}
	}
	var expr, overhead string
	var overheadBytes int
	if info.Kind == control.KindVXLAN {
		// To a MAC the FDB knows, as a ping to a neighbour would go; with
		// none, a broadcast, as the first ARP request goes.
		target := "broadcast"
		entries, err := c.client.FDB(info.VNI, false)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.MAC != (fdb.MAC{}).String() {
				target = e.MAC
				break
			}
		}
		if !dst.IsValid() {
			dst = neighbourOf(info.Address)
		}
		expr = "dst " + target
		if dst.IsValid() {
			expr += " to " + dst.String()
		}
		overheadBytes = encap.VXLANOverheadIPv4
		overhead = fmt.Sprintf("inner Ethernet %d + VXLAN %d + UDP %d + outer IPv4 %d = %d bytes",
			encap.EthernetHeaderLen, encap.VXLANHeaderLen, encap.UDPHeaderLen, encap.IPv4MinHeaderLen, overheadBytes)
	} else {
		if !dst.IsValid() && len(info.Routes) > 0 {
			if p, err := netip.ParsePrefix(info.Routes[0].Prefix); err == nil {
				dst = p.Addr().Next()
			}
		}
		if !dst.IsValid() {
			return usagef("%s: %s has no route to take a packet: give --to IP", cmd, network)
		}
		expr = "dst " + dst.String()
		overheadBytes = encap.IPIPOverhead
		overhead = fmt.Sprintf("outer IPv4 %d = %d bytes", encap.IPv4MinHeaderLen, overheadBytes)
	}
	res, err := c.client.Simulate(control.SimulateRequest{Network: network, Expr: expr})
	if err != nil {
		return err
	}
	if res.Packet == "" {
		// Dropped, or answered on the device: nothing would leave.
		_, err := io.WriteString(c.out, res.String())
		return err
	}
	raw, err := hex.DecodeString(res.Packet)
	if err != nil {
		return fmt.Errorf("%s: the daemon's packet: %w", cmd, err)
	}
	pkt := make([]byte, encap.EthernetHeaderLen+len(raw))
	copy(pkt[encap.EthernetHeaderLen:], raw)
	encap.Ethernet(pkt).SetEtherType(encap.EtherTypeIPv4)
	if len(raw) > 0 && raw[0]>>4 == 6 {
		encap.Ethernet(pkt).SetEtherType(encap.EtherTypeIPv6)
		overheadBytes += encap.IPv6HeaderLen - encap.IPv4MinHeaderLen
	}
	whose := "Its MACs, addresses, VNI, ports and remote are the daemon's"
	if info.Kind != control.KindVXLAN {
		whose = "Its addresses and remote are the daemon's"
	}
	intro := fmt.Sprintf("The packet vtepd would write now for %s (%s), asked of the running daemon\n"+
		"with `trace --simulate '%s'`: %s.\n"+
		"%s; the outer Ethernet\n"+
		"header's MACs are the kernel's to fill in, shown as zeros.", network, res.Frame, expr, lookupWords(res), whose)
	return printExplained(c.out, explainParts{kind: info.Kind, intro: intro, overhead: overhead, overheadBytes: overheadBytes,
		underlayMTU: info.MTU + overheadBytes, pkt: pkt}, asJSON)
}

// lookupWords says in a few words how the remote was chosen.
func lookupWords(r control.SimulateResult) string {
	switch r.Lookup {
	case "hit":
		return "the FDB has " + r.Entry
	case "miss", "flood":
		return "flooded, this the copy to " + r.Remotes[0]
	case "route":
		return "route " + r.Route
	}
	return r.Lookup
}

// neighbourOf is the first other address of the device's subnet, where a
// peer would be: 192.168.42.2 for 192.168.42.1/24.
func neighbourOf(addr string) netip.Addr {
	p, err := netip.ParsePrefix(addr)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}
	}
	n := p.Masked().Addr().Next()
	if n == p.Addr() {
		n = n.Next()
	}
	if !p.Contains(n) {
		return netip.Addr{}
	}
	return n
}

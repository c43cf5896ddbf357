package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/vtepd/vtepd/encap"
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

	fields, err := encap.Explain(pkt)
	if err != nil {
		return err
	}
	// Bytes count from the outer IP header, where the packet vtepd writes
	// begins, as vtepctl trace counts them: the outer Ethernet header,
	// the kernel's, comes before byte 0.
	const eth = encap.EthernetHeaderLen
	if asJSON {
		out := explained{Kind: args[0], Intro: strings.ReplaceAll(intro, "\n", " "), Bytes: len(pkt) - eth,
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

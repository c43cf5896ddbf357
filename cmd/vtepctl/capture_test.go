package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vtepd/vtepd/control/controltest"
	"github.com/vtepd/vtepd/encap"
)

// readPcap returns a pcap file's link type and packets, decoded.
func readPcap(t *testing.T, name string) (layers.LinkType, []gopacket.Packet) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var pkts []gopacket.Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		p.Metadata().CaptureInfo = ci
		pkts = append(pkts, p)
	}
	return r.LinkType(), pkts
}

// icmpOf is the echo type of the innermost ICMP layer of p, or "none".
func icmpOf(p gopacket.Packet) string {
	l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok {
		return "none"
	}
	switch l.TypeCode.Type() {
	case layers.ICMPv4TypeEchoRequest:
		return "echo request"
	case layers.ICMPv4TypeEchoReply:
		return "echo reply"
	}
	return l.TypeCode.String()
}

func TestCaptureVXLAN(t *testing.T) {
	events := controltest.VXLANPing()
	socket := controltest.Start(t, traceBackend(events))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "vx42.pcap"), filepath.Join(dir, "underlay.pcap")
	code, stdout, errs := ctl(socket, "capture", "--network", "vx42", "--inner", in, "--outer", out, "--count", "2")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		in + ": 2 packets at the device (Ethernet)\n",
		out + ": 2 packets on the underlay (raw IP), 1 with outer IP and UDP headers rebuilt from the sender's address and port\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q: want it to say %q", stdout, want)
		}
	}

	link, pkts := readPcap(t, in)
	if link != layers.LinkTypeEthernet || len(pkts) != 2 {
		t.Fatalf("inner file: got link type %s and %d packets, want Ethernet and 2", link, len(pkts))
	}
	for i, want := range []string{"echo request", "echo reply"} {
		if got := icmpOf(pkts[i]); got != want {
			t.Errorf("inner packet %d: got ICMP %s, want %s", i, got, want)
		}
	}
	if ts := pkts[0].Metadata().Timestamp; !ts.Equal(controltest.PingTime) {
		t.Errorf("inner packet 0: timestamp %v, want the event's, %v", ts, controltest.PingTime)
	}

	link, pkts = readPcap(t, out)
	if link != layers.LinkTypeRaw || len(pkts) != 2 {
		t.Fatalf("outer file: got link type %s and %d packets, want Raw and 2", link, len(pkts))
	}
	if !bytes.Equal(pkts[0].Data(), events[3].Bytes) {
		t.Errorf("outer packet 0: not the socket-out event's bytes, want them as vtepd sent them")
	}
	tests := []struct {
		name              string
		src, dst          string
		sport, dport      layers.UDPPort
		icmp              string
		sameInnerAsDevice int // index in the inner file
	}{
		{"sent", "10.0.0.1", "10.0.0.2", layers.UDPPort(events[3].LocalPort), 4789, "echo request", 0},
		{"received, headers rebuilt", "10.0.0.2", "10.0.0.1", 54321, 4789, "echo reply", 1},
	}
	_, inner := readPcap(t, in)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pkts[i]
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			vx, _ := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
			if ip == nil || udp == nil || vx == nil {
				t.Fatalf("layers %v: want IPv4, UDP and VXLAN", p.Layers())
			}
			if ip.SrcIP.String() != tc.src || ip.DstIP.String() != tc.dst {
				t.Errorf("outer IPv4 %s > %s, want %s > %s", ip.SrcIP, ip.DstIP, tc.src, tc.dst)
			}
			if udp.SrcPort != tc.sport || udp.DstPort != tc.dport {
				t.Errorf("UDP %d > %d, want %d > %d", udp.SrcPort, udp.DstPort, tc.sport, tc.dport)
			}
			if !vx.ValidIDFlag || vx.VNI != 42 {
				t.Errorf("VXLAN: I flag %v VNI %d, want set and 42", vx.ValidIDFlag, vx.VNI)
			}
			if !encap.IPv4(p.Data()).IsChecksumValid() || int(ip.Length) != len(p.Data()) || int(udp.Length) != len(p.Data())-20 {
				t.Errorf("outer lengths %d/%d of %d bytes or header checksum do not hold, want them to", ip.Length, udp.Length, len(p.Data()))
			}
			if got := icmpOf(p); got != tc.icmp {
				t.Errorf("inner ICMP: got %s, want %s", got, tc.icmp)
			}
			// The same frame before and after encapsulation.
			if !bytes.Equal(vx.Payload, inner[tc.sameInnerAsDevice].Data()) {
				t.Errorf("VXLAN payload differs from the frame at the device, want the same bytes")
			}
		})
	}
}

func TestCaptureIPIP(t *testing.T) {
	socket := controltest.Start(t, traceBackend(controltest.VXLANPing(), controltest.IPIPPing()))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "ipip0.pcap"), filepath.Join(dir, "underlay.pcap")
	code, stdout, errs := ctl(socket, "capture", "--network", "ipip0", "--inner", in, "--outer", out, "--count", "2")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if strings.Contains(stdout, "rebuilt") {
		t.Errorf("stdout %q: nothing is rebuilt for ipip, the raw socket gives whole packets", stdout)
	}
	link, pkts := readPcap(t, in)
	if link != layers.LinkTypeRaw || len(pkts) != 2 {
		t.Fatalf("inner file: got link type %s and %d packets, want Raw (a TUN has no Ethernet) and 2", link, len(pkts))
	}
	link, outer := readPcap(t, out)
	if link != layers.LinkTypeRaw || len(outer) != 2 {
		t.Fatalf("outer file: got link type %s and %d packets, want Raw and 2", link, len(outer))
	}
	for i, want := range []string{"echo request", "echo reply"} {
		ip, _ := outer[i].Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.Protocol != layers.IPProtocolIPv4 {
			t.Errorf("outer packet %d: %v, want IPv4 of protocol 4", i, outer[i].Layers())
		}
		if got, inGot := icmpOf(outer[i]), icmpOf(pkts[i]); got != want || inGot != want {
			t.Errorf("packet %d: ICMP %s outside, %s inside; want %s in both", i, got, inGot, want)
		}
	}
}

func TestCaptureRefusals(t *testing.T) {
	socket := controltest.Start(t, traceBackend(controltest.VXLANPing()))
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no network", []string{"capture", "--inner", filepath.Join(dir, "a")}, exitUsage,
			"vtepctl: capture: --network: required (the network whose frames to write)"},
		{"no file", []string{"capture", "--network", "vx42"}, exitUsage, "vtepctl: capture: want --inner FILE, --outer FILE or both"},
		{"bad count", []string{"capture", "--network", "vx42", "--inner", filepath.Join(dir, "b"), "--count", "-2"}, exitUsage,
			`vtepctl: capture: --count: want a number of frames, 0 or more, got "-2"`},
		{"unknown network", []string{"capture", "--network", "vx9", "--inner", filepath.Join(dir, "c")}, exitError,
			`vtepctl: capture: network "vx9": no such network`},
		{"unwritable file", []string{"capture", "--network", "vx42", "--outer", filepath.Join(dir, "no", "such", "dir")}, exitError,
			"vtepctl: open " + filepath.Join(dir, "no", "such", "dir")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := ctl(socket, tc.args...)
			if code != tc.code || !strings.HasPrefix(errs, tc.msg) {
				t.Errorf("got exit %d, stderr %q; want %d, %q", code, errs, tc.code, tc.msg)
			}
		})
	}
	for _, f := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was created by a refused capture, want nothing written", f)
		}
	}
}

// TestCaptureOrdersByTime: events that reach vtepctl out of the order in
// which they crossed the device and the socket (the reply's before the
// request's, as two workers may hand them over) are written in the order
// of their timestamps.
func TestCaptureOrdersByTime(t *testing.T) {
	events := controltest.VXLANPing()
	// The reply's frame first: socket-in ... device-out, then the request.
	events = append(events[4:], events[:4]...)
	socket := controltest.Start(t, traceBackend(events))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "vx42.pcap"), filepath.Join(dir, "underlay.pcap")
	if code, _, errs := ctl(socket, "capture", "--network", "vx42", "--inner", in, "--outer", out, "--count", "2"); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, name := range []string{in, out} {
		_, pkts := readPcap(t, name)
		if len(pkts) != 2 {
			t.Fatalf("%s: %d packets, want 2", name, len(pkts))
		}
		if got := []string{icmpOf(pkts[0]), icmpOf(pkts[1])}; got[0] != "echo request" || got[1] != "echo reply" {
			t.Errorf("%s: got %v, want the request first, as their timestamps say", filepath.Base(name), got)
		}
		if !pkts[0].Metadata().Timestamp.Before(pkts[1].Metadata().Timestamp) {
			t.Errorf("%s: timestamps %v then %v, want increasing", filepath.Base(name), pkts[0].Metadata().Timestamp, pkts[1].Metadata().Timestamp)
		}
	}
}

// TestCapturePcapngSaysWhatWasLost: to a .pcapng file, capture writes
// pcapng, and the trace events vtepd could not hand over are in the file:
// as the first packet's drop count and comment, and in the interface
// statistics at its end.
func TestCapturePcapngSaysWhatWasLost(t *testing.T) {
	b := traceBackend(controltest.VXLANPing())
	b.TraceLost = 5
	socket := controltest.Start(t, b)
	name := filepath.Join(t.TempDir(), "vx42.pcapng")
	code, stdout, errs := ctl(socket, "capture", "--network", "vx42", "--inner", name, "--count", "2")
	if code != exitOK || !strings.Contains(stdout, "5 events lost") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the loss said", code, stdout, errs)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("not pcapng: %v", err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	if n != 2 || r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("got %d packets of %s, want 2 of Ethernet", n, r.LinkType())
	}
	if !bytes.Contains(data, []byte("5 trace events lost before this packet")) {
		t.Error("the first packet's comment does not say what was lost before it")
	}
	if intf, err := r.Interface(0); err != nil || intf.Statistics.PacketsDropped != 5 {
		t.Errorf("interface statistics: %+v, %v; want 5 dropped", intf.Statistics, err)
	}
}

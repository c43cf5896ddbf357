package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
)

// missingLines returns the patterns that match no line of out.
func missingLines(out string, patterns []string) []string {
	lines := strings.Split(out, "\n")
	var missing []string
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		found := false
		for _, l := range lines {
			found = found || re.MatchString(l)
		}
		if !found {
			missing = append(missing, p)
		}
	}
	return missing
}

func traceBackend(events ...[]control.TraceEvent) *controltest.Backend {
	b := newBackend()
	for _, e := range events {
		b.TraceEvents = append(b.TraceEvents, e...)
	}
	return b
}

func TestTraceRendersPings(t *testing.T) {
	socket := controltest.Start(t, traceBackend(controltest.VXLANPing(), controltest.IPIPPing()))
	tests := []struct {
		name  string
		args  []string
		lines []string
	}{
		{"vxlan", []string{"trace", "--network", "vx42", "--count", "2"}, []string{
			`^tracing vx42, 2 frames: Ctrl-C to stop$`,
			// Going out: the frame from the TAP, its FDB hit, every byte
			// of the headers added, where it went.
			`^#1 vx42 vni 42  device-in  98 bytes  \d\d:\d\d:\d\d\.\d{6}$`,
			`^    read from the TAP device vx42$`,
			`^    ethernet 02:42:00:00:00:01 > 02:42:00:00:00:02, IPv4$`,
			`^    ip 192\.168\.42\.1 > 192\.168\.42\.2, ttl 64, 84 bytes, DF$`,
			`^    icmp echo request, id 1, seq 1$`,
			`^#1 vx42 vni 42  lookup  98 bytes`,
			`^    fdb hit: 02:42:00:00:00:02 is behind 10\.0\.0\.2$`,
			`^#1 vx42 vni 42  encap  134 bytes`,
			`^    36 bytes of headers in front of the inner frame:$`,
			`^    0\s+45\s+outer IPv4\s+version, IHL\s+4, 20 bytes$`,
			`^    8\s+40\s+outer IPv4\s+TTL\s+64$`,
			`^    16-19\s+0a 00 00 02\s+outer IPv4\s+destination\s+10\.0\.0\.2$`,
			`^    22-23\s+12 b5\s+UDP\s+destination port\s+4789 \(the VXLAN port, RFC 7348 section 5\)$`,
			`^    24-25\s+00 72\s+UDP\s+length\s+114 \(UDP header \+ VXLAN header \+ inner frame\)$`,
			`^    28\s+08\s+VXLAN\s+flags\s+0x08 `,
			`^    32-34\s+00 00 2a\s+VXLAN\s+VNI\s+42 \(24 bits: which virtual network\)$`,
			`^    36-133\s+inner frame\s+98 bytes, as read from the device$`,
			`^#1 vx42 vni 42  socket-out  134 bytes`,
			`^    sent to 10\.0\.0\.2 port 4789 \(from port \d+\)$`,
			// Coming back: from whom, the header taken off, learning.
			`^#2 vx42 vni 42  socket-in  106 bytes`,
			`^    received from 10\.0\.0\.2 port 54321 on port 4789: the UDP payload, the kernel took the IP and UDP headers off$`,
			`^#2 vx42 vni 42  decap  98 bytes`,
			`^    VXLAN header off \(VNI 42\), the inner frame is 98 bytes$`,
			`^    icmp echo reply, id 1, seq 1$`,
			`^    02:42:00:00:00:02 behind 10\.0\.0\.2: new, learnt: frames to it now go straight there$`,
			`^    written to the TAP device vx42$`,
			`^2 frames, 8 events$`,
		}},
		{"ipip", []string{"trace", "--network", "ipip0", "--count", "2"}, []string{
			`^#1 ipip0  device-in  84 bytes`,
			`^    read from the TUN device ipip0$`,
			`^    ip 10\.244\.0\.5 > 10\.244\.1\.7, ttl 64, 84 bytes, DF$`,
			`^    route: 10\.244\.1\.7 via 10\.0\.0\.2$`,
			`^    20 bytes of headers in front of the inner packet:$`,
			`^    9\s+04\s+outer IPv4\s+protocol\s+4 \(IPIP\)$`,
			`^    20-103\s+inner packet\s+84 bytes`,
			`^    received from 10\.0\.0\.2: the whole outer packet, as the underlay socket gives it$`,
			`^    outer IPv4 header off, the inner packet is 84 bytes$`,
			`^    written to the TUN device ipip0$`,
			`^2 frames, 7 events$`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ctl(socket, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, p := range missingLines(out, tc.lines) {
				t.Errorf("no line matches %s", p)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func TestTraceRendersLookupsAndDrops(t *testing.T) {
	ping := controltest.VXLANPing()
	frame := ping[0].Bytes
	bcast := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, frame[6:]...)
	ev := func(n uint64, stage string, b []byte, set func(*control.TraceEvent)) control.TraceEvent {
		e := control.TraceEvent{Frame: n, Stage: stage, Network: "vx42", Kind: control.KindVXLAN, VNI: 42, Time: controltest.PingTime, Bytes: b}
		set(&e)
		return e
	}
	b := traceBackend([]control.TraceEvent{
		ev(1, control.StageLookup, frame, func(e *control.TraceEvent) {
			e.Lookup, e.Remotes = control.LookupMiss, []string{"10.0.0.2", "10.0.0.3"}
		}),
		ev(1, control.StageDrop, frame, func(e *control.TraceEvent) { e.Drop, e.At = "too_big", control.StageDeviceIn }),
		ev(2, control.StageLookup, bcast, func(e *control.TraceEvent) { e.Lookup = control.LookupFlood }),
		ev(2, control.StageDrop, bcast, func(e *control.TraceEvent) { e.Drop, e.At = "no_remote", control.StageLookup }),
		ev(3, control.StageLearn, frame, func(e *control.TraceEvent) { e.Learn, e.Peer = "static", "10.0.0.3" }),
		ev(3, control.StageDrop, frame, func(e *control.TraceEvent) {
			e.Drop, e.At, e.Peer, e.PeerPort = "static_conflict", control.StageLearn, "10.0.0.3", 4789
		}),
	})
	b.TraceLost = 12
	code, out, errs := ctl(controltest.Start(t, b), "trace", "--count", "3")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, p := range missingLines(out, []string{
		`^tracing every network, 3 frames: Ctrl-C to stop$`,
		`^    fdb miss: 02:42:00:00:00:02 is unknown, flooded to 10\.0\.0\.2 10\.0\.0\.3$`,
		`^    DROPPED at device-in, too_big: larger than the network's MTU allows$`,
		`^    flood: ff:ff:ff:ff:ff:ff is a broadcast or multicast address, sent to nobody \(the flood list is empty\)$`,
		`^    DROPPED at lookup, no_remote: nowhere to send it`,
		`^    02:42:00:00:00:01 behind 10\.0\.0\.3: static, not learnt: a static entry puts it behind another VTEP`,
		`^    DROPPED at learn, static_conflict: its source MAC is pinned behind another VTEP$`,
		`^    peer 10\.0\.0\.3 port 4789$`,
		`^3 frames, 6 events, 12 events lost \(vtepctl read too slowly; vtepd never waits for a trace\)$`,
	}) {
		t.Errorf("no line matches %s", p)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestTraceJSON(t *testing.T) {
	want := controltest.VXLANPing()
	code, out, errs := ctl(controltest.Start(t, traceBackend(want)), "trace", "--json", "--count", "1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4 (one event per line, nothing else):\n%s", len(lines), out)
	}
	type field struct {
		Layer  string `json:"layer"`
		Field  string `json:"field"`
		Offset int    `json:"offset"`
		Length int    `json:"length"`
	}
	type jsonLine struct {
		control.TraceEvent
		Inner struct {
			SrcMAC   string `json:"src_mac"`
			Dst      string `json:"dst"`
			Protocol string `json:"protocol"`
			ICMP     string `json:"icmp"`
		} `json:"inner"`
		Headers []field `json:"headers"`
	}
	var events []jsonLine
	for i, l := range lines {
		var e jsonLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d is not a JSON event: %v\n%s", i+1, err, l)
		}
		events = append(events, e)
	}
	for i, e := range events {
		if e.Stage != want[i].Stage || e.Frame != 1 || !bytes.Equal(e.Bytes, want[i].Bytes) {
			t.Errorf("event %d: got %s frame %d, %d bytes; want %s frame 1, the %d bytes vtepd sent",
				i, e.Stage, e.Frame, len(e.Bytes), want[i].Stage, len(want[i].Bytes))
		}
		if e.Inner.SrcMAC != "02:42:00:00:00:01" || e.Inner.Dst != "192.168.42.2" || e.Inner.Protocol != "ICMP" || e.Inner.ICMP != "echo request, id 1, seq 1" {
			t.Errorf("event %d: inner %+v, want the echo request from 02:42:00:00:00:01 to 192.168.42.2", i, e.Inner)
		}
	}
	vni := field{"VXLAN", "VNI", 32, 3}
	found := false
	for _, h := range events[2].Headers {
		found = found || h == vni
	}
	if !found {
		t.Errorf("encap headers %+v: want %+v among them", events[2].Headers, vni)
	}
	if len(events[0].Headers) != 0 {
		t.Errorf("device-in headers: got %+v, want none (only encap lists the headers added)", events[0].Headers)
	}
}

func TestTraceErrors(t *testing.T) {
	b := traceBackend()
	socket := controltest.Start(t, b)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"count not a number", []string{"trace", "--count", "all"}, exitUsage, `vtepctl: trace: --count: want a number of frames, 0 or more, got "all"`},
		{"unknown option", []string{"trace", "--vni", "42"}, exitUsage, `vtepctl: trace: "--vni" is not an option`},
		{"bad match", []string{"trace", "--match", "icmp and hots 10.1.1.1"}, exitError, `vtepctl: match: "hots" (word 3): want host, net`},
		{"unknown network", []string{"trace", "--network", "vx9"}, exitError, `vtepctl: network "vx9": no such network`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := ctl(socket, tc.args...)
			if code != tc.code || !strings.HasPrefix(errs, tc.msg) {
				t.Errorf("got exit %d, stderr %q; want %d, %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}

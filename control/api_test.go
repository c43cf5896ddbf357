package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/controltest"
	"github.com/vtepd/vtepd/fdb"
)

func newBackend() *controltest.Backend {
	return &controltest.Backend{
		Nets: []control.NetworkInfo{
			{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, Local: "10.0.0.1", Port: 4789, MTU: 1450,
				Address: "192.168.42.1/24", Remotes: []string{"10.0.0.2"}, Learning: true, Ageing: "5m0s", Limit: 16384},
			{Name: "vx7", Kind: control.KindVXLAN, VNI: 7, Local: "10.0.0.1", Port: 4789, Ageing: "never", Limit: 10},
			{Name: "ipip0", Kind: control.KindIPIP, Local: "10.0.0.1", MTU: 1480,
				Routes: []control.RouteInfo{{Prefix: "10.244.1.0/24", Via: "10.0.0.2"}}},
		},
		Entries: []control.FDBEntry{
			{MAC: "aa:bb:cc:dd:ee:ff", Dst: "10.0.0.2", VNI: 42, Network: "vx42", AgeSeconds: 12.5},
			{MAC: "00:00:00:00:00:00", Dst: "10.0.0.2", VNI: 42, Network: "vx42", Static: true},
			{MAC: "02:00:00:00:00:07", Dst: "10.0.0.3", VNI: 7, Network: "vx7", Static: true},
		},
		Counts: []control.NetworkStats{
			{Name: "vx42", Kind: control.KindVXLAN, VNI: 42, RxPackets: 10, RxBytes: 980, TxPackets: 12, TxBytes: 1176,
				Drops: map[string]uint64{"malformed": 2, "fdb_full": 0}, FDBEntries: 3, Learnt: 4, Moved: 1, Aged: 2, Flooded: 6},
		},
		Routes: map[string][]control.RouteInfo{"ipip0": {{Prefix: "10.244.1.0/24", Via: "10.0.0.2"}}},
	}
}

func mustMAC(t *testing.T, s string) fdb.MAC {
	t.Helper()
	m, err := fdb.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lastCall(t *testing.T, b *controltest.Backend) string {
	t.Helper()
	calls := b.Calls()
	if len(calls) == 0 {
		t.Fatal("got no backend call, want one")
	}
	return calls[len(calls)-1]
}

func TestClientRoundTrips(t *testing.T) {
	b := newBackend()
	c := control.NewClient(controltest.Start(t, b))
	want := newBackend()

	t.Run("networks", func(t *testing.T) {
		got, err := c.Networks()
		if err != nil || !reflect.DeepEqual(got, want.Nets) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want.Nets)
		}
	})
	t.Run("fdb all", func(t *testing.T) {
		got, err := c.FDB(0, true)
		if err != nil || !reflect.DeepEqual(got, want.Entries) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want.Entries)
		}
	})
	t.Run("fdb of one vni", func(t *testing.T) {
		got, err := c.FDB(7, false)
		if err != nil || !reflect.DeepEqual(got, want.Entries[2:]) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want.Entries[2:])
		}
	})
	t.Run("stats", func(t *testing.T) {
		got, err := c.Stats()
		if err != nil || !reflect.DeepEqual(got, want.Counts) {
			t.Errorf("got %+v, %v\nwant %+v", got, err, want.Counts)
		}
	})
	t.Run("routes", func(t *testing.T) {
		for _, network := range []string{"", "ipip0"} {
			got, err := c.Routes(network)
			if w := want.Routes["ipip0"]; err != nil || !reflect.DeepEqual(got, w) {
				t.Errorf("Routes(%q): got %+v, %v, want %+v", network, got, err, w)
			}
		}
	})

	mutations := []struct {
		name string
		do   func() error
		call string // what the backend must have been asked, parsed
	}{
		{"fdb add", func() error { return c.FDBAdd(42, mustMAC(t, "02:AA:bb:cc:dd:01"), netip.MustParseAddr("10.0.0.9")) },
			"FDBAdd 42 02:aa:bb:cc:dd:01 10.0.0.9"},
		{"fdb add to the flood list", func() error { return c.FDBAdd(7, fdb.MAC{}, netip.MustParseAddr("fd00::9")) },
			"FDBAdd 7 00:00:00:00:00:00 fd00::9"},
		{"fdb del without dst", func() error { return c.FDBDel(42, mustMAC(t, "02:aa:bb:cc:dd:01"), netip.Addr{}) },
			"FDBDel 42 02:aa:bb:cc:dd:01 invalid IP"},
		{"fdb del of a flood entry", func() error { return c.FDBDel(7, fdb.MAC{}, netip.MustParseAddr("fd00::9")) },
			"FDBDel 7 00:00:00:00:00:00 fd00::9"},
		{"route add to the only ipip network", func() error {
			return c.RouteAdd("", netip.MustParsePrefix("10.244.2.0/24"), netip.MustParseAddr("10.0.0.3"))
		}, `RouteAdd "" 10.244.2.0/24 10.0.0.3`},
		{"route del", func() error { return c.RouteDel("ipip0", netip.MustParsePrefix("10.244.2.0/24")) },
			`RouteDel "ipip0" 10.244.2.0/24`},
		{"network add", func() error {
			return c.NetworkAdd(mustNetwork(t, "--vni", "43", "--remote", "10.0.0.2", "--addr", "192.168.43.1/24"))
		}, `NetworkAdd {"name":"vx43","kind":"vxlan","vni":43,"address":"192.168.43.1/24","remotes":["10.0.0.2"],"learning":true,"ageing":"5m0s","limit":16384}`},
		{"network add of ipip", func() error {
			return c.NetworkAdd(mustNetwork(t, "--mode", "ipip", "--name", "ipip1", "--ttl", "inherit", "--route", "10.245.0.0/16=10.0.0.3"))
		}, `NetworkAdd {"name":"ipip1","kind":"ipip","ttl":"inherit","df":"inherit","routes":[{"prefix":"10.245.0.0/16","via":"10.0.0.3"}]}`},
		{"network del", func() error { return c.NetworkDel("ipip1") }, "NetworkDel ipip1"},
		{"peer add", func() error { return c.PeerAdd(7, netip.MustParseAddr("fd00::7")) }, "PeerAdd 7 fd00::7"},
		{"peer del", func() error { return c.PeerDel(7, netip.MustParseAddr("fd00::7")) }, "PeerDel 7 fd00::7"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			if err := m.do(); err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := lastCall(t, b); got != m.call {
				t.Errorf("got backend call %q, want %q", got, m.call)
			}
		})
	}
	t.Run("the added network is visible", func(t *testing.T) {
		nets, err := c.Networks()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range nets {
			names = append(names, n.Name)
		}
		if want := []string{"vx42", "vx7", "ipip0", "vx43"}; !reflect.DeepEqual(names, want) {
			t.Errorf("got networks %q, want %q", names, want)
		}
		last := nets[len(nets)-1]
		if last.VNI != 43 || last.Address != "192.168.43.1/24" || !reflect.DeepEqual(last.Remotes, []string{"10.0.0.2"}) {
			t.Errorf("got %+v, want vni 43, address 192.168.43.1/24, remotes [10.0.0.2]", last)
		}
	})
	flushes := []struct {
		name  string
		vni   uint32
		all   bool
		count int
		call  string
	}{
		{"fdb flush of a network", 42, false, 1, "FDBFlush 42"},
		{"fdb flush again", 42, false, 0, "FDBFlush 42"},
		{"fdb flush of all", 0, true, 0, "FDBFlush all"},
	}
	for _, f := range flushes {
		t.Run(f.name, func(t *testing.T) {
			n, err := c.FDBFlush(f.vni, f.all)
			if err != nil || n != f.count {
				t.Errorf("got %d, %v, want %d flushed", n, err, f.count)
			}
			if got := lastCall(t, b); got != f.call {
				t.Errorf("got backend call %q, want %q", got, f.call)
			}
		})
	}
	t.Run("static entries survive the flush", func(t *testing.T) {
		got, err := c.FDB(42, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if !e.Static {
				t.Errorf("got learnt entry %+v after a flush, want none", e)
			}
		}
		if len(got) == 0 || got[0].MAC != "00:00:00:00:00:00" || got[0].Dst != "10.0.0.2" {
			t.Errorf("got %+v, want the flood-list entry for 10.0.0.2 kept", got)
		}
	})
	t.Run("fdb add is visible", func(t *testing.T) {
		if err := c.FDBAdd(42, mustMAC(t, "02:00:00:00:00:42"), netip.MustParseAddr("10.0.0.4")); err != nil {
			t.Fatal(err)
		}
		got, err := c.FDB(42, false)
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if last.MAC != "02:00:00:00:00:42" || last.Dst != "10.0.0.4" || !last.Static {
			t.Errorf("got last entry %+v, want the static 02:00:00:00:00:42 dst 10.0.0.4", last)
		}
	})
}

// rawClient sends requests the typed client cannot, to see statuses and
// bodies as they are on the wire.
func rawClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func rawDo(t *testing.T, hc *http.Client, method, target, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://vtepd"+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, strings.TrimSpace(string(data))
}

func TestAPIStatusesAndErrors(t *testing.T) {
	b := newBackend()
	hc := rawClient(controltest.Start(t, b))
	tests := []struct {
		name, method, target, body string
		status                     int
		want                       string // the whole body
	}{
		{"empty list is [] not null", "GET", "/v1/fdb?vni=7", "", 200,
			`[{"mac":"02:00:00:00:00:07","dst":"10.0.0.3","vni":7,"network":"vx7","static":true,"age_seconds":0,"used_seconds":0,"updated_seconds":0}]`},
		{"added", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":42}`, 204, ""},
		{"mac not a mac", "POST", "/v1/fdb", `{"mac":"zz","dst":"10.0.0.5","vni":42}`, 400,
			`{"error":"mac: want aa:bb:cc:dd:ee:ff, got \"zz\""}`},
		{"mac missing", "POST", "/v1/fdb", `{"dst":"10.0.0.5","vni":42}`, 400,
			`{"error":"mac: required (aa:bb:cc:dd:ee:ff, or 00:00:00:00:00:00 for the flood list)"}`},
		{"dst missing", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","vni":42}`, 400,
			`{"error":"dst: required (the remote endpoint's address)"}`},
		{"dst not an address", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"peer","vni":42}`, 400,
			`{"error":"dst: want an IP address, got \"peer\""}`},
		{"vni missing", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5"}`, 400,
			`{"error":"vni: required (0..16777215)"}`},
		{"vni too big", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":16777216}`, 400,
			`{"error":"vni: want an integer 0..16777215, got 16777216"}`},
		{"vni a string", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":"42"}`, 400,
			`{"error":"vni: want an integer 0..16777215, got string"}`},
		{"vni negative", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":-1}`, 400,
			`{"error":"vni: want an integer 0..16777215, got number -1"}`},
		{"unknown field", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":42,"colour":1}`, 400,
			`{"error":"colour: unknown field"}`},
		{"not json", "POST", "/v1/fdb", `mac=1`, 400,
			`{"error":"body: want a JSON object: invalid character 'm' looking for beginning of value"}`},
		{"no body", "POST", "/v1/fdb", ``, 400, `{"error":"body: want a JSON object, got nothing"}`},
		{"two objects", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":42} {}`, 400,
			`{"error":"body: want one JSON object, got more"}`},
		{"unknown vni is 404", "POST", "/v1/fdb", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":99}`, 404,
			`{"error":"vni 99: no such network: not found"}`},
		{"existing entry is 409", "POST", "/v1/fdb", `{"mac":"aa:bb:cc:dd:ee:ff","dst":"10.0.0.5","vni":42}`, 409,
			`{"error":"aa:bb:cc:dd:ee:ff dst 10.0.0.2: already exists"}`},
		{"list of unknown vni is 404", "GET", "/v1/fdb?vni=99", "", 404, `{"error":"vni 99: no such network: not found"}`},
		{"list vni a word", "GET", "/v1/fdb?vni=abc", "", 400, `{"error":"vni: want an integer 0..16777215, got \"abc\""}`},
		{"list with a typo", "GET", "/v1/fdb?vin=42", "", 400, `{"error":"vin: unknown query parameter (want vni)"}`},
		{"delete", "DELETE", "/v1/fdb?mac=02:00:00:00:00:01&vni=42", "", 204, ""},
		{"delete missing entry is 404", "DELETE", "/v1/fdb?mac=02:00:00:00:00:01&vni=42", "", 404,
			`{"error":"02:00:00:00:00:01: not found"}`},
		{"delete flood entry needs dst", "DELETE", "/v1/fdb?mac=00:00:00:00:00:00&vni=42", "", 400,
			`{"error":"dst: required to delete a flood-list entry (mac 00:00:00:00:00:00)"}`},
		{"delete without vni", "DELETE", "/v1/fdb?mac=02:00:00:00:00:01", "", 400, `{"error":"vni: required (0..16777215)"}`},
		{"delete bad dst", "DELETE", "/v1/fdb?mac=02:00:00:00:00:01&vni=42&dst=x", "", 400, `{"error":"dst: want an IP address, got \"x\""}`},
		{"route added", "POST", "/v1/routes", `{"network":"ipip0","prefix":"10.9.0.0/16","via":"10.0.0.2"}`, 204, ""},
		{"route twice is 409", "POST", "/v1/routes", `{"prefix":"10.9.0.0/16","via":"10.0.0.2"}`, 409,
			`{"error":"route 10.9.0.0/16: already exists"}`},
		{"route with host bits", "POST", "/v1/routes", `{"prefix":"10.9.1.1/16","via":"10.0.0.2"}`, 400,
			`{"error":"prefix: want a network prefix like 10.244.1.0/24, got \"10.9.1.1/16\""}`},
		{"route without via", "POST", "/v1/routes", `{"prefix":"10.9.0.0/16"}`, 400,
			`{"error":"via: required (the remote endpoint for 10.9.0.0/16)"}`},
		{"route on a vxlan network", "POST", "/v1/routes", `{"network":"vx42","prefix":"10.8.0.0/16","via":"10.0.0.2"}`, 400,
			`{"error":"network vx42 is vxlan, routes are for ipip networks: invalid"}`},
		{"routes of unknown network", "GET", "/v1/routes?network=nope", "", 404, `{"error":"network nope: not found"}`},
		{"route delete", "DELETE", "/v1/routes?prefix=10.9.0.0/16", "", 204, ""},
		{"route delete without prefix", "DELETE", "/v1/routes?network=ipip0", "", 400,
			`{"error":"prefix: required (the destination, like 10.244.1.0/24)"}`},
		{"network added", "POST", "/v1/networks", `{"vni":43,"remotes":["10.0.0.2"],"address":"192.168.43.1/24"}`, 204, ""},
		{"network name in use is 409", "POST", "/v1/networks", `{"vni":44,"name":"vx43"}`, 409,
			`{"error":"name: vx43 is already a network: already exists"}`},
		{"network vni in use is 409", "POST", "/v1/networks", `{"vni":42,"name":"other"}`, 409,
			`{"error":"vni: 42 is already used by vx42: already exists"}`},
		{"network without vni", "POST", "/v1/networks", `{}`, 400, `{"error":"vni: required for a vxlan network (0..16777215)"}`},
		{"network vni a string", "POST", "/v1/networks", `{"vni":"44"}`, 400, `{"error":"vni: want an integer 0..16777215, got string"}`},
		{"network mtu a string", "POST", "/v1/networks", `{"vni":44,"mtu":"big"}`, 400, `{"error":"mtu: want an integer, got string"}`},
		{"network learning a string", "POST", "/v1/networks", `{"vni":44,"learning":"yes"}`, 400,
			`{"error":"learning: want true or false, got string"}`},
		{"network remotes a string", "POST", "/v1/networks", `{"vni":44,"remotes":"10.0.0.2"}`, 400,
			`{"error":"remotes: want a list, got string"}`},
		{"network remote not an address", "POST", "/v1/networks", `{"vni":44,"remotes":["peer"]}`, 400,
			`{"error":"remotes[0]: want an IP address, got \"peer\""}`},
		{"network routes an object", "POST", "/v1/networks", `{"kind":"ipip","name":"t","routes":{}}`, 400,
			`{"error":"routes: want a list, got object"}`},
		{"network ttl a number", "POST", "/v1/networks", `{"kind":"ipip","name":"t","ttl":64}`, 400,
			`{"error":"ttl: want a string, \"1\"..\"255\" or \"inherit\", got number"}`},
		{"network of the other kind's field", "POST", "/v1/networks", `{"kind":"ipip","name":"t","vni":3}`, 400,
			`{"error":"vni: only for vxlan networks, this one is ipip"}`},
		{"network unknown field", "POST", "/v1/networks", `{"vni":44,"colour":"red"}`, 400, `{"error":"colour: unknown field"}`},
		{"network remote of the wrong type", "POST", "/v1/networks", `{"vni":44,"remotes":["10.0.0.2",7]}`, 400,
			`{"error":"remotes[1]: want a string, got number"}`},
		{"network route via of the wrong type", "POST", "/v1/networks",
			`{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"},{"prefix":"10.2.0.0/16","via":2}]}`, 400,
			`{"error":"routes[1].via: want a string, got number"}`},
		{"network route field of another case", "POST", "/v1/networks",
			`{"kind":"ipip","name":"t","Routes":[{"Prefix":"10.1.0.0/16","VIA":false}]}`, 400,
			`{"error":"routes[0].via: want a string, got bool"}`},
		{"network unknown route field", "POST", "/v1/networks",
			`{"kind":"ipip","name":"t","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"},{"prefix":"10.2.0.0/16","gw":"10.0.0.2"}]}`, 400,
			`{"error":"routes[1].gw: unknown field"}`},
		{"network unknown field with a quote", "POST", "/v1/networks", `{"vni":44,"a\"b":1}`, 400,
			`{"error":"\"a\\\"b\": unknown field"}`},
		{"network unknown field with a line break", "POST", "/v1/networks", `{"vni":44,"a\nb":1}`, 400,
			`{"error":"\"a\\nb\": unknown field"}`},
		{"network unknown empty field", "POST", "/v1/networks", `{"vni":44,"":1}`, 400, `{"error":"\"\": unknown field"}`},
		{"network body a list", "POST", "/v1/networks", `[{"vni":44}]`, 400, `{"error":"body: want a JSON object, got array"}`},
		{"network deleted", "DELETE", "/v1/networks?name=vx43", "", 204, ""},
		{"network deleted twice is 404", "DELETE", "/v1/networks?name=vx43", "", 404, `{"error":"network vx43: not found"}`},
		{"network delete without name", "DELETE", "/v1/networks", "", 400, `{"error":"name: required (the network to stop)"}`},
		{"network delete with a typo", "DELETE", "/v1/networks?nmae=vx7", "", 400, `{"error":"nmae: unknown query parameter (want name)"}`},
		{"network delete with a line break in a parameter", "DELETE", "/v1/networks?na%0Ame=vx7", "", 400,
			`{"error":"\"na\\nme\": unknown query parameter (want name)"}`},
		{"network delete with an empty parameter", "DELETE", "/v1/networks?=vx7", "", 400,
			`{"error":"\"\": unknown query parameter (want name)"}`},
		{"network delete with two unknown parameters", "DELETE", "/v1/networks?zz=1&aa=2&name=vx7", "", 400,
			`{"error":"aa: unknown query parameter (want name)"}`},
		{"peer added", "POST", "/v1/peers", `{"vni":42,"peer":"10.0.0.9"}`, 204, ""},
		{"peer twice is 409", "POST", "/v1/peers", `{"vni":42,"peer":"10.0.0.9"}`, 409, `{"error":"peer 10.0.0.9: already exists"}`},
		{"peer of unknown vni is 404", "POST", "/v1/peers", `{"vni":99,"peer":"10.0.0.9"}`, 404, `{"error":"vni 99: no such network: not found"}`},
		{"peer without vni", "POST", "/v1/peers", `{"peer":"10.0.0.9"}`, 400, `{"error":"vni: required (0..16777215)"}`},
		{"peer vni too big", "POST", "/v1/peers", `{"vni":16777216,"peer":"10.0.0.9"}`, 400,
			`{"error":"vni: want an integer 0..16777215, got 16777216"}`},
		{"peer missing", "POST", "/v1/peers", `{"vni":42}`, 400, `{"error":"peer: required (the remote endpoint's address)"}`},
		{"peer not an address", "POST", "/v1/peers", `{"vni":42,"peer":"x"}`, 400, `{"error":"peer: want an IP address, got \"x\""}`},
		{"peer deleted", "DELETE", "/v1/peers?vni=42&peer=10.0.0.9", "", 204, ""},
		{"peer deleted twice is 404", "DELETE", "/v1/peers?vni=42&peer=10.0.0.9", "", 404, `{"error":"peer 10.0.0.9: not found"}`},
		{"peer delete without vni", "DELETE", "/v1/peers?peer=10.0.0.9", "", 400, `{"error":"vni: required (0..16777215)"}`},
		{"peer delete without peer", "DELETE", "/v1/peers?vni=42", "", 400, `{"error":"peer: required (the remote endpoint's address)"}`},
		{"peer delete vni a word", "DELETE", "/v1/peers?vni=x&peer=10.0.0.9", "", 400, `{"error":"vni: want an integer 0..16777215, got \"x\""}`},
		{"flush of a network", "POST", "/v1/fdb/flush", `{"vni":42}`, 200, `{"flushed":1}`},
		{"flush of all", "POST", "/v1/fdb/flush", `{}`, 200, `{"flushed":0}`},
		{"flush of unknown vni is 404", "POST", "/v1/fdb/flush", `{"vni":99}`, 404, `{"error":"vni 99: no such network: not found"}`},
		{"flush vni too big", "POST", "/v1/fdb/flush", `{"vni":16777216}`, 400, `{"error":"vni: want an integer 0..16777215, got 16777216"}`},
		{"flush without body", "POST", "/v1/fdb/flush", ``, 400, `{"error":"body: want a JSON object, got nothing"}`},
		{"flush is POST only", "GET", "/v1/fdb/flush", "", 405, `{"error":"method GET not allowed on /v1/fdb/flush (want POST)"}`},
		{"peers cannot be listed", "GET", "/v1/peers", "", 405, `{"error":"method GET not allowed on /v1/peers (want POST or DELETE)"}`},
		{"wrong method", "PUT", "/v1/fdb", "{}", 405, `{"error":"method PUT not allowed on /v1/fdb (want GET or POST or DELETE)"}`},
		{"read-only endpoint", "POST", "/v1/stats", "{}", 405, `{"error":"method POST not allowed on /v1/stats (want GET)"}`},
		{"unknown endpoint", "GET", "/v1/nope", "", 404, `{"error":"no such endpoint: /v1/nope"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawDo(t, hc, tc.method, tc.target, tc.body)
			if resp.StatusCode != tc.status || body != tc.want {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, body, tc.status, tc.want)
			}
			if tc.status != 204 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("got Content-Type %q, want application/json", ct)
				}
			}
			if tc.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("got 405 without an Allow header, want one")
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	b := newBackend()
	socket := controltest.Start(t, b)
	c := control.NewClient(socket)
	mac := mustMAC(t, "aa:bb:cc:dd:ee:ff")
	tests := []struct {
		name   string
		do     func() error
		want   string
		is     error
		status int
	}{
		{"unknown vni", func() error { _, err := c.FDB(99, false); return err },
			"vni 99: no such network: not found", control.ErrNotFound, 404},
		{"existing entry", func() error { return c.FDBAdd(42, mac, netip.MustParseAddr("10.0.0.8")) },
			"aa:bb:cc:dd:ee:ff dst 10.0.0.2: already exists", control.ErrExists, 409},
		{"zero dst", func() error { return c.FDBAdd(42, mac, netip.Addr{}) },
			"dst: required (the remote endpoint's address)", control.ErrInvalid, 400},
		{"flood delete without dst", func() error { return c.FDBDel(42, fdb.MAC{}, netip.Addr{}) },
			"dst: required to delete a flood-list entry (mac 00:00:00:00:00:00)", control.ErrInvalid, 400},
		{"route prefix with host bits", func() error {
			return c.RouteAdd("ipip0", netip.MustParsePrefix("10.1.2.3/16"), netip.MustParseAddr("10.0.0.2"))
		}, `prefix: want a network prefix like 10.244.1.0/24, got "10.1.2.3/16"`, control.ErrInvalid, 400},
		{"missing route", func() error { return c.RouteDel("ipip0", netip.MustParsePrefix("10.99.0.0/16")) },
			"route 10.99.0.0/16: not found", control.ErrNotFound, 404},
		{"network name in use", func() error { return c.NetworkAdd(mustNetwork(t, "--vni", "50", "--name", "vx42")) },
			"name: vx42 is already a network: already exists", control.ErrExists, 409},
		{"network the server refuses", func() error {
			return c.NetworkAdd(control.Network{Name: "vx50", Kind: control.KindVXLAN, VNI: 50, Learning: true})
		}, "limit: want an integer 1..2147483647, got 0", control.ErrInvalid, 400},
		{"network unknown", func() error { return c.NetworkDel("nope") }, "network nope: not found", control.ErrNotFound, 404},
		{"network without name", func() error { return c.NetworkDel("") }, "name: required (the network to stop)", control.ErrInvalid, 400},
		{"peer present", func() error { return c.PeerAdd(42, netip.MustParseAddr("10.0.0.2")) },
			"peer 10.0.0.2: already exists", control.ErrExists, 409},
		{"peer of unknown vni", func() error { return c.PeerAdd(99, netip.MustParseAddr("10.0.0.2")) },
			"vni 99: no such network: not found", control.ErrNotFound, 404},
		{"peer zero", func() error { return c.PeerAdd(42, netip.Addr{}) },
			"peer: required (the remote endpoint's address)", control.ErrInvalid, 400},
		{"peer absent", func() error { return c.PeerDel(42, netip.MustParseAddr("10.0.0.99")) },
			"peer 10.0.0.99: not found", control.ErrNotFound, 404},
		{"flush of unknown vni", func() error { _, err := c.FDBFlush(99, false); return err },
			"vni 99: no such network: not found", control.ErrNotFound, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v, want %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("got errors.Is(err, %v) false, want true", tc.is)
			}
			var ae *control.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Errorf("got %#v, want an APIError with status %d", err, tc.status)
			}
		})
	}

	t.Run("backend failure is 500, verbatim", func(t *testing.T) {
		b2 := newBackend()
		b2.Fail = errors.New("table is being rebuilt")
		c2 := control.NewClient(controltest.Start(t, b2))
		_, err := c2.FDB(42, false)
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != 500 || err.Error() != "table is being rebuilt" {
			t.Errorf("got %v, want a 500 saying %q", err, "table is being rebuilt")
		}
		for _, sentinel := range []error{control.ErrInvalid, control.ErrNotFound, control.ErrExists} {
			if errors.Is(err, sentinel) {
				t.Errorf("got errors.Is(err, %v) true for a 500, want false", sentinel)
			}
		}
	})
}

func TestClientUnreachable(t *testing.T) {
	tests := []struct {
		name string
		call func(c *control.Client) error
	}{
		{"a request", func(c *control.Client) error { _, err := c.Stats(); return err }},
		{"a trace", func(c *control.Client) error {
			return c.Trace(context.Background(), control.TraceRequest{}, func(control.TraceEvent) error { return nil })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			socket := controltest.SocketPath(t)
			err := tc.call(control.NewClient(socket))
			want := "cannot reach vtepd at " + socket + ": dial unix " + socket + ": connect: no such file or directory"
			if err == nil || err.Error() != want {
				t.Errorf("got %v\nwant %s", err, want)
			}
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("got %v, want it to wrap ENOENT", err)
			}
		})
	}
}

func TestListen(t *testing.T) {
	t.Run("makes the directory and a 0660 socket; Close removes it", func(t *testing.T) {
		path := filepath.Join(filepath.Dir(controltest.SocketPath(t)), "run", "vtepd", "vtepd.sock")
		s := control.NewServer(newBackend(), nil)
		if err := s.Listen(path); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve() }()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
			t.Errorf("got mode %v, want a socket with 0660", fi.Mode())
		}
		if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o755 {
			t.Errorf("got directory %v, %v, want mode 0755", di, err)
		}
		if _, err := control.NewClient(path).Networks(); err != nil {
			t.Errorf("got %v from a served socket, want no error", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: got %v after Close, want nil", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v after Close, want the socket file gone", err)
		}
		// Both directories Listen made go too; the one it found stays.
		for _, d := range []string{filepath.Dir(path), filepath.Dir(filepath.Dir(path))} {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("directory %s after Close: %v, want it removed", d, err)
			}
		}
		if _, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(path)))); err != nil {
			t.Errorf("the directory that was there before: %v, want it kept", err)
		}
	})
	t.Run("a directory made and then shared is kept", func(t *testing.T) {
		path := filepath.Join(filepath.Dir(controltest.SocketPath(t)), "shared", "vtepd.sock")
		s := control.NewServer(newBackend(), nil)
		if err := s.Listen(path); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(filepath.Dir(path), "other")
		if err := os.WriteFile(other, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(other); err != nil {
			t.Errorf("a file someone else put in the directory: %v, want it kept", err)
		}
	})
	t.Run("a stale socket is replaced", func(t *testing.T) {
		path := controltest.SocketPath(t)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // leaves the file, as a vtepd that was killed does
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("stale socket file: %v", err)
		}
		s := control.NewServer(newBackend(), nil)
		if err := s.Listen(path); err != nil {
			t.Fatalf("got %v, want the stale socket replaced", err)
		}
		go s.Serve()
		defer s.Close()
		if _, err := control.NewClient(path).Networks(); err != nil {
			t.Errorf("got %v from the new socket, want no error", err)
		}
	})
	t.Run("a live socket is refused", func(t *testing.T) {
		path := controltest.Start(t, newBackend())
		err := control.NewServer(newBackend(), nil).Listen(path)
		want := "control socket " + path + ": another vtepd is listening"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
		if _, err := control.NewClient(path).Networks(); err != nil {
			t.Errorf("got %v, want the first server still answering", err)
		}
	})
	t.Run("a regular file is left alone", func(t *testing.T) {
		path := controltest.SocketPath(t)
		if err := os.WriteFile(path, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := control.NewServer(newBackend(), nil).Listen(path)
		want := "control socket " + path + ": exists and is not a socket"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
		if data, _ := os.ReadFile(path); string(data) != "keep" {
			t.Errorf("got file content %q, want it untouched", data)
		}
	})
	t.Run("Serve before Listen", func(t *testing.T) {
		if err := control.NewServer(newBackend(), nil).Serve(); err == nil {
			t.Error("got nil, want an error")
		}
	})
	t.Run("Close before Serve removes the socket", func(t *testing.T) {
		path := controltest.SocketPath(t)
		s := control.NewServer(newBackend(), nil)
		if err := s.Listen(path); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(); err != nil {
			t.Errorf("Serve after Close: got %v, want nil", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want the socket file gone", err)
		}
	})
}

// postTargets are the endpoints FuzzAPIJSON posts to, chosen by its first
// argument.
var postTargets = []string{"/v1/fdb", "/v1/routes", "/v1/networks", "/v1/peers", "/v1/fdb/flush"}

func FuzzAPIJSON(f *testing.F) {
	f.Add(uint8(0), []byte(`{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":42}`))
	f.Add(uint8(0), []byte(`{"mac":"00:00:00:00:00:00","dst":"fd00::1","vni":7}`))
	f.Add(uint8(0), []byte(`{"mac":"aa:bb:cc:dd:ee:ff","dst":"10.0.0.5","vni":42}`))
	f.Add(uint8(1), []byte(`{"network":"ipip0","prefix":"10.9.0.0/16","via":"10.0.0.2"}`))
	f.Add(uint8(1), []byte(`{"prefix":"10.244.1.0/24","via":"10.0.0.2"}`))
	f.Add(uint8(1), []byte(`[1,2,{"x":null}]`))
	f.Add(uint8(2), []byte(`{"vni":43,"remotes":["10.0.0.2"],"address":"192.168.43.1/24","ageing":"90"}`))
	f.Add(uint8(2), []byte(`{"kind":"ipip","name":"t","ttl":"inherit","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"}]}`))
	f.Add(uint8(2), []byte(`{"vni":42}`))
	f.Add(uint8(3), []byte(`{"vni":42,"peer":"10.0.0.9"}`))
	f.Add(uint8(3), []byte(`{"vni":42,"peer":"10.0.0.2"}`))
	f.Add(uint8(4), []byte(`{"vni":42}`))
	f.Add(uint8(4), []byte(`{}`))
	f.Add(uint8(0), []byte("\x00{"))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		b := newBackend()
		srv := control.NewServer(b, nil)
		target := postTargets[int(which)%len(postTargets)]
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, strings.NewReader(string(body))))
		switch rec.Code {
		case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict:
		default:
			t.Fatalf("got status %d (%s), want 200, 204 or a 4xx", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			var reply struct{ Flushed *int }
			if target != "/v1/fdb/flush" || json.Unmarshal(rec.Body.Bytes(), &reply) != nil || reply.Flushed == nil {
				t.Fatalf("got 200 %s from %s, want only a flush to answer {\"flushed\":K}", rec.Body, target)
			}
			return
		}
		if rec.Code == http.StatusNoContent {
			if target == "/v1/networks" {
				nets := b.Networks()
				if len(nets) != len(newBackend().Nets)+1 {
					t.Fatalf("got %d networks after a 204, want one more than %d", len(nets), len(newBackend().Nets))
				}
			}
			return
		}
		msg := strings.TrimSpace(rec.Body.String())
		if !strings.HasPrefix(msg, `{"error":"`) || strings.Contains(msg, "\n") {
			t.Fatalf("got body %q, want one JSON error line", msg)
		}
		if !jsonObject(body) && rec.Code != http.StatusBadRequest {
			t.Fatalf("got status %d for a body that is no JSON object, want 400", rec.Code)
		}
	})
}

// jsonObject reports whether b starts like a JSON object (after spaces).
func jsonObject(b []byte) bool {
	s := strings.TrimLeft(string(b), " \t\r\n")
	return strings.HasPrefix(s, "{")
}

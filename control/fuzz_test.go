package control_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vtepd/vtepd/control"
)

// configErr is the shape of a config error: one line, the field path at
// fault (or "config" for what has no field, like YAML syntax), then what is
// wrong. A key the config does not know is named as written, or quoted
// when it holds more than letters, digits, '_' and '-', so only the ": "
// and a problem after it are certain.
var configErr = regexp.MustCompile(`^[^\r\n]+: \S[^\r\n]*$`)

// FuzzConfig feeds the YAML config parser arbitrary files. A file is either
// refused with one line that starts with the field path at fault, or gives
// a config that validates and whose every network, described as the
// control API describes it (SpecOf, then JSON), is the same network again:
// what a config file can say, vtepctl can say too.
func FuzzConfig(f *testing.F) {
	seeds := []string{
		// The config sketch of the design notes.
		`underlay:
  local: 10.0.0.1
  port: 4789
networks:
  - name: vx42
    kind: vxlan
    vni: 42
    address: 192.168.42.1/24
    remotes: [10.0.0.2, 10.0.0.3]
    ageing: 300s
    limit: 16384
  - name: ipip0
    kind: ipip
    address: 10.244.0.1/24
    routes:
      - {prefix: 10.244.1.0/24, via: 10.0.0.2}
control: /run/vtepd/vtepd.sock
metrics: 127.0.0.1:9470
`,
		`underlay: {local: 10.0.0.1, srcport: 40000-50000, ttl: 32, mcast_ttl: 4, udpcsum: true}
networks:
  - {vni: 7, group: 239.1.1.1, dev: eth0, learning: false, ageing: 0, mtu: 1400}
log_level: debug
`,
		`underlay: {local: "fd00::1", port: 8472}
networks: [{vni: 16777215, remotes: ["fd00::2", "fd00::3"], address: "fd42::1/64", ageing: 90, limit: 1}]
`,
		`underlay: {local: 10.0.0.1}
networks:
  - {kind: ipip, name: t0, remote: 10.0.0.2, ttl: inherit, df: set}
  - {kind: ipip, name: t1, ttl: 9, df: unset, routes: [{prefix: 10.9.0.0/16, via: 10.0.0.3}, {prefix: 0.0.0.0/0, via: 10.0.0.4}]}
`,
		`underlay: {local: 10.0.0.1, accept: peers, allow: [10.1.0.0/16, 10.2.0.9]}
networks: [{vni: 5, remotes: [10.0.0.2], mac_moves: 3, flood_rate: 1000}]
on_device_loss: exit
`,
		// Refused, each for another reason.
		"underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42}, {vni: 42}]\n",
		"underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42, ttl: 3}]\n",
		"underlay: {local: 10.0.0.1}\nnetworks: [{vni: x}]\n",
		"underlay: {local: 10.0.0.1}\nnetworks: [{kind: ipip, name: t, routes: [{prefix: 10.1.2.3/16, via: 10.0.0.2}]}]\n",
		"underlay: {local: 10.0.0.1, port: 0}\nnetworks: [{vni: 1}]\n",
		"underlay: {local: 10.0.0.1}\nnetworks: [{vni: 1}]\nnetworks: []\n",
		"underlay: {local: 10.0.0.1}\nnetwork: [{vni: 1}]\n",
		"a: &x [*x]\n",
		"---\n---\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := control.Parse(data)
		c2, err2 := control.Parse(data)
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(c, c2) {
			t.Fatalf("two parses of one file differ: got %v, %v and %v, %v", c, err, c2, err2)
		}
		if err != nil {
			if c != nil {
				t.Fatalf("got a config and error %q, want only the error", err)
			}
			if msg := err.Error(); !configErr.MatchString(msg) {
				t.Fatalf("got error %q, want one line: the field path, then what is wrong", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		for _, n := range c.Networks {
			checkSpecRoundTrip(t, n)
		}
	})
}

// nilEmpty returns n with empty lists as nil: "remotes: []" and no remotes
// are the same network.
func nilEmpty(n control.Network) control.Network {
	if len(n.Remotes) == 0 {
		n.Remotes = nil
	}
	if len(n.Routes) == 0 {
		n.Routes = nil
	}
	return n
}

// FuzzFlags feeds vtepd's command line parsers arbitrary words. --config
// is left out: it names a file to read. A command line is refused with one
// line naming the flag, or gives what the config file would: a config that
// validates, and networks that the API's description gives back unchanged.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{
		"--local 10.0.0.1 --vni 42 --remote 10.0.0.2 --addr 192.168.42.1/24",
		"--local 10.0.0.1 --vni 42 --group 239.1.1.1 --dev eth0 --mcast-ttl 3",
		"--local fd00::1 --vni 7 --remote fd00::2 --remote=fd00::3 --dstport 8472 --srcport 1000-2000 --ttl 10",
		"--local 10.0.0.1 --vni 5 --learning=false --ageing 90s --limit 10 --mtu 1400 --udpcsum",
		"--mode ipip --local 10.0.0.1 --name ipip0 --addr 10.244.0.1/24 --route 10.244.1.0/24=10.0.0.2",
		"--mode ipip --local 10.0.0.1 --name t --remote 10.0.0.2 --ttl inherit --df set",
		"--local 10.0.0.1 --vni 42 --control /tmp/x.sock --metrics 127.0.0.1:9470 --log-level debug",
		"--vni 42 --learning false",
		"--local 10.0.0.1 --vni 16777216",
		"-h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		for _, a := range args {
			if strings.Contains(a, "config") {
				return
			}
		}
		c, err := control.ParseFlags(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
		case err != nil:
			checkFlagError(t, "ParseFlags", args, err)
		default:
			if err := c.Validate(); err != nil {
				t.Fatalf("ParseFlags(%q) gave a config that Validate refuses: %v", args, err)
			}
			if len(c.Networks) != 1 {
				t.Fatalf("ParseFlags(%q): got %d networks, want 1", args, len(c.Networks))
			}
			checkSpecRoundTrip(t, c.Networks[0])
		}
		n, err := control.ParseNetworkFlags(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
		case err != nil:
			checkFlagError(t, "ParseNetworkFlags", args, err)
		default:
			checkSpecRoundTrip(t, n)
		}
	})
}

// checkFlagError checks that a refused command line is told in one line
// that names a flag or quotes the word at fault.
func checkFlagError(t *testing.T, fn string, args []string, err error) {
	t.Helper()
	msg := err.Error()
	named := strings.Contains(msg, "-")
	for _, a := range args {
		named = named || strings.Contains(msg, strconv.Quote(a))
	}
	if msg == "" || strings.ContainsAny(msg, "\r\n") || !named {
		t.Fatalf("%s(%q): got error %q, want one line naming the flag or the word at fault", fn, args, msg)
	}
}

// checkSpecRoundTrip checks that n, described as the API describes it and
// sent as JSON, is n again. JSON carries only UTF-8, and so must every
// name that was accepted.
func checkSpecRoundTrip(t *testing.T, n control.Network) {
	t.Helper()
	if !utf8.ValidString(n.Name) || !utf8.ValidString(n.Dev) {
		t.Fatalf("got network %q with dev %q accepted, want names that are not UTF-8 refused", n.Name, n.Dev)
	}
	spec := control.SpecOf(n)
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("network %q: %v", n.Name, err)
	}
	spec = control.NetworkSpec{}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("network %q as JSON %s: %v", n.Name, js, err)
	}
	again, err := spec.Network()
	if err != nil {
		t.Fatalf("network %q, as the API describes it (%s), is refused: %v", n.Name, js, err)
	}
	if !reflect.DeepEqual(nilEmpty(again), nilEmpty(n)) {
		t.Fatalf("network through the API's description %s:\ngot  %+v\nwant %+v", js, again, n)
	}
}

// apiOps are the requests that change something, the ones FuzzAPI sends:
// POSTs carry a JSON body, DELETEs a query.
var apiOps = []struct{ method, path string }{
	{http.MethodPost, "/v1/fdb"},
	{http.MethodDelete, "/v1/fdb"},
	{http.MethodPost, "/v1/routes"},
	{http.MethodDelete, "/v1/routes"},
	{http.MethodPost, "/v1/networks"},
	{http.MethodDelete, "/v1/networks"},
	{http.MethodPost, "/v1/peers"},
	{http.MethodDelete, "/v1/peers"},
	{http.MethodPost, "/v1/fdb/flush"},
}

// apiState is everything a request can change in the fake backend.
type apiState struct {
	Nets    []control.NetworkInfo
	Entries []control.FDBEntry
	Routes  []control.RouteInfo
}

func stateOf(t *testing.T, b control.Backend) apiState {
	t.Helper()
	entries, err := b.FDB(0, true)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := b.RouteShow("")
	if err != nil {
		t.Fatal(err)
	}
	return apiState{b.Networks(), entries, routes}
}

// FuzzAPI sends arbitrary bodies and queries to every endpoint that changes
// something, through the server's real handler and the fake backend. Bad
// input is a 4xx with one JSON error naming the problem and changes
// nothing; never a 5xx. Accepted input answers as the API promises and
// changes the backend's tables.
func FuzzAPI(f *testing.F) {
	op := func(method, path string) uint8 {
		for i, o := range apiOps {
			if o.method == method && o.path == path {
				return uint8(i)
			}
		}
		panic("no such op " + method + " " + path)
	}
	const post, del = http.MethodPost, http.MethodDelete
	seeds := []struct {
		op          uint8
		query, body string
	}{
		{op(post, "/v1/fdb"), "", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":42}`},
		{op(post, "/v1/fdb"), "", `{"mac":"00:00:00:00:00:00","dst":"fd00::1","vni":7}`},
		{op(post, "/v1/fdb"), "", `{"mac":"aa:bb:cc:dd:ee:ff","dst":"10.0.0.5","vni":42}`},
		{op(post, "/v1/fdb"), "", `{"mac":"02:00:00:00:00:01","dst":"10.0.0.5","vni":16777216}`},
		{op(del, "/v1/fdb"), "vni=42&mac=aa:bb:cc:dd:ee:ff", ""},
		{op(del, "/v1/fdb"), "vni=42&mac=00:00:00:00:00:00&dst=10.0.0.2", ""},
		{op(del, "/v1/fdb"), "vni=42&mac=00:00:00:00:00:00", ""},
		{op(del, "/v1/fdb"), "vin=42", ""},
		{op(post, "/v1/routes"), "", `{"network":"ipip0","prefix":"10.9.0.0/16","via":"10.0.0.2"}`},
		{op(post, "/v1/routes"), "", `{"prefix":"10.244.1.0/24","via":"10.0.0.2"}`},
		{op(del, "/v1/routes"), "network=ipip0&prefix=10.244.1.0/24", ""},
		{op(del, "/v1/routes"), "prefix=10.244.1.1/24", ""},
		{op(post, "/v1/networks"), "", `{"vni":43,"remotes":["10.0.0.2"],"address":"192.168.43.1/24","ageing":"90"}`},
		{op(post, "/v1/networks"), "", `{"kind":"ipip","name":"t","ttl":"inherit","routes":[{"prefix":"10.1.0.0/16","via":"10.0.0.2"}]}`},
		{op(post, "/v1/networks"), "", `{"vni":42}`},
		{op(del, "/v1/networks"), "name=vx7", ""},
		{op(del, "/v1/networks"), "name=", ""},
		{op(post, "/v1/peers"), "", `{"vni":42,"peer":"10.0.0.9"}`},
		{op(post, "/v1/peers"), "", `{"vni":42,"peer":"10.0.0.2"}`},
		{op(del, "/v1/peers"), "vni=42&peer=10.0.0.2", ""},
		{op(del, "/v1/peers"), "vni=42&peer=%zz", ""},
		{op(post, "/v1/fdb/flush"), "", `{"vni":42}`},
		{op(post, "/v1/fdb/flush"), "", `{}`},
		{op(post, "/v1/fdb/flush"), "", `{"vni":-1}`},
		{op(post, "/v1/fdb"), "", "\x00{"},
		{op(post, "/v1/networks"), "", `{"vni":1}{"vni":2}`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		o := apiOps[int(which)%len(apiOps)]
		b := newBackend()
		before := stateOf(t, b)
		req := httptest.NewRequest(o.method, o.path, bytes.NewReader(body))
		// Set rather than parsed from a URL: the handler must cope with
		// whatever query it is given.
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		control.NewServer(b, nil).ServeHTTP(rec, req)
		after := stateOf(t, b)
		changed := !reflect.DeepEqual(before, after)

		switch code := rec.Code; {
		case code == http.StatusNoContent:
			if o.path == "/v1/fdb/flush" {
				t.Fatalf("%s %s: got 204, want 200 with the flushed count", o.method, o.path)
			}
			if rec.Body.Len() != 0 {
				t.Fatalf("%s %s: got 204 with body %q, want none", o.method, o.path, rec.Body)
			}
			if !changed {
				t.Fatalf("%s %s?%s: got 204 and the backend unchanged, want the change made", o.method, o.path, query)
			}
		case code == http.StatusOK:
			var reply struct{ Flushed *int }
			if o.path != "/v1/fdb/flush" || json.Unmarshal(rec.Body.Bytes(), &reply) != nil || reply.Flushed == nil {
				t.Fatalf("%s %s: got 200 %q, want only a flush to answer {\"flushed\":N}", o.method, o.path, rec.Body)
			}
			if gone := len(before.Entries) - len(after.Entries); gone != *reply.Flushed {
				t.Fatalf("flush: got {\"flushed\":%d} and %d entries gone, want the same", *reply.Flushed, gone)
			}
		case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusConflict:
			checkErrorBody(t, rec)
			if changed {
				t.Fatalf("%s %s?%s %q: got %d and the backend changed:\nbefore %+v\nafter  %+v", o.method, o.path, query, body, code, before, after)
			}
		default:
			t.Fatalf("%s %s?%s %q: got status %d (%s), want 200, 204, 400, 404 or 409", o.method, o.path, query, body, code, rec.Body)
		}
	})
}

// checkErrorBody checks that a refusal is one JSON object, {"error": "..."},
// whose message names what is wrong: "field: problem", on one line.
func checkErrorBody(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("got Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var e struct{ Error string }
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("got error body %q: %v, want {\"error\": ...}", rec.Body, err)
	}
	if dec.More() {
		t.Fatalf("got error body %q, want one JSON object", rec.Body)
	}
	// The name is not checked: an unknown key is named as written, quoted
	// when it is empty or holds more than letters, digits, '_' and '-'.
	msg := e.Error
	if strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("got error %q, want one line", msg)
	}
	if !regexp.MustCompile(`: \S`).MatchString(msg) {
		t.Fatalf("got error %q, want it to name the field and the problem", msg)
	}
}

package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/vtepd/vtepd/fdb"
)

// maxBody bounds request bodies; the largest real one, a network with its
// routes, is a few kilobytes.
const maxBody = 64 << 10

// Server serves the control API for a Backend over a unix socket.
type Server struct {
	b   Backend
	log *zap.Logger
	srv *http.Server

	mu     sync.Mutex
	ln     net.Listener
	path   string
	made   []string // directories Listen made for path, deepest first
	closed bool
}

// NewServer returns a server for b; log may be nil.
func NewServer(b Backend, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{b: b, log: log}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log),
	}
	return s
}

// Listen creates the socket at path, making its directory (0755) if needed:
// the directories it made are removed again by Close, as the socket is. A
// socket file left by a vtepd that is gone is replaced; one that still
// answers is an error. The socket is made mode 0660.
func (s *Server) Listen(path string) (err error) {
	made, err := mkdirs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			rmdirs(made)
		}
	}()
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			_ = c.Close()
			return fmt.Errorf("control socket %s: another vtepd is listening", path)
		}
		// Only a refused connection proves nobody is there; anything else
		// (permissions, say) is left for the user to look at.
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("control socket %s: cannot tell whether it is in use: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
		s.log.Info("removed stale control socket", zap.String("path", path))
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		_ = ln.Close()
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = ln.Close()
		return fmt.Errorf("control socket %s: server is closed", path)
	}
	s.ln, s.path, s.made = ln, path, made
	return nil
}

// mkdirs makes dir and the directories above it that are missing, and
// returns the ones it made, deepest first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return missing, nil
}

// rmdirs removes the directories mkdirs made, those that are empty.
func rmdirs(made []string) {
	for _, d := range made {
		if os.Remove(d) != nil {
			return // not empty: someone else's now, and so are those above
		}
	}
}

// Serve answers requests until Close; it returns nil after Close.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("control: Serve called before Listen")
	}
	s.log.Info("control API listening", zap.String("socket", s.path))
	if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops serving, drops open connections and removes the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.srv.Close()
	if s.ln != nil {
		_ = s.ln.Close() // already closed if Serve ran
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
		rmdirs(s.made)
	}
	return err
}

// badInput is a request the server refuses before asking the backend. Its
// text names the field, like `mac: want aa:bb:cc:dd:ee:ff, got "zz"`.
func badInput(format string, args ...any) error { return Errorf(ErrInvalid, format, args...) }

type endpoint map[string]func(r *http.Request) (any, error)

// ServeHTTP makes the server an http.Handler, for tests and for mounting
// elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ep endpoint
	switch r.URL.Path {
	case "/v1/networks":
		ep = endpoint{http.MethodGet: s.getNetworks, http.MethodPost: s.postNetwork, http.MethodDelete: s.deleteNetwork}
	case "/v1/fdb":
		ep = endpoint{http.MethodGet: s.getFDB, http.MethodPost: s.postFDB, http.MethodDelete: s.deleteFDB}
	case "/v1/fdb/flush":
		ep = endpoint{http.MethodPost: s.postFlush}
	case "/v1/peers":
		ep = endpoint{http.MethodPost: s.postPeer, http.MethodDelete: s.deletePeer}
	case "/v1/stats":
		ep = endpoint{http.MethodGet: s.getStats}
	case "/v1/routes":
		ep = endpoint{http.MethodGet: s.getRoutes, http.MethodPost: s.postRoute, http.MethodDelete: s.deleteRoute}
	case "/v1/bgp":
		ep = endpoint{http.MethodGet: s.getBGP}
	case "/v1/bgp/neighbors":
		ep = endpoint{http.MethodPost: s.postNeighbor, http.MethodDelete: s.deleteNeighbor}
	case "/v1/evpn/routes":
		ep = endpoint{http.MethodGet: s.getEVPNRoutes}
	case "/v1/simulate":
		ep = endpoint{http.MethodPost: s.postSimulate}
	case "/v1/trace":
		s.serveTrace(w, r) // a stream, not one answer
		return
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + r.URL.Path})
		return
	}
	h, ok := ep[r.Method]
	if !ok {
		allowed := make([]string, 0, len(ep))
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if ep[m] != nil {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{
			Error: fmt.Sprintf("method %s not allowed on %s (want %s)", r.Method, r.URL.Path, strings.Join(allowed, " or ")),
		})
		return
	}
	out, err := h(r)
	if err != nil {
		status := statusOf(err)
		if status == http.StatusInternalServerError {
			s.log.Error("control request failed", zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.Error(err))
		}
		writeJSON(w, status, errorBody{Error: err.Error()})
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func statusOf(err error) int {
	var fe *FieldError
	switch {
	case errors.Is(err, ErrInvalid), errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// query checks that only the allowed parameters are present, so a typo like
// ?vin=42 is refused rather than silently listing everything.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	// In order, so that of two unknown parameters the same one is named
	// every time.
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			return nil, badInput("%s: unknown query parameter (want %s)", fieldName(k), strings.Join(allowed, ", "))
		}
	}
	return q, nil
}

// decodeBody reads one JSON object into v, refusing unknown fields. Errors
// name the field by its path, like "routes[1].via".
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badInput("body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return badInput("body: want a JSON object, got nothing")
	case errors.As(err, &te) && te.Field == "":
		return badInput("body: want a JSON object, got %s", te.Value)
	case errors.As(err, &te):
		p, ok := jsonPath(data, reflect.TypeOf(v), false, te.Offset)
		if !ok || indexes.ReplaceAllString(p, "") != te.Field {
			p = te.Field
		}
		return badInput("%s: want %s, got %s", p, jsonWant(te.Field, te.Type.String()), te.Value)
	case !errors.As(err, &se):
		// What is left is a key v has no field for (encoding/json gives
		// it no type of its own): find it in the body.
		if p, ok := jsonPath(data, reflect.TypeOf(v), true, 0); ok {
			return badInput("%s: unknown field", p)
		}
		fallthrough
	default:
		return badInput("body: want a JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badInput("body: want one JSON object, got more")
	}
	return nil
}

// indexes are the list indexes of a field path, which encoding/json leaves
// out of the paths it reports.
var indexes = regexp.MustCompile(`\[\d+\]`)

// jsonPath walks the first JSON value in data as encoding/json decodes it
// into a value of type t, and returns a field path like "routes[1].via":
// with unknown, that of the first key t has no field for; else that of the
// innermost value whose bytes end at or hold offset, where encoding/json
// places a value of the wrong type. Known fields are named as t names
// them; unknown keys as fieldName shows them. It is for error messages
// only and reports false when it finds nothing.
func jsonPath(data []byte, t reflect.Type, unknown bool, offset int64) (string, bool) {
	w := jsonWalker{dec: json.NewDecoder(bytes.NewReader(data)), unknown: unknown, offset: offset}
	if err := w.value("", t); !errors.Is(err, errFound) {
		return "", false
	}
	return w.found, true
}

type jsonWalker struct {
	dec     *json.Decoder
	unknown bool
	offset  int64
	found   string
}

// errFound stops the walk.
var errFound = errors.New("found")

// value walks one value at path; t is nil inside what the decoder skips.
func (w *jsonWalker) value(path string, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		if t != nil && t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
			t = nil
		}
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			name, ft := fieldName(key), reflect.Type(nil)
			switch {
			case t == nil:
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			default:
				f, fname, ok := jsonField(t, key)
				if !ok && w.unknown {
					w.found = joinPath(path, name)
					return errFound
				}
				if ok {
					name, ft = fname, f.Type
				}
			}
			if err := w.value(joinPath(path, name), ft); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return err
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(fmt.Sprintf("%s[%d]", path, i), et); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return err
		}
	}
	// After the values inside, so the innermost one holding offset wins.
	if !w.unknown && start < w.offset && w.offset <= w.dec.InputOffset() {
		w.found = path
		return errFound
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonField finds the field of struct t that encoding/json decodes key
// into: its name exactly, else regardless of case. name is the field's own.
func jsonField(t reflect.Type, key string) (f reflect.StructField, name string, ok bool) {
	var folded reflect.StructField
	var foldedName string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, name, true
		}
		if foldedName == "" && strings.EqualFold(name, key) {
			folded, foldedName = f, name
		}
	}
	return folded, foldedName, foldedName != ""
}

func jsonWant(field, goType string) string {
	switch {
	case field == "ttl":
		return `a string, "1".."255" or "inherit"`
	case goType == "string":
		return "a string"
	case goType == "uint32":
		return fmt.Sprintf("an integer 0..%d", MaxVNI)
	case goType == "int":
		return "an integer"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a JSON object"
}

func parseVNI(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > MaxVNI {
		return 0, badInput("vni: want an integer 0..%d, got %q", MaxVNI, s)
	}
	return uint32(v), nil
}

func parseMAC(s string) (fdb.MAC, error) {
	if s == "" {
		return fdb.MAC{}, badInput("mac: required (%s, or 00:00:00:00:00:00 for the flood list)", wantMAC)
	}
	m, err := fdb.ParseMAC(s)
	if err != nil {
		return fdb.MAC{}, badInput("mac: want %s, got %q", wantMAC, s)
	}
	return m, nil
}

func parseDst(s, field string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, badInput("%s: want an IP address, got %q", field, s)
	}
	return a, nil
}

func parseRoutePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, badInput("prefix: required (the destination, like 10.244.1.0/24)")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p != p.Masked() {
		return netip.Prefix{}, badInput("prefix: want a network prefix like 10.244.1.0/24, got %q", s)
	}
	return p, nil
}

func (s *Server) getNetworks(*http.Request) (any, error) {
	return nonNil(s.b.Networks()), nil
}

func (s *Server) getStats(*http.Request) (any, error) {
	return nonNil(s.b.Stats()), nil
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *Server) getFDB(r *http.Request) (any, error) {
	vni, all, err := vniQuery(r)
	if err != nil {
		return nil, err
	}
	entries, err := s.b.FDB(vni, all)
	if err != nil {
		return nil, err
	}
	return nonNil(entries), nil
}

// vniQuery reads a GET's only parameter, an optional vni: without it, the
// request is about every network (all).
func vniQuery(r *http.Request) (vni uint32, all bool, err error) {
	q, err := query(r, "vni")
	if err != nil {
		return 0, false, err
	}
	if !q.Has("vni") {
		return 0, true, nil
	}
	vni, err = parseVNI(q.Get("vni"))
	return vni, false, err
}

func (s *Server) postFDB(r *http.Request) (any, error) {
	var req fdbRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	vni, err := requiredVNI(req.VNI)
	if err != nil {
		return nil, err
	}
	mac, err := parseMAC(req.MAC)
	if err != nil {
		return nil, err
	}
	if req.Dst == "" {
		return nil, badInput("dst: required (the remote endpoint's address)")
	}
	dst, err := parseDst(req.Dst, "dst")
	if err != nil {
		return nil, err
	}
	add := s.b.FDBAdd
	if req.Replace {
		add = s.b.FDBReplace
	}
	if err := add(vni, mac, dst); err != nil {
		return nil, err
	}
	s.log.Info("fdb entry added", zap.Uint32("vni", vni), zap.Stringer("mac", mac), zap.Stringer("dst", dst))
	return nil, nil
}

func (s *Server) deleteFDB(r *http.Request) (any, error) {
	q, err := query(r, "mac", "vni", "dst")
	if err != nil {
		return nil, err
	}
	vni, err := requiredQueryVNI(q)
	if err != nil {
		return nil, err
	}
	mac, err := parseMAC(q.Get("mac"))
	if err != nil {
		return nil, err
	}
	var dst netip.Addr
	if d := q.Get("dst"); d != "" {
		if dst, err = parseDst(d, "dst"); err != nil {
			return nil, err
		}
	} else if mac.IsZero() {
		return nil, badInput("dst: required to delete a flood-list entry (mac 00:00:00:00:00:00)")
	}
	if err := s.b.FDBDel(vni, mac, dst); err != nil {
		return nil, err
	}
	s.log.Info("fdb entry deleted", zap.Uint32("vni", vni), zap.Stringer("mac", mac), zap.Stringer("dst", dst))
	return nil, nil
}

func (s *Server) getRoutes(r *http.Request) (any, error) {
	q, err := query(r, "network")
	if err != nil {
		return nil, err
	}
	routes, err := s.b.RouteShow(q.Get("network"))
	if err != nil {
		return nil, err
	}
	return nonNil(routes), nil
}

func (s *Server) postRoute(r *http.Request) (any, error) {
	var req routeRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	prefix, err := parseRoutePrefix(req.Prefix)
	if err != nil {
		return nil, err
	}
	if req.Via == "" {
		return nil, badInput("via: required (the remote endpoint for %s)", prefix)
	}
	via, err := parseDst(req.Via, "via")
	if err != nil {
		return nil, err
	}
	if err := s.b.RouteAdd(req.Network, prefix, via); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) deleteRoute(r *http.Request) (any, error) {
	q, err := query(r, "network", "prefix")
	if err != nil {
		return nil, err
	}
	prefix, err := parseRoutePrefix(q.Get("prefix"))
	if err != nil {
		return nil, err
	}
	if err := s.b.RouteDel(q.Get("network"), prefix); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *Server) postNetwork(r *http.Request) (any, error) {
	var spec NetworkSpec
	if err := decodeBody(r, &spec); err != nil {
		return nil, err
	}
	n, err := spec.Network()
	if err != nil {
		return nil, Errorf(ErrInvalid, "%v", err)
	}
	if err := s.b.NetworkAdd(n); err != nil {
		return nil, err
	}
	s.log.Info("network added", zap.String("network", n.Name), zap.String("kind", n.Kind), zap.Uint32("vni", n.VNI))
	return nil, nil
}

func (s *Server) deleteNetwork(r *http.Request) (any, error) {
	q, err := query(r, "name")
	if err != nil {
		return nil, err
	}
	name := q.Get("name")
	if name == "" {
		return nil, badInput("name: required (the network to stop)")
	}
	if err := s.b.NetworkDel(name); err != nil {
		return nil, err
	}
	s.log.Info("network deleted", zap.String("network", name))
	return nil, nil
}

// requiredVNI checks a vni given in a body.
func requiredVNI(vni *uint32) (uint32, error) {
	if vni == nil {
		return 0, badInput("vni: required (0..%d)", MaxVNI)
	}
	if *vni > MaxVNI {
		return 0, badInput("vni: want an integer 0..%d, got %d", MaxVNI, *vni)
	}
	return *vni, nil
}

// requiredQueryVNI checks the vni of a query, as requiredVNI one in a body.
func requiredQueryVNI(q url.Values) (uint32, error) {
	if !q.Has("vni") {
		return 0, badInput("vni: required (0..%d)", MaxVNI)
	}
	return parseVNI(q.Get("vni"))
}

func parsePeer(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, badInput("peer: required (the remote endpoint's address)")
	}
	return parseDst(s, "peer")
}

func (s *Server) postPeer(r *http.Request) (any, error) {
	var req peerRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	vni, err := requiredVNI(req.VNI)
	if err != nil {
		return nil, err
	}
	peer, err := parsePeer(req.Peer)
	if err != nil {
		return nil, err
	}
	if err := s.b.PeerAdd(vni, peer); err != nil {
		return nil, err
	}
	s.log.Info("flood-list peer added", zap.Uint32("vni", vni), zap.Stringer("peer", peer))
	return nil, nil
}

func (s *Server) deletePeer(r *http.Request) (any, error) {
	q, err := query(r, "vni", "peer")
	if err != nil {
		return nil, err
	}
	vni, err := requiredQueryVNI(q)
	if err != nil {
		return nil, err
	}
	peer, err := parsePeer(q.Get("peer"))
	if err != nil {
		return nil, err
	}
	if err := s.b.PeerDel(vni, peer); err != nil {
		return nil, err
	}
	s.log.Info("flood-list peer deleted", zap.Uint32("vni", vni), zap.Stringer("peer", peer))
	return nil, nil
}

func (s *Server) postFlush(r *http.Request) (any, error) {
	var req flushRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	all := req.VNI == nil
	var vni uint32
	if !all {
		var err error
		if vni, err = requiredVNI(req.VNI); err != nil {
			return nil, err
		}
	}
	n, err := s.b.FDBFlush(vni, all)
	if err != nil {
		return nil, err
	}
	if all {
		s.log.Info("fdb flushed", zap.Int("entries", n))
	} else {
		s.log.Info("fdb flushed", zap.Uint32("vni", vni), zap.Int("entries", n))
	}
	return flushReply{Flushed: n}, nil
}

func (s *Server) getBGP(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	info, err := s.b.BGP()
	if err != nil {
		return nil, err
	}
	info.Neighbors = nonNil(info.Neighbors)
	return info, nil
}

func (s *Server) postNeighbor(r *http.Request) (any, error) {
	var req neighborRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Address == "" {
		return nil, badInput("address: required (the neighbor's IP address)")
	}
	a, err := netip.ParseAddr(req.Address)
	if err != nil || !(a.IsGlobalUnicast() || a.IsLoopback()) {
		return nil, badInput("address: want a unicast IP address, got %q", req.Address)
	}
	if req.MaxPrefixes < 0 {
		return nil, badInput("max_prefixes: want 0 (no limit) or more, got %d", req.MaxPrefixes)
	}
	n := Neighbor{Address: a.Unmap(), Port: DefaultBGPPort, Password: req.Password, Passive: req.Passive, MaxPrefixes: req.MaxPrefixes}
	if req.ASN != nil {
		if *req.ASN == 0 {
			return nil, badInput("asn: want 1..4294967295, got 0")
		}
		n.ASN = *req.ASN
	}
	if req.Port != nil {
		if *req.Port == 0 {
			return nil, badInput("port: want 1..65535, got 0")
		}
		n.Port = *req.Port
	}
	if err := s.b.BGPNeighborAdd(n); err != nil {
		return nil, err
	}
	s.log.Info("bgp neighbor added", zap.Stringer("address", n.Address))
	return nil, nil
}

func (s *Server) deleteNeighbor(r *http.Request) (any, error) {
	q, err := query(r, "address")
	if err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(q.Get("address"))
	if err != nil {
		return nil, badInput("address: want an IP address, got %q", q.Get("address"))
	}
	if err := s.b.BGPNeighborDel(a.Unmap()); err != nil {
		return nil, err
	}
	s.log.Info("bgp neighbor removed", zap.Stringer("address", a))
	return nil, nil
}

func (s *Server) getEVPNRoutes(r *http.Request) (any, error) {
	vni, all, err := vniQuery(r)
	if err != nil {
		return nil, err
	}
	routes, err := s.b.EVPNRoutes(vni, all)
	if err != nil {
		return nil, err
	}
	return nonNil(routes), nil
}

func (s *Server) postSimulate(r *http.Request) (any, error) {
	var req SimulateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Expr == "" {
		return nil, badInput("expr: required (like dst 02:00:00:00:00:09 vni 42)")
	}
	return s.b.Simulate(req)
}

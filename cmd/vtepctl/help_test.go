package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestCommandHelp: every command's help, asked for as COMMAND --help,
// COMMAND -h, COMMAND SUBCOMMAND --help or help COMMAND, is that command's
// part of the usage, on stdout with exit 0, without reaching a daemon.
func TestCommandHelp(t *testing.T) {
	for _, cmd := range []string{"fdb", "peer", "route", "network", "stats", "trace", "capture", "explain"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {cmd, "show", "--help"}, {"help", cmd}} {
			var out, errb bytes.Buffer
			code := run(append([]string{"--control", "/nonexistent/vtepd.sock"}, args...), &out, &errb)
			if code != exitOK || errb.Len() != 0 {
				t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, errb.String())
				continue
			}
			if !strings.Contains(out.String(), "\n  "+cmd+" ") || strings.Contains(out.String(), "Examples:") {
				t.Errorf("%q: got\n%s\nwant the lines of %s and not the whole usage", args, out.String(), cmd)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"help", "network"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "--flood-rate N") {
		t.Errorf("help network: exit %d, got\n%s\nwant the flags of network add", code, out.String())
	}
	out.Reset()
	if code := run([]string{"fdb", "--help"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "fdb append") {
		t.Errorf("fdb --help: got\n%s\nwant fdb append documented", out.String())
	}
	out.Reset()
	if code := run([]string{"nosuch", "--help"}, &out, &errb); code != exitUsage {
		t.Errorf("nosuch --help: exit %d, want %d", code, exitUsage)
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != exitOK {
		t.Fatalf("--version: exit %d, stderr %q", code, errb.String())
	}
	if got := out.String(); !strings.HasPrefix(got, "vtepctl ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("--version: got %q, want vtepctl, its version and %s", got, runtime.Version())
	}
}

// TestExplainJSON: explain --json gives every field with its bytes, and
// the bytes of the fields, in order, make up the packet.
func TestExplainJSON(t *testing.T) {
	for _, kind := range []string{"vxlan", "ipip"} {
		var out, errb bytes.Buffer
		if code := run([]string{"explain", kind, "--json"}, &out, &errb); code != exitOK {
			t.Fatalf("explain %s --json: exit %d, %s", kind, code, errb.String())
		}
		var e explained
		if err := json.Unmarshal(out.Bytes(), &e); err != nil {
			t.Fatalf("explain %s --json: %v\n%s", kind, err, out.String())
		}
		if e.Kind != kind || len(e.Fields) == 0 || e.MaxInner != e.UnderlayMTU-e.Overhead {
			t.Errorf("explain %s --json: got %+v", kind, e)
		}
		next := -14 // the outer Ethernet header, before byte 0
		for _, f := range e.Fields {
			if f.Offset < next || len(f.Hex) != 2*f.Length {
				t.Errorf("explain %s --json: field %s %s at %d+%d, hex %q, after byte %d", kind, f.Layer, f.Name, f.Offset, f.Length, f.Hex, next)
			}
			next = f.Offset + f.Length
		}
		if next != e.Bytes {
			t.Errorf("explain %s --json: fields end at %d, want the packet's %d bytes", kind, next, e.Bytes)
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

// TestBadFlagsExitTwo runs vtepd's entry point in-process: a bad flag gives
// one line naming it, exit code 2, and nothing is started.
func TestBadFlagsExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"VNI not a number", []string{"--vni", "abc", "--local", "10.0.0.1"}, `--vni: want an integer 0..16777215, got "abc"`},
		{"VNI over 24 bits", []string{"--vni", "16777216", "--local", "10.0.0.1"}, "--vni"},
		{"no local", []string{"--vni", "42"}, "--local: required"},
		{"remote of another family", []string{"--vni", "42", "--local", "10.0.0.1", "--remote", "fd00::2"}, "--remote"},
		{"unknown flag", []string{"--vni", "42", "--local", "10.0.0.1", "--bogus"}, "bogus"},
		{"dev given empty", []string{"--vni", "42", "--local", "10.0.0.1", "--dev", ""}, `--dev: want an interface name, got ""`},
		{"dev not UTF-8", []string{"--vni", "42", "--local", "10.0.0.1", "--group", "239.1.1.1", "--dev", "eth\xff"},
			`--dev: want an interface name in UTF-8, got "eth\xff"`},
		{"dev too long", []string{"--vni", "42", "--local", "10.0.0.1", "--group", "239.1.1.1", "--dev", "underlay-device0"},
			`--dev: want at most 15 bytes, got "underlay-device0" (16)`},
		{"dev dot dot", []string{"--vni", "42", "--local", "10.0.0.1", "--group", "239.1.1.1", "--dev", ".."}, `--dev: want an interface name, got ".."`},
		{"dev with a colon", []string{"--vni", "42", "--local", "10.0.0.1", "--group", "239.1.1.1", "--dev", "eth0:1"},
			`--dev: want an interface name without '/', ':' or spaces, got "eth0:1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, errb.String())
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "vtepd: ") {
				t.Errorf("stderr %q, want one line starting with \"vtepd: \"", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want it to name %q", msg, tc.want)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(out.String(), "--vni") {
		t.Errorf("usage does not mention --vni:\n%s", out.String())
	}
}

// TestStartFailureLeavesNothing starts vtepd where it cannot run: a local
// address this host does not have, a device name already taken, a port
// already bound. Each must fail with a message naming the problem and leave
// no device or socket behind.
func TestStartFailureLeavesNothing(t *testing.T) {
	bin := buildBinaries(t)
	ns := netnstest.NewNS(t, "fail")
	other := netnstest.NewNS(t, "failpeer")
	netnstest.Veth(t, ns, "eth0", "10.0.0.1/24", other, "eth0", "10.0.0.2/24")

	sock := filepath.Join(t.TempDir(), "vtepd.sock")
	base := []string{"--vni", "42", "--remote", "10.0.0.2", "--control", sock}
	tests := []struct {
		name  string
		setup func(t *testing.T)
		args  []string
		code  int
		want  string
	}{
		{"local address not on this host", nil, append([]string{"--local", "10.0.0.9"}, base...), exitUsage, "--local: 10.0.0.9 is not an address of this host"},
		{"device name taken", func(t *testing.T) {
			ns.Run(t, "ip", "link", "add", "vx42", "type", "bridge")
			t.Cleanup(func() { ns.Try("ip", "link", "del", "vx42") })
		}, append([]string{"--local", "10.0.0.1"}, base...), exitUsage, `device "vx42" already exists`},
		{"port in use", func(t *testing.T) {
			ns.Run(t, "ip", "link", "add", "vxk", "type", "vxlan", "id", "7", "dstport", "4789", "local", "10.0.0.1", "dev", "eth0")
			ns.Run(t, "ip", "link", "set", "vxk", "up") // binds 0.0.0.0:4789
			t.Cleanup(func() { ns.Try("ip", "link", "del", "vxk") })
		}, append([]string{"--local", "10.0.0.1"}, base...), exitError, "already in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			before := ns.Run(t, "ip", "-br", "link")
			cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, bin.vtepd}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr:\n%s\nwant it to say %q", stderr.String(), tc.want)
			}
			if after := ns.Run(t, "ip", "-br", "link"); after != before {
				t.Errorf("devices changed by a failed start:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("control socket %s left behind (stat: %v)", sock, err)
			}
		})
	}
}

// TestAgeingForgetsIdleMACs runs the daemon's ageing: a MAC learnt from the
// peer is listed while traffic flows and gone once it has been idle for
// longer than --ageing, while the static flood entry stays.
func TestAgeingForgetsIdleMACs(t *testing.T) {
	bin := buildBinaries(t)
	a, b := twoHosts(t)
	a.extra = []string{"--ageing", "2s"}
	a.start(t, bin, b.under)
	b.start(t, bin, a.under)
	pingAll(t, a.ns, b.over, 2)
	macB := showLink(t, b.ns, tapName).Address
	if fdbLine(a.ctl(t, bin, "fdb", "show"), macB) == "" {
		t.Fatalf("fdb show on %s after a ping: no entry for %s", a.under, macB)
	}
	netnstest.WaitFor(t, 10*time.Second, "the idle MAC to age out", func() bool {
		return fdbLine(a.ctl(t, bin, "fdb", "show"), macB) == ""
	})
	show := a.ctl(t, bin, "fdb", "show")
	if !strings.Contains(show, "00:00:00:00:00:00 dev vx42 dst "+b.under+" self permanent") {
		t.Errorf("fdb show after ageing: got\n%s\nwant the flood entry kept", show)
	}
	if aged := a.stats(t, bin).Aged; aged < 1 {
		t.Errorf("aged counter %d, want >= 1", aged)
	}
}

// TestNoArgsAndVersion: vtepd alone prints a short usage naming what it
// needs, exit 2; --version prints its version, exit 0.
func TestNoArgsAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "--local IP --vni N") ||
		!strings.Contains(errb.String(), "--config FILE") || !strings.Contains(errb.String(), "--help") {
		t.Errorf("no arguments: exit %d, stderr %q; want %d and a usage naming --local, --vni, --config and --help", code, errb.String(), exitUsage)
	}
	out.Reset()
	if code := run([]string{"--version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "vtepd ") ||
		!strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("--version: exit %d, got %q; want 0 and vtepd's version with %s", code, out.String(), runtime.Version())
	}
}

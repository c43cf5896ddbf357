package node

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest/observer"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/dataplane"
)

// reloadDaemon is a node as Start leaves it, running cfg with one VXLAN
// network, vx42, on a fake host: no root, no device, no socket.
func reloadDaemon(t *testing.T, cfg control.Config) (*Node, *observer.ObservedLogs) {
	t.Helper()
	cfg.Networks = []control.Network{vxlanNet("vx42", 42)}
	n, _, logs := startNode(t, &cfg)
	return n, logs
}

// reloadConfig is cfg as the file would give it again, with other values
// of on_device_loss and log_level.
func reloadConfig(cfg control.Config, onDeviceLoss, logLevel string) *control.Config {
	next := cfg
	next.Networks = []control.Network{vxlanNet("vx42", 42)}
	next.OnDeviceLoss, next.LogLevel, next.Flags = onDeviceLoss, logLevel, nil
	return &next
}

// TestReloadOnDeviceLoss: a SIGHUP reload applies a changed on_device_loss
// at once, so the next device deleted under vtepd is handled as the file
// now says, and logs the change; a value --on-device-loss gave over the
// file holds; a reload refused for its underlay changes it not.
func TestReloadOnDeviceLoss(t *testing.T) {
	base := control.Config{
		Underlay: control.Underlay{Local: netip.MustParseAddr("10.0.0.1"), Port: control.DefaultPort,
			SrcPortMin: control.DefaultSrcPortMin, SrcPortMax: control.DefaultSrcPortMax,
			TTL: control.DefaultTTL, McastTTL: control.DefaultMcastTTL, Accept: control.AcceptAny, Queues: 1},
		Control: control.DefaultControl, LogLevel: control.DefaultLogLevel, Path: "/etc/vtepd/vtepd.yaml",
	}
	withFlags := func(c control.Config, onDeviceLoss string, flags ...string) control.Config {
		c.OnDeviceLoss, c.Flags = onDeviceLoss, flags
		return c
	}
	tests := []struct {
		name      string
		running   control.Config
		file      *control.Config // the file read again
		wantErr   error
		want      string // on_device_loss after the reload
		wantLog   bool   // "reload: on_device_loss changed" logged
		wantExits bool   // a device lost after the reload ends vtepd
	}{
		{"the default to exit", base, reloadConfig(base, control.DeviceLossExit, "info"), nil,
			control.DeviceLossExit, true, true},
		{"exit to recreate", withFlags(base, control.DeviceLossExit), reloadConfig(base, control.DeviceLossRecreate, "info"), nil,
			control.DeviceLossRecreate, true, false},
		{"exit to the default", withFlags(base, control.DeviceLossExit), reloadConfig(base, "", "info"), nil,
			"", true, false},
		{"unchanged", withFlags(base, control.DeviceLossExit), reloadConfig(base, control.DeviceLossExit, "info"), nil,
			control.DeviceLossExit, false, true},
		{"the default written out", base, reloadConfig(base, control.DeviceLossRecreate, "info"), nil,
			control.DeviceLossRecreate, false, false},
		{"--on-device-loss holds over the file", withFlags(base, control.DeviceLossExit, "on-device-loss"),
			reloadConfig(base, control.DeviceLossRecreate, "info"), nil, control.DeviceLossExit, false, true},
		{"refused for another underlay port", base, func() *control.Config {
			c := reloadConfig(base, control.DeviceLossExit, "info")
			c.Underlay.Port = 4790
			return c
		}(), ErrReloadRefused, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, logs := reloadDaemon(t, tc.running)
			if err := d.Reload(tc.file); !errors.Is(err, tc.wantErr) {
				t.Fatalf("reload: got error %v, want %v", err, tc.wantErr)
			}
			if got := d.cfg.OnDeviceLoss; got != tc.want {
				t.Errorf("on_device_loss after the reload: got %q, want %q", got, tc.want)
			}
			if got := logged(logs, "reload: on_device_loss changed"); got != tc.wantLog {
				t.Errorf("\"reload: on_device_loss changed\" logged: got %v, want %v (log %v)", got, tc.wantLog, logs.All())
			}
			if got := logged(logs, "reload: restarting network"); got {
				t.Errorf("a network restarted by a reload of on_device_loss alone, want none (log %v)", logs.All())
			}
			// Only exit is tried: recreate would make a real device, which
			// needs root and a namespace of the test's own.
			if !tc.wantExits || d.cfg.OnDeviceLoss != control.DeviceLossExit {
				return
			}
			err := d.deviceLost(lostDevice{link: d.vxlanNets[0].Link(), err: dataplane.ErrDeviceLost})
			if err == nil || !strings.Contains(err.Error(), `network "vx42"`) || !strings.Contains(err.Error(), "exiting (on_device_loss: exit)") {
				t.Errorf("device of vx42 lost after the reload: got %v, want an error naming vx42 and on_device_loss: exit", err)
			}
		})
	}
}

// TestReloadKeepsDaemonFlags: a flag given with --config over the file
// (--log-level) still holds after a reload of an unchanged file, and so
// the reload has nothing to warn about.
func TestReloadKeepsDaemonFlags(t *testing.T) {
	running := control.Config{
		Underlay: control.Underlay{Local: netip.MustParseAddr("10.0.0.1"), Port: control.DefaultPort,
			SrcPortMin: control.DefaultSrcPortMin, SrcPortMax: control.DefaultSrcPortMax,
			TTL: control.DefaultTTL, McastTTL: control.DefaultMcastTTL, Accept: control.AcceptAny, Queues: 1},
		Control: control.DefaultControl, LogLevel: "debug", Flags: []string{"log-level"},
	}
	d, logs := reloadDaemon(t, running)
	if err := d.Reload(reloadConfig(running, "", control.DefaultLogLevel)); err != nil {
		t.Fatalf("reload: got error %v, want none", err)
	}
	if got := d.cfg.LogLevel; got != "debug" {
		t.Errorf("log_level after the reload: got %q, want debug, as --log-level said", got)
	}
	if logged(logs, "reload: control, metrics and log_level apply at the next start") {
		t.Errorf("got a warning that log_level changed, want none: the file did not change (log %v)", logs.All())
	}
}

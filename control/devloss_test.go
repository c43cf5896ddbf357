package control

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOnDeviceLoss reads the daemon setting on_device_loss from a config
// file and --on-device-loss from the command line, which also overrides
// the file; a word it does not know is refused, naming the field or flag.
func TestOnDeviceLoss(t *testing.T) {
	const config = "underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42}]\n"
	file := func(t *testing.T, extra string) string {
		path := filepath.Join(t.TempDir(), "vtepd.yaml")
		if err := os.WriteFile(path, []byte(config+extra), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		extra   string   // appended to the config file; "" runs from flags alone
		args    []string // more flags
		want    string
		wantErr string
	}{
		{name: "flags, not given: the default", want: ""},
		{name: "flags, exit", args: []string{"--on-device-loss", "exit"}, want: DeviceLossExit},
		{name: "flags, recreate", args: []string{"--on-device-loss=recreate"}, want: DeviceLossRecreate},
		{name: "flags, unknown word", args: []string{"--on-device-loss", "restart"},
			wantErr: `--on-device-loss: want recreate or exit, got "restart"`},
		{name: "file, not given: the default", extra: "log_level: info\n", want: ""},
		{name: "file, exit", extra: "on_device_loss: exit\n", want: DeviceLossExit},
		{name: "file, unknown word", extra: "on_device_loss: 3\n",
			wantErr: `on_device_loss: want recreate or exit, got "3"`},
		{name: "file says exit, the flag recreate", extra: "on_device_loss: exit\n",
			args: []string{"--on-device-loss", "recreate"}, want: DeviceLossRecreate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--local", "10.0.0.1", "--vni", "42"}
			if tc.extra != "" {
				args = []string{"--config", file(t, tc.extra)}
			}
			c, err := ParseFlags(append(args, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("ParseFlags: got error %v, want one ending %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFlags: got error %v, want none", err)
			}
			if c.OnDeviceLoss != tc.want {
				t.Errorf("OnDeviceLoss: got %q, want %q", c.OnDeviceLoss, tc.want)
			}
		})
	}
}

// TestOnDeviceLossIsTheDaemons: a network described to a running vtepd
// cannot carry the daemon's setting.
func TestOnDeviceLossIsTheDaemons(t *testing.T) {
	_, err := ParseNetworkFlags([]string{"--vni", "43", "--on-device-loss", "exit"})
	want := "--on-device-loss: belongs to the daemon, not to one network"
	if err == nil || err.Error() != want {
		t.Errorf("ParseNetworkFlags: got error %v, want %q", err, want)
	}
}

// TestOnDeviceLossFlagHoldsOnReload: --on-device-loss given with --config
// overrides the file when vtepd starts and when it reads the file again
// (KeepFlags); what no flag set comes from the file as it now is.
func TestOnDeviceLossFlagHoldsOnReload(t *testing.T) {
	const config = "underlay: {local: 10.0.0.1}\nnetworks: [{vni: 42}]\n"
	tests := []struct {
		name        string
		args        []string // with --config FILE
		before      string   // the file at start
		after       string   // the file reloaded
		want        string   // on_device_loss after the reload
		wantLogLvl  string
		wantFlagSet []string
	}{
		{"no flag: the file as it now is", nil, "on_device_loss: recreate\n", "on_device_loss: exit\nlog_level: debug\n",
			DeviceLossExit, "debug", nil},
		{"the flag holds", []string{"--on-device-loss", "exit"}, "on_device_loss: recreate\n", "on_device_loss: recreate\nlog_level: debug\n",
			DeviceLossExit, "debug", []string{"on-device-loss"}},
		{"the flag holds over a file without it", []string{"--on-device-loss=recreate"}, "on_device_loss: exit\n", "on_device_loss: exit\n",
			DeviceLossRecreate, "info", []string{"on-device-loss"}},
		{"log level and the flag hold", []string{"--log-level", "warn", "--on-device-loss", "exit"}, "", "log_level: debug\n",
			DeviceLossExit, "warn", []string{"log-level", "on-device-loss"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vtepd.yaml")
			if err := os.WriteFile(path, []byte(config+tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			running, err := ParseFlags(append([]string{"--config", path}, tc.args...))
			if err != nil {
				t.Fatalf("ParseFlags: got error %v, want none", err)
			}
			if err := os.WriteFile(path, []byte(config+tc.after), 0o644); err != nil {
				t.Fatal(err)
			}
			next, err := Load(path)
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			running.KeepFlags(next)
			if next.OnDeviceLoss != tc.want {
				t.Errorf("on_device_loss after the reload: got %q, want %q", next.OnDeviceLoss, tc.want)
			}
			if next.LogLevel != tc.wantLogLvl {
				t.Errorf("log_level after the reload: got %q, want %q", next.LogLevel, tc.wantLogLvl)
			}
			if !slices.Equal(next.Flags, tc.wantFlagSet) {
				t.Errorf("flags after the reload: got %q, want %q", next.Flags, tc.wantFlagSet)
			}
		})
	}
}

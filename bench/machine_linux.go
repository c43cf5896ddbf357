package bench

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machineInfo describes the machine and the software measured. The Go
// version and commit are vtepd's own, from the build information in its
// binary, so they say what was measured even when the tree has moved on;
// git answers when the binary carries none.
func machineInfo(ctx context.Context, cfg Config) Machine {
	m := Machine{
		CPUModel:  cpuModel(),
		Cores:     runtime.NumCPU(),
		Kernel:    readTrim("/proc/sys/kernel/osrelease"),
		GoVersion: runtime.Version(),
	}
	if cfg.needsVtepd() {
		if bi, err := buildinfo.ReadFile(cfg.Vtepd); err == nil {
			m.GoVersion = bi.GoVersion
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					m.Commit = s.Value
				case "vcs.modified":
					m.Modified = s.Value == "true"
				}
			}
		}
	}
	if m.Commit == "" {
		m.Commit = firstLine(ctx, cfg.RepoDir, "git", "rev-parse", "HEAD")
		m.Modified = firstLine(ctx, cfg.RepoDir, "git", "status", "--porcelain", "--untracked-files=no") != ""
	}
	m.Iperf3 = firstLine(ctx, "", "iperf3", "--version")
	m.Ping = firstLine(ctx, "", "ping", "-V")
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// x86 says "model name", arm64 has no model name but may say "Hardware"
		// or only "CPU part"; the first of these found wins.
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Hardware", "cpu model", "Model":
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return runtime.GOARCH
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// firstLine runs a command and returns the first line of its output, or
// "" when it fails.
func firstLine(ctx context.Context, dir string, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEVPNScaleSmall runs the EVPN scale benchmark with three hosts and a
// few MACs: the harness brings them up, sees them converge, counts the
// MACs everywhere, and leaves nothing behind.
func TestEVPNScaleSmall(t *testing.T) {
	if _, err := os.Stat(filepath.Join(frrDir, "bgpd")); err != nil {
		t.Skipf("needs FRR (apt-get install frr): %v", err)
	}
	_, bin := harnessBinaries(t)
	res, err := RunEVPNScale(context.Background(), EVPNScaleConfig{Hosts: 3, MACs: 200, Vtepd: filepath.Join(bin, "vtepd"),
		Timeout: time.Minute, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConvergeSeconds <= 0 || res.MACsSeconds <= 0 || res.RSSBaseKiB <= 0 || res.FRR == "" {
		t.Errorf("result: %+v, want both times, a base RSS and FRR's version", res)
	}
	ours := fmt.Sprintf("vtb-%d-", os.Getpid())
	for _, n := range listNetns(t) {
		if strings.HasPrefix(n, ours) {
			t.Errorf("namespace %s left after the run, want every one removed", n)
		}
	}
}

// listNetns is the names `ip netns list` shows.
func listNetns(t *testing.T) []string {
	t.Helper()
	out, err := ipCmd(context.Background(), "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

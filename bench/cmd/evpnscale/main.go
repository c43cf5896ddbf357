// Command evpnscale measures vtepd's EVPN control plane at scale: N vtepd
// hosts in network namespaces around one FRR route reflector (Debian's
// frr), how long they take to know each other (every host in every flood
// list, every host's MAC in every FDB), then how long M MACs behind one
// host take to reach all the others and what they cost there in resident
// memory. It is part of what `sudo make bench` runs; it needs root.
//
//	evpnscale [-hosts 30] [-macs 5000] [-out bench/results]
//
// It writes evpn-scale.json and evpn-scale.md into -out.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vtepd/vtepd/bench"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("evpnscale", flag.ContinueOnError)
	hosts := fs.Int("hosts", 30, "vtepd hosts around the route reflector")
	macs := fs.Int("macs", 5000, "MACs behind host 1, for the memory figure (0: none)")
	out := fs.String("out", "bench/results", "directory for evpn-scale.json and evpn-scale.md")
	vtepd := fs.String("vtepd", "bin/vtepd", "the vtepd binary")
	timeout := fs.Duration("timeout", 3*time.Minute, "longest wait for each convergence")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "evpnscale: needs root (it creates network namespaces)")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.RunEVPNScale(ctx, bench.EVPNScaleConfig{Hosts: *hosts, MACs: *macs, Vtepd: *vtepd, Timeout: *timeout,
		Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	if err != nil {
		fmt.Fprintf(os.Stderr, "evpnscale: %v\n", err)
		return 1
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	md := fmt.Sprintf(`# EVPN at scale

%d vtepd hosts with EVPN, each a client of one FRR route reflector (%s), in
network namespaces on one bridge; %d CPUs, Linux %s. Measured by
`+"`evpnscale -hosts %d -macs %d`"+`.

| figure | value |
|---|--:|
| start to converged: every host in every flood list and every host's MAC in every FDB | %.2f s |
| %d MACs behind host 1 to every other host's FDB | %.2f s |
| vtepd resident memory before them (median) | %.0f KiB |
| vtepd resident memory per 1,000 remote MACs (median growth) | %.0f KiB |

Memory is the process's VmRSS: the Go runtime's heap with its slack, not the
tables alone.
`, res.Hosts, res.FRR, res.CPUs, res.Kernel, res.Hosts, res.MACs, res.ConvergeSeconds, res.MACs, res.MACsSeconds, res.RSSBaseKiB, res.RSSPer1000MACsKiB)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "evpnscale: %v\n", err)
		return 1
	}
	for name, b := range map[string][]byte{"evpn-scale.json": append(js, '\n'), "evpn-scale.md": []byte(md)} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "evpnscale: %v\n", err)
			return 1
		}
	}
	fmt.Print(md)
	return 0
}

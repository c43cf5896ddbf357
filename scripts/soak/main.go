// Command soak runs two vtepd daemons under churn for a while and fails if
// either of them grew: goroutines at all, heap or resident memory beyond a
// stated tolerance (see verdict.go).
//
// Two network namespaces stand in for two hosts joined by a veth pair
// (underlay 10.78.0.0/24); each runs bin/vtepd with one VXLAN network, VNI
// 42 (overlay 10.79.42.0/24), a short ageing time and a small table limit.
// For -duration it keeps a TCP stream flowing over the overlay and injects
// broadcast frames with random source MACs into both TAP devices, so the
// far ends keep learning, filling their tables, refusing at the limit and
// ageing entries out. It samples each daemon's goroutines and heap from its
// /metrics and its RSS from /proc after a warm-up and again at the end,
// prints a table and exits 1 if anything grew.
//
// It needs root and iproute2, and removes everything it made on the way
// out, also on failure and on Ctrl-C. Run it from the repository:
//
//	make build && sudo make soak SOAK_DURATION=60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	vtepd       string
	duration    time.Duration
	warmup      time.Duration
	ageing      time.Duration
	limit       int
	macRate     int
	tcpMbps     int
	metricsPort int
	verbose     bool
}

func main() {
	var o options
	flag.StringVar(&o.vtepd, "vtepd", "bin/vtepd", "the vtepd binary to soak")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the churn runs after the warm-up")
	// Longer than --ageing, so that the first sample sees tables that have
	// filled, aged and refilled once: the daemon's working set.
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "churn before the first sample (default: longer than -ageing)")
	flag.DurationVar(&o.ageing, "ageing", 10*time.Second, "vtepd --ageing: learnt MACs are forgotten after this long")
	flag.IntVar(&o.limit, "limit", 2048, "vtepd --limit: most learnt MACs per network")
	flag.IntVar(&o.macRate, "mac-rate", 1000, "frames with a random source MAC injected per second into each TAP")
	flag.IntVar(&o.tcpMbps, "tcp-mbps", 200, "pace of the TCP stream over the overlay in Mbit/s, 0 for as fast as it goes")
	flag.IntVar(&o.metricsPort, "metrics-port", 9470, "vtepd --metrics 127.0.0.1:PORT, inside each namespace")
	flag.BoolVar(&o.verbose, "v", false, "print the vtepd logs at the end")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "soak: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}

	// The handler stays installed until the end, so a second Ctrl-C does
	// not cut the cleanup short.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "soak: %v: stopping and cleaning up\n", s)
		cancel()
	}()

	pass, err := run(ctx, o)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "soak: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(1)
	case !pass:
		fmt.Fprintln(os.Stderr, "soak: FAIL: a vtepd grew during the soak (table above)")
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func (o options) check() error {
	switch {
	case o.duration <= 0:
		return fmt.Errorf("-duration: want a positive duration, got %v", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup: want a duration >= 0, got %v", o.warmup)
	case o.ageing <= 0:
		return fmt.Errorf("-ageing: want a positive duration, got %v", o.ageing)
	case o.limit < 1:
		return fmt.Errorf("-limit: want at least 1, got %d", o.limit)
	case o.macRate < 0:
		return fmt.Errorf("-mac-rate: want >= 0, got %d", o.macRate)
	case o.tcpMbps < 0:
		return fmt.Errorf("-tcp-mbps: want >= 0, got %d", o.tcpMbps)
	case o.metricsPort < 1 || o.metricsPort > 65535:
		return fmt.Errorf("-metrics-port: want 1..65535, got %d", o.metricsPort)
	}
	return nil
}

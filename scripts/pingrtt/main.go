//go:build linux

// Command pingrtt sends ICMP echo requests and prints ping(8)'s summary
// lines, so the demo can show a round-trip time on machines without
// iputils. It needs root (a raw ICMP socket) and runs in the network
// namespace it is started in, typically under `ip netns exec`.
//
//	pingrtt [-c 5] [-i 200ms] 192.168.42.2
//
// It exits 1 when no reply came back.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vtepd/vtepd/dataplane/netnstest"
)

func main() {
	count := flag.Int("c", 5, "how many requests")
	interval := flag.Duration("i", 200*time.Millisecond, "time between requests")
	wait := flag.Duration("W", time.Second, "how long to wait for replies after the last request")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: pingrtt [-c N] [-i DURATION] [-W DURATION] IPv4-ADDRESS")
		flag.PrintDefaults()
	}
	flag.Parse()
	dst, err := netip.ParseAddr(flag.Arg(0))
	if flag.NArg() != 1 || err != nil || !dst.Is4() || *count < 1 {
		flag.Usage()
		os.Exit(2)
	}
	fmt.Printf("PING %s: %d requests, %v apart\n", dst, *count, *interval)
	st, err := netnstest.Echo(dst, *count, *interval, *wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingrtt:", err)
		os.Exit(1)
	}
	fmt.Println(st)
	if st.Received == 0 {
		os.Exit(1)
	}
}

// Command vtepload is the benchmark harness's own load generator, for hosts
// without iperf3: a plain TCP sender and receiver and a UDP blaster (see
// bench.ListenLoad). vtepbench runs it in the namespaces it makes when
// iperf3 is missing or -gen vtepload asks for it; it can also be run by
// hand:
//
//	vtepload -server -listen 0.0.0.0:5201
//	vtepload -client 10.0.0.2:5201 -flows 4 -time 5s
//	vtepload -client 10.0.0.2:5201 -udp -length 64 [-window 4194304] -time 5s
//
// A client prints one JSON object, the run as vtepbench records it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vtepd/vtepd/bench"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("vtepload", flag.ContinueOnError)
	server := fs.Bool("server", false, "serve TCP and UDP tests until interrupted")
	listen := fs.String("listen", "0.0.0.0:5201", "server: address to listen on, TCP and UDP")
	client := fs.String("client", "", "client: the server's host:port")
	flows := fs.Int("flows", 1, "client: TCP connections sending at once, 1..128")
	udp := fs.Bool("udp", false, "client: send UDP datagrams instead of TCP")
	length := fs.Int("length", 64, "client, -udp: datagram payload bytes, 16..65507")
	window := fs.Int("window", 0, "client, -udp: socket buffer bytes at both ends (0: the kernel's default)")
	d := fs.Duration("time", 5*time.Second, "client: how long to send")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case *server && *client == "":
		s, err := bench.ListenLoad(*listen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vtepload: -listen: %v\n", err)
			return 1
		}
		fmt.Printf("vtepload listening on %s\n", s.Addr())
		<-ctx.Done()
		if err := s.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "vtepload: %v\n", err)
			return 1
		}
		return 0
	case *client != "" && !*server:
		if *d <= 0 {
			fmt.Fprintf(os.Stderr, "vtepload: -time: want a positive duration, got %v\n", *d)
			return 2
		}
		var out any
		var err error
		if *udp {
			if *length < 16 || *length > 65507 {
				fmt.Fprintf(os.Stderr, "vtepload: -length: want 16..65507, got %d\n", *length)
				return 2
			}
			out, err = bench.LoadUDP(ctx, *client, *length, *window, *d)
		} else {
			if *flows < 1 || *flows > 128 {
				fmt.Fprintf(os.Stderr, "vtepload: -flows: want 1..128, got %d\n", *flows)
				return 2
			}
			out, err = bench.LoadTCP(ctx, *client, *flows, *d)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vtepload: %v\n", err)
			return 1
		}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fmt.Fprintf(os.Stderr, "vtepload: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "vtepload: want -server or -client HOST:PORT (see -h)")
	return 2
}

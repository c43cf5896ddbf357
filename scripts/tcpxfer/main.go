// Command tcpxfer moves a deterministic stream of pseudo-random bytes over
// one TCP connection and checks that it arrived whole: the demo uses it for
// its throughput figures and the end-to-end tests for a checked transfer,
// so neither needs iperf3.
//
//	tcpxfer -listen 192.168.42.2:5001
//	tcpxfer -connect 192.168.42.2:5001 -bytes 64MiB [-seed 1]
//
// The client sends the bytes and half-closes; the server hashes what it
// reads until EOF and answers with "<length> <sha256 hex>\n"; the client
// compares that with what it sent and exits 1 when they differ. Each side
// prints one line: bytes, time, MB/s (10^6 bytes), Gbit/s and SHA-256.
// Both give up after -timeout (the client's connect after 10 s at most), so
// a broken path never hangs a script.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dialTimeout bounds the client's connect.
const dialTimeout = 10 * time.Second

func main() {
	listen := flag.String("listen", "", "serve one transfer on this host:port")
	connect := flag.String("connect", "", "send to the server at this host:port")
	size := flag.String("bytes", "16MiB", "how much the client sends: a number with an optional KiB, MiB or GiB suffix")
	seed := flag.Uint64("seed", 1, "seed of the client's byte stream")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	mss := flag.Int("mss", 0, "client: cap the TCP segment size (TCP_MAXSEG, 88..32767); 0 leaves the path's")
	flag.Parse()

	var err error
	switch {
	case *listen != "" && *connect == "":
		err = serve(*listen, *timeout)
	case *connect != "" && *listen == "":
		var n int64
		if n, err = parseSize(*size); err == nil {
			err = send(*connect, n, *seed, *timeout, *mss)
		}
	default:
		err = errors.New("want exactly one of -listen ADDR or -connect ADDR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpxfer:", err)
		os.Exit(1)
	}
}

func serve(addr string, timeout time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// Scripts wait for this line before they start the client.
	fmt.Printf("listening on %s\n", ln.Addr())
	deadline := time.Now().Add(timeout)
	if err := ln.(*net.TCPListener).SetDeadline(deadline); err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	start := time.Now()
	h := sha256.New()
	n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("after %d bytes from %s: %w", n, c.RemoteAddr(), err)
	}
	elapsed := time.Since(start)
	sum := hex.EncodeToString(h.Sum(nil))
	if _, err := fmt.Fprintf(c, "%d %s\n", n, sum); err != nil {
		return err
	}
	fmt.Println(report("received", n, elapsed, sum))
	return nil
}

func send(addr string, n int64, seed uint64, timeout time.Duration, mss int) error {
	// A path that cannot carry a SYN is broken: say so well before -timeout.
	d := net.Dialer{Timeout: min(timeout, dialTimeout)}
	if mss > 0 {
		// Set before connect, so the SYN announces it and both ends use it.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("-mss %d: %w", mss, serr)
			}
			return nil
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	start := time.Now()
	h := sha256.New()
	if err := writeStream(io.MultiWriter(c, h), n, seed); err != nil {
		return err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	// The time runs until the server has read the last byte and answered.
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	elapsed := time.Since(start)
	sum := hex.EncodeToString(h.Sum(nil))
	fmt.Println(report("sent", n, elapsed, sum))
	want := fmt.Sprintf("%d %s", n, sum)
	if got := strings.TrimSpace(line); got != want {
		return fmt.Errorf("server received %q, want %q (length and sha256)", got, want)
	}
	return nil
}

// writeStream writes n bytes of a ChaCha8 stream: the same seed gives the
// same bytes on every machine, so a mismatch means the path changed them.
func writeStream(w io.Writer, n int64, seed uint64) error {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 64<<10)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		_, _ = src.Read(chunk) // never fails
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

func report(verb string, n int64, d time.Duration, sum string) string {
	secs := d.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	return fmt.Sprintf("%s %d bytes in %.3f s: %.1f MB/s, %.3f Gbit/s, sha256 %s",
		verb, n, secs, float64(n)/secs/1e6, float64(n)*8/secs/1e9, sum)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("-bytes %q: want a count such as 1048576, 64MiB or 1GiB", s)
	}
	return v * mult, nil
}

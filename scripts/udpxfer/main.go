// Command udpxfer sends numbered UDP datagrams whose bytes follow from their
// number, in bursts, and checks at the other end that every datagram that
// arrived is whole: the end-to-end tests use it to prove that small
// datagrams batched into GSO trains and split again come out intact.
//
//	udpxfer -listen 192.168.42.2:5002 -count 4000
//	udpxfer -connect 192.168.42.2:5002 -count 4000 -size 64 [-burst 16] [-gap 200us] [-seed 1]
//
// A datagram is an 8-byte number, a 4-byte length (the whole datagram's),
// a 4-byte seed, then bytes from a generator seeded with the seed and the
// number. In a burst every datagram has -size bytes but the last, which is
// up to 7 bytes shorter, so that trains with a short tail are made too.
//
// The server reads until it has -count datagrams or the line has been
// quiet for a second after the first, then prints
// "received R of N, corrupt C, duplicate D, reordered O" and exits 1 when
// a datagram was corrupt. Loss is reported, not judged: UDP may lose.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"
)

// headerLen is the number, the length and the seed in front of the bytes.
const headerLen = 16

func main() {
	listen := flag.String("listen", "", "receive on this host:port")
	connect := flag.String("connect", "", "send to this host:port")
	count := flag.Int("count", 1000, "datagrams to send, or to wait for")
	size := flag.Int("size", 64, "client: datagram payload size, 16..65507")
	burst := flag.Int("burst", 16, "client: datagrams sent back to back")
	gap := flag.Duration("gap", 200*time.Microsecond, "client: pause between bursts")
	seed := flag.Uint64("seed", 1, "client: seed of the bytes")
	timeout := flag.Duration("timeout", time.Minute, "give up after this long")
	flag.Parse()

	var err error
	switch {
	case *listen != "" && *connect == "":
		var r report
		if r, err = serve(*listen, *count, *timeout); err == nil {
			fmt.Println(r)
			if r.corrupt > 0 {
				os.Exit(1)
			}
		}
	case *connect != "" && *listen == "":
		err = send(*connect, *count, *size, *burst, *gap, *seed)
	default:
		err = errors.New("want exactly one of -listen ADDR or -connect ADDR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpxfer:", err)
		os.Exit(1)
	}
}

// fill writes datagram seq of len(b) bytes.
func fill(b []byte, seq uint64, seed uint32) {
	binary.BigEndian.PutUint64(b[0:], seq)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[12:], seed)
	r := rand.New(rand.NewPCG(uint64(seed), seq))
	for i := headerLen; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
}

// check reports whether b is a datagram fill made, and its number.
func check(b, scratch []byte) (uint64, bool) {
	if len(b) < headerLen || int(binary.BigEndian.Uint32(b[8:])) != len(b) {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(b)
	want := scratch[:len(b)]
	fill(want, seq, binary.BigEndian.Uint32(b[12:]))
	for i := range b {
		if b[i] != want[i] {
			return seq, false
		}
	}
	return seq, true
}

// sizeOf is the size of datagram i: size, but the last of a burst is up to
// 7 bytes shorter.
func sizeOf(i, size, burst int) int {
	if burst > 1 && i%burst == burst-1 {
		return max(headerLen, size-1-(i/burst)%7)
	}
	return size
}

func send(addr string, count, size, burst int, gap time.Duration, seed uint64) error {
	if size < headerLen || size > 65507 {
		return fmt.Errorf("-size %d: want %d..65507", size, headerLen)
	}
	if burst < 1 {
		return fmt.Errorf("-burst %d: want at least 1", burst)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, size)
	start := time.Now()
	for i := 0; i < count; i++ {
		d := b[:sizeOf(i, size, burst)]
		fill(d, uint64(i), uint32(seed))
		if _, err := c.Write(d); err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		if i%burst == burst-1 && gap > 0 {
			time.Sleep(gap)
		}
	}
	fmt.Printf("sent %d datagrams of %d bytes in bursts of %d in %v\n", count, size, burst, time.Since(start).Round(time.Millisecond))
	return nil
}

type report struct {
	count, received, corrupt, duplicate, reordered int
}

func (r report) String() string {
	return fmt.Sprintf("received %d of %d, corrupt %d, duplicate %d, reordered %d",
		r.received, r.count, r.corrupt, r.duplicate, r.reordered)
}

func serve(addr string, count int, timeout time.Duration) (report, error) {
	r := report{count: count}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return r, err
	}
	defer pc.Close()
	fmt.Println("listening on", pc.LocalAddr())
	buf := make([]byte, 65536)
	scratch := make([]byte, 65536)
	seen := make(map[uint64]bool, count)
	var last uint64
	deadline := time.Now().Add(timeout)
	for r.received+r.corrupt < count {
		wait := deadline
		if r.received+r.corrupt > 0 {
			wait = time.Now().Add(time.Second)
		}
		if err := pc.SetReadDeadline(wait); err != nil {
			return r, err
		}
		n, _, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if r.received+r.corrupt == 0 {
				return r, fmt.Errorf("nothing arrived within %v", timeout)
			}
			break
		}
		if err != nil {
			return r, err
		}
		seq, ok := check(buf[:n], scratch)
		switch {
		case !ok:
			r.corrupt++
		case seen[seq]:
			r.duplicate++
		default:
			if r.received > 0 && seq < last {
				r.reordered++
			}
			seen[seq], last = true, seq
			r.received++
		}
	}
	return r, nil
}

// Command udpxfer sends numbered UDP datagrams whose bytes follow from their
// number, in bursts, and checks at the other end that every datagram that
// arrived is whole: the end-to-end tests use it to prove that small
// datagrams batched into GSO trains and split again come out intact.
//
//	udpxfer -listen 192.168.42.2:5002 -count 4000 [-gro]
//	udpxfer -connect 192.168.42.2:5002 -count 4000 -size 64 [-burst 16] [-gap 200us] [-seed 1] [-gso]
//
// A datagram is an 8-byte number, a 4-byte length (the whole datagram's),
// a 4-byte seed, then bytes from a generator seeded with the seed and the
// number. In a burst every datagram has -size bytes but the last, which is
// up to 7 bytes shorter, so that trains with a short tail are made too.
//
// With -gso the client hands each burst to the kernel in one send with UDP
// segmentation offload (UDP_SEGMENT, Linux 4.18), as QUIC stacks do, so a
// device with USO carries it as one super-frame. With -gro the server asks
// for UDP_GRO (Linux 5.0) and splits what it reads at the segment size the
// kernel reports, so coalesced datagrams reach it whole.
//
// The server reads until it has -count datagrams or the line has been
// quiet for a second after the first, then prints
// "received R of N, corrupt C, duplicate D, reordered O, trains T" (T: reads
// that held more than one datagram) and exits 1 when a datagram was
// corrupt. Loss is reported, not judged: UDP may lose.
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

	"golang.org/x/sys/unix"
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
	gso := flag.Bool("gso", false, "client: send each burst as one UDP_SEGMENT send")
	gro := flag.Bool("gro", false, "server: read with UDP_GRO, splitting coalesced reads")
	flag.Parse()

	var err error
	switch {
	case *listen != "" && *connect == "":
		var r report
		if r, err = serve(*listen, *count, *timeout, *gro); err == nil {
			fmt.Println(r)
			if r.corrupt > 0 {
				os.Exit(1)
			}
		}
	case *connect != "" && *listen == "":
		err = send(*connect, *count, *size, *burst, *gap, *seed, *gso)
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

// maxGSOSegments is the most datagrams Linux takes in one UDP_SEGMENT
// send (UDP_MAX_SEGMENTS, 64 before 6.x raised it).
const maxGSOSegments = 64

func send(addr string, count, size, burst int, gap time.Duration, seed uint64, gso bool) error {
	if size < headerLen || size > 65507 {
		return fmt.Errorf("-size %d: want %d..65507", size, headerLen)
	}
	if burst < 1 {
		return fmt.Errorf("-burst %d: want at least 1", burst)
	}
	if gso && (burst > maxGSOSegments || burst*size > 65507) {
		return fmt.Errorf("-gso: a burst of %d datagrams of %d bytes: want at most %d datagrams and 65507 bytes", burst, size, maxGSOSegments)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if gso {
		if err := setSockopt(c.(*net.UDPConn), unix.UDP_SEGMENT, size); err != nil {
			return fmt.Errorf("-gso: UDP_SEGMENT: %w", err)
		}
	}
	b := make([]byte, burst*size)
	start := time.Now()
	for i := 0; i < count; {
		// One burst: datagrams i..end-1, back to back in b.
		end := min(count, (i/burst+1)*burst)
		off := 0
		for k := i; k < end; k++ {
			d := b[off : off+sizeOf(k, size, burst)]
			fill(d, uint64(k), uint32(seed))
			if !gso {
				if _, err := c.Write(d); err != nil {
					return fmt.Errorf("datagram %d: %w", k, err)
				}
				continue
			}
			off += len(d)
		}
		if gso {
			if _, err := c.Write(b[:off]); err != nil {
				return fmt.Errorf("datagrams %d..%d: %w", i, end-1, err)
			}
		}
		i = end
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	fmt.Printf("sent %d datagrams of %d bytes in bursts of %d in %v\n", count, size, burst, time.Since(start).Round(time.Millisecond))
	return nil
}

// setSockopt sets a UDP-level integer option on c.
func setSockopt(c *net.UDPConn, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, opt, v) }); err != nil {
		return err
	}
	return serr
}

// groSize returns the segment size in a UDP_GRO control message, or 0.
func groSize(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 4 {
			return int(binary.NativeEndian.Uint32(m.Data))
		}
	}
	return 0
}

type report struct {
	count, received, corrupt, duplicate, reordered, trains int
}

func (r report) String() string {
	return fmt.Sprintf("received %d of %d, corrupt %d, duplicate %d, reordered %d, trains %d",
		r.received, r.count, r.corrupt, r.duplicate, r.reordered, r.trains)
}

// take counts datagram b.
func (r *report) take(b, scratch []byte, seen map[uint64]bool, last *uint64) {
	seq, ok := check(b, scratch)
	switch {
	case !ok:
		r.corrupt++
	case seen[seq]:
		r.duplicate++
	default:
		if r.received > 0 && seq < *last {
			r.reordered++
		}
		seen[seq], *last = true, seq
		r.received++
	}
}

func serve(addr string, count int, timeout time.Duration, gro bool) (report, error) {
	r := report{count: count}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return r, err
	}
	defer pc.Close()
	c := pc.(*net.UDPConn)
	if gro {
		if err := setSockopt(c, unix.UDP_GRO, 1); err != nil {
			return r, fmt.Errorf("-gro: UDP_GRO: %w", err)
		}
	}
	fmt.Println("listening on", pc.LocalAddr())
	buf := make([]byte, 65536)
	oob := make([]byte, 64)
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
		n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if r.received+r.corrupt == 0 {
				return r, fmt.Errorf("nothing arrived within %v", timeout)
			}
			break
		}
		if err != nil {
			return r, err
		}
		seg := n
		if s := groSize(oob[:oobn]); s > 0 && s < n {
			seg = s
			r.trains++
		}
		for off := 0; off < n; off += seg {
			r.take(buf[off:min(n, off+seg)], scratch, seen, &last)
		}
	}
	return r, nil
}

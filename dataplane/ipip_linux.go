package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/encap"
)

// ipipConn receives IPIP packets and sends outer packets it is given whole
// on a raw IPPROTO_RAW socket.
//
// By default packets come from a raw IPv4 socket of protocol 4 bound to
// the local address: the kernel delivers each whole, outer header first,
// after its IP layer, netfilter and IPsec policy took it, and needs no
// ipip driver for it. Every raw socket of a protocol gets its own copy of
// each packet, so more of them cannot share the work.
//
// With a fanout group, packets come from a group of packet sockets
// (AF_PACKET, PACKET_FANOUT) that the kernel hands each packet to one of,
// chosen by a hash of its inner flow (ipipFanoutProg), so that each has a
// worker of its own. They see packets as the device delivers them, before
// the IP layer: their filter (ipipFilter) makes the IP layer's header
// checks, but netfilter, reverse-path filtering and IPsec policy do not
// apply. The raw socket stays open, reading nothing (a filter drops all),
// because without one the kernel would answer every IPIP packet with an
// ICMP protocol unreachable.
type ipipConn struct {
	ipipRx           // what ReadBatch reads: the raw socket, or the group's first
	more   []*ipipRx // the group's other sockets
	raw    *os.File  // with a group: the raw socket that keeps the kernel quiet
	txfd   int
	local  netip.Addr
}

// ipipRx is one receiving socket and its batch reader; either kind
// returns whole outer IPv4 packets.
type ipipRx struct {
	rx   *os.File // non-blocking, so reads park in the runtime poller
	rxr  *mmsgReader
	segs [connBatch]int
}

// ipipReceiver is one further socket of an ipipConn's group as a Conn of
// its own, for its receive worker: it sends through the ipipConn, and
// closing the ipipConn closes it.
type ipipReceiver struct {
	*ipipRx
	c *ipipConn
}

var (
	_ Conn = (*ipipConn)(nil)
	_ Conn = ipipReceiver{}
)

func (r ipipReceiver) WriteBatch(pkts [][]byte) (int, error) { return r.c.WriteBatch(pkts) }
func (r ipipReceiver) LocalAddr() netip.AddrPort             { return r.c.LocalAddr() }
func (r ipipReceiver) Close() error                          { return nil }

// ListenIPIP opens the IPIP underlay sockets for local: with group 0, one
// raw socket receives; with group n > 0, a fanout group of n packet
// sockets does, each for its own receive worker.
func ListenIPIP(local netip.Addr, group int) (Conn, error) {
	if !local.Is4() {
		return nil, fmt.Errorf("ipip: local %s: want an IPv4 address", local)
	}
	if group < 0 {
		return nil, fmt.Errorf("ipip: a fanout group of %d sockets, want 0 (none) or more", group)
	}
	raw, err := openIPIPRaw(local, group == 0)
	if err != nil {
		return nil, err
	}
	c := &ipipConn{local: local, txfd: -1}
	if group == 0 {
		c.ipipRx.rx = raw
	} else {
		c.raw = raw
		if err := c.openGroup(local, group); err != nil {
			c.Close()
			return nil, err
		}
	}
	if c.rxr, err = newMmsgReader(c.rx); err != nil {
		c.Close()
		return nil, err
	}
	if c.txfd, err = openRawSender(unix.AF_INET); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// openIPIPRaw opens the raw protocol-4 socket bound to local: read, or,
// where a fanout group reads instead, with a filter that drops everything
// so that nothing queues on it.
func openIPIPRaw(local netip.Addr, read bool) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, encap.ProtocolIPIP)
	if err != nil {
		return nil, fmt.Errorf("open raw IPv4 socket for protocol 4 (needs CAP_NET_RAW): %w", err)
	}
	if !read {
		if err := attachFilter(fd, dropAll); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("raw IPIP socket: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind raw IPIP socket to %s: %w", local, err)
	}
	if read && unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	}
	return os.NewFile(uintptr(fd), "ipip"), nil
}

// openGroup opens n packet sockets in one new fanout group: each keeps
// the IPIP packets addressed to local (ipipFilter), and the group's
// program (ipipFanoutProg) picks the socket by the inner flow.
// PACKET_FANOUT_FLAG_DEFRAG has the kernel reassemble outer fragments
// before it picks, so a fragmented packet arrives whole, as on the raw
// socket, and goes where its flow goes.
//
// A socket receives from its bind on, alone until it joins the group, and
// the group's size decides where each flow goes: every socket drops
// everything until all have joined, so no packet is seen twice or by the
// wrong worker while the group forms.
func (c *ipipConn) openGroup(local netip.Addr, n int) error {
	var (
		group int
		fds   []int
	)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open packet socket for IPIP receiver %d (needs CAP_NET_RAW): %w", i, err)
		}
		r := &ipipRx{rx: os.NewFile(uintptr(fd), "ipip-fanout")}
		if i == 0 {
			c.ipipRx.rx = r.rx
		} else {
			c.more = append(c.more, r)
		}
		fds = append(fds, fd)
		if err := attachFilter(fd, dropAll); err != nil {
			return fmt.Errorf("IPIP receiver %d: %w", i, err)
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP)}); err != nil {
			return fmt.Errorf("bind IPIP receiver %d: %w", i, err)
		}
		mode := unix.PACKET_FANOUT_CBPF | unix.PACKET_FANOUT_FLAG_DEFRAG
		if i == 0 {
			// A group of its own: another process's group of the same
			// mode would otherwise take our packets or give us theirs.
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (mode|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
				return fmt.Errorf("IPIP receiver group: PACKET_FANOUT: %w", err)
			}
			v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return fmt.Errorf("IPIP receiver group: read its id: %w", err)
			}
			group = v & 0xffff
			if err := attachFanout(fd, ipipFanoutProg); err != nil {
				return fmt.Errorf("IPIP receiver group: %w", err)
			}
		} else if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, mode<<16|group); err != nil {
			return fmt.Errorf("IPIP receiver %d: join group %d: %w", i, group, err)
		}
		if i > 0 {
			if r.rxr, err = newMmsgReader(r.rx); err != nil {
				return err
			}
		}
	}
	filter := ipipFilter(local)
	for i, fd := range fds {
		// The kernel swaps a socket's filter whole.
		if err := attachFilter(fd, filter); err != nil {
			return fmt.Errorf("IPIP receiver %d: %w", i, err)
		}
	}
	return nil
}

// ipipFilter keeps what the device delivered to this host (PACKET_HOST:
// not another host's frame seen in promiscuous mode, which the IP layer
// would drop) that ipipHeaderFilter keeps. The VM of x/net/bpf, which the
// tests run ipipHeaderFilter in, has no packet type.
func ipipFilter(local netip.Addr) []bpf.Instruction {
	rest := ipipHeaderFilter(local)
	return append([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: uint8(len(rest) - 1)}, // to rest's drop
	}, rest...)
}

// ipipHeaderFilter keeps the IPv4 packets of protocol 4 addressed to
// local whose header the kernel's IP layer would take: version 4, a header
// of 20 to 60 bytes, a total length that covers it and fits in the packet,
// and, for a 20-byte header, a checksum that verifies. A packet socket sees
// packets before that layer checks them; without this, vtepd would count
// as malformed what the kernel already counts and drops (InHdrErrors,
// InCsumErrors, InTruncatedPkts), and the raw socket never shows it. A
// datagram packet socket's filter sees the packet from its IP header.
func ipipHeaderFilter(local netip.Addr) []bpf.Instruction {
	// Jumps are written to these placeholders, then pointed at the last
	// two instructions: keep, and drop.
	const toDrop, toKeep = 0xff, 0xfe
	a := local.As4()
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 0x45, SkipTrue: toDrop},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 0x4f, SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: encap.ProtocolIPIP, SkipTrue: toDrop},
		bpf.LoadAbsolute{Off: 16, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(a[:]), SkipTrue: toDrop},
		// total length >= the header, <= the packet
		bpf.LoadMemShift{Off: 0},
		bpf.LoadAbsolute{Off: 2, Size: 2},
		bpf.JumpIfX{Cond: bpf.JumpLessThan, SkipTrue: toDrop},
		bpf.TAX{},
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIfX{Cond: bpf.JumpLessThan, SkipTrue: toDrop},
		// options: the checksum is left to vtepd, which checks it too
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x45, SkipTrue: toKeep},
		bpf.LoadAbsolute{Off: 0, Size: 2},
		bpf.TAX{},
	}
	for off := uint32(2); off < encap.IPv4MinHeaderLen; off += 2 {
		prog = append(prog, bpf.LoadAbsolute{Off: off, Size: 2}, bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{})
	}
	// Fold the sum of ten words (below 2^20) twice into 16 bits.
	for range 2 {
		prog = append(prog,
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
			bpf.StoreScratch{Src: bpf.RegA, N: 0},
			bpf.TXA{},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
			bpf.LoadScratch{Dst: bpf.RegX, N: 0},
			bpf.ALUOpX{Op: bpf.ALUOpAdd},
			bpf.TAX{},
		)
	}
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0xffff, SkipTrue: toDrop})
	keep := len(prog)
	prog = append(prog, bpf.RetConstant{Val: 1 << 18}, dropAll[0])
	skip := func(i int, placeholder uint8) uint8 {
		switch placeholder {
		case toKeep:
			return uint8(keep - i - 1)
		case toDrop:
			return uint8(keep + 1 - i - 1)
		}
		return placeholder
	}
	for i, ins := range prog {
		switch j := ins.(type) {
		case bpf.JumpIf:
			j.SkipTrue = skip(i, j.SkipTrue)
			prog[i] = j
		case bpf.JumpIfX:
			j.SkipTrue = skip(i, j.SkipTrue)
			prog[i] = j
		}
	}
	return prog
}

// dropAll is a filter that keeps nothing.
var dropAll = []bpf.Instruction{bpf.RetConstant{Val: 0}}

// ipipFanoutProg returns a hash of an IPIP packet's inner flow, which the
// kernel takes modulo the group's size: the inner addresses, and the
// ports of an unfragmented TCP or UDP packet. What it cannot read (outer
// options, not IPIP) hashes to 0, the same for every packet of a flow.
var ipipFanoutProg = []bpf.Instruction{
	/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
	/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x45, SkipFalse: 25}, // to 27
	/* 2 */ bpf.LoadAbsolute{Off: 9, Size: 1},
	/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: encap.ProtocolIPIP, SkipFalse: 23}, // to 27
	/* 4 */ bpf.LoadAbsolute{Off: 20 + 12, Size: 4}, // inner source
	/* 5 */ bpf.TAX{},
	/* 6 */ bpf.LoadAbsolute{Off: 20 + 16, Size: 4}, // inner destination
	/* 7 */ bpf.ALUOpX{Op: bpf.ALUOpXor},
	/* 8 */ bpf.StoreScratch{Src: bpf.RegA, N: 0},
	/* 9 */ bpf.LoadAbsolute{Off: 20 + 9, Size: 1}, // inner protocol
	/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 1},
	/* 11 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 8}, // to 20
	/* 12 */ bpf.LoadAbsolute{Off: 20 + 6, Size: 2}, // inner flags, fragment offset
	/* 13 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3fff, SkipTrue: 6}, // a fragment: to 20
	/* 14 */ bpf.LoadMemShift{Off: 20}, // X = the inner header's length
	/* 15 */ bpf.LoadIndirect{Off: 20, Size: 4}, // both ports
	/* 16 */ bpf.TAX{},
	/* 17 */ bpf.LoadScratch{Dst: bpf.RegA, N: 0},
	/* 18 */ bpf.ALUOpX{Op: bpf.ALUOpXor},
	/* 19 */ bpf.StoreScratch{Src: bpf.RegA, N: 0},
	/* 20 */ bpf.LoadScratch{Dst: bpf.RegA, N: 0},
	/* 21 */ bpf.TAX{},
	/* 22 */ bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
	/* 23 */ bpf.ALUOpX{Op: bpf.ALUOpXor}, // the ports folded together
	/* 24 */ bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 0x9e3779b1},
	/* 25 */ bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16}, // the bits every input bit reached
	/* 26 */ bpf.RetA{},
	/* 27 */ bpf.RetConstant{Val: 0},
}

func attachFilter(fd int, prog []bpf.Instruction) error {
	return setFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog, "SO_ATTACH_FILTER")
}

func attachFanout(fd int, prog []bpf.Instruction) error {
	return setFprog(fd, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, prog, "PACKET_FANOUT_DATA")
}

func setFprog(fd, level, opt int, prog []bpf.Instruction, name string) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	p := unix.SockFprog{Len: uint16(len(f)), Filter: unsafe.SliceData(f)}
	if err := unix.SetsockoptSockFprog(fd, level, opt, &p); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (c *ipipConn) LocalAddr() netip.AddrPort { return netip.AddrPortFrom(c.local, 0) }

// ReadBatch returns whole outer IPv4 packets, a batch per recvmmsg(2); the
// sender is in their header.
func (r *ipipRx) ReadBatch(bufs [][]byte, sizes []int, srcs []netip.AddrPort) (int, error) {
	n, err := r.rxr.read(bufs, sizes, srcs, r.segs[:])
	for i := 0; i < n; i++ {
		srcs[i] = netip.AddrPort{}
		if sizes[i] >= encap.IPv4MinHeaderLen {
			srcs[i] = netip.AddrPortFrom(encap.IPv4(bufs[i]).Src(), 0)
		}
	}
	return n, err
}

func (c *ipipConn) WriteBatch(pkts [][]byte) (int, error) { return sendRaw(c.txfd, pkts) }

func (c *ipipConn) Close() error {
	socks := []*os.File{c.rx, c.raw}
	for _, r := range c.more {
		socks = append(socks, r.rx)
	}
	return closeSockets(c.txfd, socks...)
}

func (r *ipipRx) keepParkClock(p *workerClock) { r.rxr.poll.clock = p }

package dataplane

import "net/netip"

// Link is a packet device: a TAP for VXLAN networks (Ethernet frames), a TUN
// for IPIP networks (IP packets). Reads and writes move batches, in the shape
// of wireguard-go's tun.Device, so an implementation that can move several
// frames per system call may do so.
type Link interface {
	// Read reads up to len(bufs) frames. Frame i is written to
	// bufs[i][offset:] and its length stored in sizes[i]. It returns the
	// number of frames read, blocking until at least one is available or the
	// link is closed.
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	// Write writes the frames bufs[i][offset:] to the device and returns the
	// number written; on error, frames before the returned count were written.
	Write(bufs [][]byte, offset int) (int, error)
	// Name is the device's interface name.
	Name() string
	// Close releases the device; blocked Reads return an error.
	Close() error
}

// Conn is the underlay socket pair of one (local address, port).
//
// Receiving is a UDP socket bound to the VXLAN port: ReadBatch returns UDP
// payloads. Sending writes whole outer IP packets, built by the dataplane
// (IPv4 or IPv6 header, UDP header, VXLAN header, inner frame), so that the
// outer UDP source port can follow the inner flow the way Linux's vxlan picks
// it, which a socket bound to one port cannot do.
type Conn interface {
	// ReadBatch reads up to len(bufs) datagrams: the UDP payload of datagram i
	// into bufs[i], its length into sizes[i] and its sender into srcs[i].
	ReadBatch(bufs [][]byte, sizes []int, srcs []netip.AddrPort) (int, error)
	// WriteBatch sends the outer IP packets pkts[i], each beginning with its
	// IP header. It returns the number sent; on error, packets before the
	// returned count were sent.
	WriteBatch(pkts [][]byte) (int, error)
	// LocalAddr is the address and port datagrams are received on.
	LocalAddr() netip.AddrPort
	// Close releases the sockets; blocked reads return an error.
	Close() error
}

package dataplane

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vtepd/vtepd/encap"
)

// Offload flags of TUNSETOFFLOAD (include/uapi/linux/if_tun.h): what the
// reader of a TAP or TUN device with IFF_VNET_HDR can take from the kernel.
const (
	tunFCsum = 0x01 // TUN_F_CSUM: partial checksums, finished by the reader
	tunFTSO4 = 0x02 // TUN_F_TSO4: TCP/IPv4 super-frames, segmented by the reader
	tunFTSO6 = 0x04 // TUN_F_TSO6: TCP/IPv6 super-frames
	tunFUSO4 = 0x20 // TUN_F_USO4: UDP/IPv4 super-frames (Linux 6.2)
	tunFUSO6 = 0x40 // TUN_F_USO6: UDP/IPv6 super-frames (Linux 6.2)
)

// vnetLink is a device opened with IFF_VNET_HDR and TCP segmentation offload:
// every frame crosses the device behind a virtio-net header
// (encap.VirtioNetHdrLen bytes), a frame read can be a TCP super-frame of up
// to 64 KiB that the reader segments, and a frame written can be one that
// the kernel's stack takes whole (GRO's result, made in user space). With
// UDP segmentation offload as well, the same holds for UDP.
// vnetDevice is the one device with offloads; the transmit loops find it
// by this interface.
var _ vnetLink = (*vnetDevice)(nil)

type vnetLink interface {
	Link
	// USO reports whether the device also moves UDP super-frames
	// (VirtioGSOUDPL4), both ways.
	USO() bool
	// ReadVnet reads up to len(bufs) frames, blocking for the first: frame
	// i at bufs[i][offset:], its length in sizes[i], its virtio-net header
	// in the VirtioNetHdrLen bytes before offset.
	ReadVnet(bufs [][]byte, sizes []int, offset int) (int, error)
	// WriteVnet writes one frame gathered from parts with writev(2):
	// parts[0] is its virtio-net header, the rest its bytes in order. w is
	// the caller's own scratch space, so the write allocates nothing.
	WriteVnet(w *vnetWriter, parts [][]byte) error
}

// vnetDevice is a TAP or TUN device opened through /dev/net/tun directly:
// water cannot ask for IFF_VNET_HDR.
type vnetDevice struct {
	f    *os.File // non-blocking, so reads park in the runtime poller
	rc   syscall.RawConn
	name string
	uso  bool
	r    queueReader // ReadVnet's: one reader per queue
}

// ifreq is struct ifreq for TUNSETIFF: a name and the flags.
type ifreq struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// openVnet creates the device name with IFF_VNET_HDR, or with multiQueue
// opens one more queue of it (IFF_MULTI_QUEUE), and asks for checksum
// and TCP segmentation offload, and UDP segmentation offload where the
// kernel has it (6.2 on; older ones refuse the flags with EINVAL). It
// returns an error when the kernel refuses checksum or TCP offload; the
// caller then falls back to a device without offloads.
func openVnet(name string, tap, multiQueue bool) (*vnetDevice, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req ifreq
	copy(req.name[:unix.IFNAMSIZ-1], name)
	req.flags = unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if multiQueue {
		req.flags |= unix.IFF_MULTI_QUEUE
	}
	if tap {
		req.flags |= unix.IFF_TAP
	} else {
		req.flags |= unix.IFF_TUN
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %q: %w", name, errno)
	}
	uso := true
	if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6|tunFUSO4|tunFUSO6) != nil {
		uso = false
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETOFFLOAD on %q: %w", name, err)
		}
	}
	n := 0
	for n < len(req.name) && req.name[n] != 0 {
		n++
	}
	f := os.NewFile(uintptr(fd), "tun")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &vnetDevice{f: f, rc: rc, name: string(req.name[:n]), uso: uso}
	d.r.init(rc)
	return d, nil
}

func (d *vnetDevice) Name() string { return d.name }

func (d *vnetDevice) USO() bool { return d.uso }

func (d *vnetDevice) ReadVnet(bufs [][]byte, sizes []int, offset int) (int, error) {
	if offset < encap.VirtioNetHdrLen {
		return 0, errors.New("vnet device: read offset leaves no room for the virtio-net header")
	}
	count, err := d.r.readBatch(bufs, sizes, offset-encap.VirtioNetHdrLen, encap.VirtioNetHdrLen)
	for i := range count {
		sizes[i] -= encap.VirtioNetHdrLen
	}
	return count, err
}

// queueReader reads a device queue a batch per wake-up, as raw system
// calls (see rawRead): first waits in the runtime's poller for the batch's
// first frame, busy polling for it first if asked (DeviceConfig.BusyPoll),
// and drain takes what else is queued without waiting. Both kinds of device
// read this way.
type queueReader struct {
	rc           syscall.RawConn
	first, drain drainer
}

// init sets r up to read through rc, in place: the drainers' functions are
// bound to r's own fields.
func (r *queueReader) init(rc syscall.RawConn) {
	r.rc = rc
	r.first.fn, r.first.park = r.first.read, true
	r.drain.fn = r.drain.read
}

// readBatch reads frame i into bufs[i][at:], its length in sizes[i]: it
// waits for the first, then takes what is queued. A frame shorter than minLen
// (the virtio-net header's length, or 0) ends the batch before it; the
// first one is an error.
func (r *queueReader) readBatch(bufs [][]byte, sizes []int, at, minLen int) (int, error) {
	n, err := r.first.readNow(r.rc, bufs[0][at:])
	if err != nil {
		return 0, err
	}
	if n < minLen {
		return 0, fmt.Errorf("read %d bytes, shorter than the virtio-net header", n)
	}
	sizes[0] = n
	count := 1
	for count < len(bufs) {
		n, err := r.drain.readNow(r.rc, bufs[count][at:])
		if err != nil || n < minLen { // n is -1 when nothing is queued
			break
		}
		sizes[count] = n
		count++
	}
	return count, nil
}

// drainer is a read handed to the runtime poller that never parks there:
// it tries once, or, with busy polling, until something comes or the spin
// is over. Made once, so a read allocates nothing.
type drainer struct {
	buf  []byte
	n    int
	err  error
	poll busyPoll
	park bool // wait in the poller for a frame rather than return none
	fn   func(fd uintptr) bool
}

func (r *drainer) read(fd uintptr) bool {
	r.poll.woke()
	for {
		r.n, r.err = rawRead(fd, r.buf)
		if r.err != unix.EAGAIN {
			return true
		}
		if !r.poll.keep() {
			if r.park {
				r.poll.park()
			}
			return !r.park
		}
	}
}

// readNow reads one frame into buf without waiting in the poller (unless
// r parks): -1 when none came.
func (r *drainer) readNow(rc syscall.RawConn, buf []byte) (int, error) {
	r.buf = buf
	r.poll.start()
	err := rc.Read(r.fn)
	r.buf = nil
	switch {
	case err != nil:
		return 0, closedErr(err)
	case r.err == unix.EAGAIN:
		return -1, nil
	case r.err != nil:
		return 0, r.err
	}
	return r.n, nil
}

// Read reads one frame at bufs[0][offset:]; its virtio-net header lands in
// the bytes before offset. The forwarding loops use ReadVnet; Read serves
// callers that want plain frames and finishes partial checksums for them.
// A super-frame is refused: only ReadVnet's caller can segment it.
func (d *vnetDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if _, err := d.ReadVnet(bufs[:1], sizes[:1], offset); err != nil {
		return 0, err
	}
	n := sizes[0]
	h := encap.VirtioNetHdr(bufs[0][offset-encap.VirtioNetHdrLen : offset])
	if h.GSOType() != encap.VirtioGSONone {
		return 0, errors.New("vnet device: super-frame read through the plain Read")
	}
	if err := encap.CompleteChecksum(bufs[0][offset:offset+n], h); err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

// Write writes plain frames, each behind an all-zero virtio-net header. It
// serves the rare frames vtepd makes itself (ICMP answers) and allocates.
func (d *vnetDevice) Write(bufs [][]byte, offset int) (int, error) {
	w := newVnetWriter()
	var hdr [encap.VirtioNetHdrLen]byte
	for i, b := range bufs {
		if err := d.WriteVnet(w, [][]byte{hdr[:], b[offset:]}); err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}

// maxParts bounds one writev: a coalesced super-frame never has more
// segments than this (Coalesce is given at most this many frames).
const maxParts = 128

// vnetWriter is one writer's scratch space for writev: the iovecs and the
// function handed to the runtime poller, made once so a write allocates
// nothing.
type vnetWriter struct {
	iov   [maxParts + 1]unix.Iovec
	cnt   int
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newVnetWriter() *vnetWriter {
	w := &vnetWriter{}
	w.fn = w.writev
	return w
}

func (w *vnetWriter) writev(fd uintptr) bool {
	w.n, _, w.errno = unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.cnt))
	return w.errno != unix.EAGAIN
}

func (d *vnetDevice) WriteVnet(w *vnetWriter, parts [][]byte) error {
	return writeParts(d.rc, w, parts)
}

// writeParts writes one frame gathered from parts with a raw writev(2)
// through rc, waiting in the poller while the queue is full: how both kinds
// of device write.
func writeParts(rc syscall.RawConn, w *vnetWriter, parts [][]byte) error {
	if len(parts) > len(w.iov) {
		return fmt.Errorf("device: %d parts in one frame, at most %d", len(parts), len(w.iov))
	}
	total := 0
	for i, p := range parts {
		w.iov[i].Base = nil
		if len(p) > 0 {
			w.iov[i].Base = &p[0]
		}
		w.iov[i].SetLen(len(p))
		total += len(p)
	}
	w.cnt = len(parts)
	err := rc.Write(w.fn)
	for i := range parts {
		w.iov[i].Base = nil // keep no frame alive
	}
	if err != nil {
		return closedErr(err)
	}
	if w.errno != 0 {
		return w.errno
	}
	if int(w.n) != total {
		return fmt.Errorf("device: wrote %d of %d bytes", w.n, total)
	}
	return nil
}

func (d *vnetDevice) Close() error { return closeDevice(d.f.Close(), d.name) }

// The forwarding loops make their reads and writes (read(2) and writev(2)
// on a device, recvmmsg(2), sendmsg(2) and sendmmsg(2) on sockets) as raw
// system calls, which do not tell Go's scheduler they are in the kernel,
// and only on descriptors or with flags that cannot block: a call that
// would wait returns EAGAIN, and then the loop waits in the runtime's
// poller (or, for a full send buffer, makes the same call as an ordinary,
// blocking system call). An ordinary system call made while every
// processor is idle wakes the runtime's monitor thread (sysmon), which then
// polls every 20 µs until it has been idle for a millisecond: on a
// data plane that sleeps between bursts, thousands of wake-ups a second
// that do no forwarding (README.md, "Queues and workers", has the figures).
// Never call Fd on these files: it puts the descriptor back in blocking
// mode, and a raw read would then hold its processor, and the garbage
// collector's stop of the world, until a frame came.
// A raw call holds its processor for as long as it runs, which for these
// calls is as long as the kernel takes to pass one batch through its stack.

// closedErr is what a device's read or write returns when its
// syscall.RawConn refuses to run it: the only cause for a device (it sets no
// deadlines) is that it was closed, which the loops test for as os.ErrClosed,
// as os.File's own Read reports it.
func closedErr(err error) error { return fmt.Errorf("%w (%v)", os.ErrClosed, err) }

// rawRead is read(2) on a non-blocking descriptor, made as a raw system
// call (see above).
func rawRead(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func (d *vnetDevice) keepParkClock(p *workerClock) { d.r.first.poll.clock = p }

package netnstest

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value of <linux/ethtool.h>.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with the ifr_data member of its union in use.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(unsafe.Pointer(nil))]byte
}

// SetTxChecksum switches transmit checksum offload of dev in n on or off,
// as `ethtool -K dev tx on|off` does, without needing ethtool.
//
// A veth hands packets to the other namespace with their TCP and UDP
// checksums still to be filled in (the kernel's CHECKSUM_PARTIAL): the
// receiving kernel trusts such packets, but a program that reads one as
// bytes, say the payload of a VXLAN datagram, finds an unfinished checksum.
// A real NIC completes checksums on the wire, and so does the kernel for a
// device without the offload: switching it off on a sender's veth makes the
// veth behave like that NIC.
func (n *NS) SetTxChecksum(t testing.TB, dev string, on bool) {
	t.Helper()
	v := ethtoolValue{cmd: unix.ETHTOOL_STXCSUM}
	if on {
		v.data = 1
	}
	if err := n.Do(t, func() error { return ethtool(dev, &v) }); err != nil {
		t.Fatalf("netnstest: tx checksum offload of %s in %s: %v", dev, n.Name, err)
	}
}

// txChecksum reports whether dev in n has transmit checksum offload on.
func (n *NS) txChecksum(t testing.TB, dev string) bool {
	t.Helper()
	v := ethtoolValue{cmd: unix.ETHTOOL_GTXCSUM}
	if err := n.Do(t, func() error { return ethtool(dev, &v) }); err != nil {
		t.Fatalf("netnstest: tx checksum offload of %s in %s: %v", dev, n.Name, err)
	}
	return v.data != 0
}

// ethtool runs one legacy ethtool command on dev in the calling thread's
// namespace.
func ethtool(dev string, v *ethtoolValue) error {
	if len(dev) >= unix.IFNAMSIZ {
		return fmt.Errorf("device name %q: longer than %d bytes", dev, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return fmt.Errorf("SIOCETHTOOL %#x on %s: %w", v.cmd, dev, errno)
	}
	return nil
}

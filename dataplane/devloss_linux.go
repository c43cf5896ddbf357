package dataplane

import (
	"errors"

	"golang.org/x/sys/unix"
)

// deviceGone reports whether err, from reading a TAP or TUN device, means
// the interface was deleted. Deleting it detaches every descriptor from it
// (tun_detach_all in drivers/net/tun.c): a read of a detached descriptor
// fails with EBADFD, whatever the file's mode. A read that was blocked at
// that moment gets EFAULT instead, once; vtepd's devices are non-blocking,
// and a blocking one would see EBADFD on its next read anyway, so EFAULT is
// left to the ordinary retry.
func deviceGone(err error) bool { return errors.Is(err, unix.EBADFD) }

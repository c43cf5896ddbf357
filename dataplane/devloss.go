package dataplane

import (
	"errors"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"
)

// A network's device can vanish while vtepd runs: `ip link del vx42`, or a
// tool that sweeps interfaces it does not know. The kernel then detaches
// the descriptor vtepd holds, and every read and write on it fails from
// then on; no frame will come again. Retrying, as netDevice.read does for an
// error that may pass, would only spin. The transmit loop ends instead and
// reports the loss, once, to whoever asked with OnDeviceLoss; until the
// network is stopped, what the receive loop has for the device is counted
// as tap_write (tun_write) drops.

// ErrDeviceLost is wrapped by the error OnDeviceLoss reports.
var ErrDeviceLost = errors.New("device deleted while in use")

// deviceLoss is a netDevice's record of its device being gone and of who is to
// hear of it. The transmit loop writes err, OnDeviceLoss writes fn; the
// second of the two to arrive calls fn, and told makes sure only one does.
type deviceLoss struct {
	err  atomic.Pointer[error]
	fn   atomic.Pointer[func(error)]
	told atomic.Bool
}

// OnDeviceLoss asks for f to be called, once, when the network's device
// is found deleted under it; f gets an error that wraps ErrDeviceLost and
// names the device. The network stops forwarding from its device then, but
// stays added until removed. f runs on the network's transmit goroutine (or
// on the caller's, if the device is already gone) and must not block: it
// should hand the news on and return.
func (p *netDevice) OnDeviceLoss(f func(err error)) {
	p.loss.fn.Store(&f)
	p.loss.tell()
}

// lostDevice reports whether err, from a read of the device, says the
// device is gone; if so it records the loss, logs it and tells the
// OnDeviceLoss callback.
func (p *netDevice) lostDevice(err error, log *zap.Logger) bool {
	if !deviceGone(err) {
		return false
	}
	name := p.link.Name()
	lost := fmt.Errorf("device %s: %w (%w)", name, ErrDeviceLost, err)
	if p.loss.err.CompareAndSwap(nil, &lost) {
		log.Error("device lost: deleted while vtepd uses it; its transmit loop ends",
			zap.String("device", name), zap.Error(err))
	}
	p.loss.tell()
	return true
}

// tell calls the callback if both the loss and the callback are known and
// nobody has called it yet.
func (l *deviceLoss) tell() {
	errp, fn := l.err.Load(), l.fn.Load()
	if errp == nil || fn == nil || !l.told.CompareAndSwap(false, true) {
		return
	}
	(*fn)(*errp)
}

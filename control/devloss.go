package control

import "errors"

// What vtepd does when a network's device is deleted under it (`ip link del
// vx42`): the daemon setting on_device_loss, flag --on-device-loss.
const (
	// DeviceLossRecreate makes the device again, with the network's name,
	// address and MTU, and goes on forwarding (the default).
	DeviceLossRecreate = "recreate"
	// DeviceLossExit stops vtepd with exit status 1, for a supervisor that
	// would rather restart it whole.
	DeviceLossExit = "exit"

	// DefaultOnDeviceLoss is what an empty Config.OnDeviceLoss stands for.
	DefaultOnDeviceLoss = DeviceLossRecreate
)

// wantOnDeviceLoss is what on_device_loss accepts, for error messages.
const wantOnDeviceLoss = "want recreate or exit"

// checkOnDeviceLoss accepts the words of on_device_loss; empty stands for
// the default.
func checkOnDeviceLoss(s string) error {
	switch s {
	case "", DeviceLossRecreate, DeviceLossExit:
		return nil
	}
	return errors.New(wantOnDeviceLoss)
}

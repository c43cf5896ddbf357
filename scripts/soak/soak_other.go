//go:build !linux

package main

import (
	"context"
	"errors"
)

func run(context.Context, options) (bool, error) {
	return false, errors.New("needs Linux: network namespaces, TAP devices and AF_PACKET sockets")
}

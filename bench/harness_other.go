//go:build !linux

package bench

import (
	"context"
	"errors"
)

// Run needs Linux: network namespaces, veth pairs and vtepd itself.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	return nil, errors.New("the benchmark harness needs Linux (network namespaces)")
}

package dataplane

import (
	"errors"
	"testing"
)

func TestCountSent(t *testing.T) {
	const hdrLen = 50
	// Inner sizes 100, 200, 300, 400: 1000 bytes in all.
	pkts := [][]byte{make([]byte, hdrLen+100), make([]byte, hdrLen+200), make([]byte, hdrLen+300), make([]byte, hdrLen+400)}
	errSend := errors.New("refused")
	cases := []struct {
		name               string
		sent               int
		err                error
		txPackets, txBytes uint64
		dropped            uint64
	}{
		{"all sent", 4, nil, 4, 1000, 0},
		{"none sent", 0, errSend, 0, 0, 4},
		{"half sent gets half the bytes", 2, errSend, 2, 500, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Counters
			c.init(2)
			countSent(c.shard(1), nil, pkts, hdrLen, tc.sent, tc.err)
			if got := c.Load().TxPackets; got != tc.txPackets {
				t.Errorf("tx packets: got %d, want %d", got, tc.txPackets)
			}
			if got := c.Load().TxBytes; got != tc.txBytes {
				t.Errorf("tx bytes: got %d, want %d", got, tc.txBytes)
			}
			if got := c.DropCount(DropSend); got != tc.dropped {
				t.Errorf("send_error drops: got %d, want %d", got, tc.dropped)
			}
		})
	}
}

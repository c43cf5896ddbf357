package dataplane

import (
	"sync/atomic"
	"testing"
)

// TestCountersSumShards: what each worker counts in its own shard adds up
// when read, per shard and in total, drops included.
func TestCountersSumShards(t *testing.T) {
	var c Counters
	c.init(3)
	for i := range 3 {
		s := c.shard(i)
		s.TxPackets.Add(uint64(i + 1))
		s.RxBytes.Add(100)
		s.drop(nil, DropNoRemote, uint64(i), nil)
		s.Offload.GSOSends.Add(2)
	}
	c.shard(7).Flooded.Add(5) // past the last: the last shard
	got := c.Load()
	if got.TxPackets != 6 || got.RxBytes != 300 || got.Drop(DropNoRemote) != 3 || got.Offload.GSOSends != 6 || got.Flooded != 5 {
		t.Errorf("sum: got %+v, want tx 6 packets, rx 300 bytes, 3 no_remote drops, 6 GSO sends, 5 flooded", got)
	}
	if n := c.DropCount(DropNoRemote); n != 3 {
		t.Errorf("DropCount: got %d, want 3", n)
	}
	if d := c.Drops(); d["no_remote"] != 3 || len(d) != int(numDrops) {
		t.Errorf("Drops: got %v, want every reason, no_remote 3", d)
	}
	sh := c.Shards()
	if len(sh) != 3 || sh[1].TxPackets != 2 || sh[2].Flooded != 5 {
		t.Errorf("shards: got %+v, want 3, the second with 2 packets sent, the last with the 5 flooded", sh)
	}
}

// BenchmarkCounterAdd compares what forwarding workers pay to count: all
// adding to one shared counter, against each to its own shard (what the
// workers do). Run with -cpu 1,2,4,8 to see the shared line's cost grow.
func BenchmarkCounterAdd(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		var c Counters
		c.init(1)
		b.RunParallel(func(pb *testing.PB) {
			s := c.shard(0)
			for pb.Next() {
				s.TxPackets.Add(1)
			}
		})
	})
	b.Run("sharded", func(b *testing.B) {
		var c Counters
		c.init(64)
		var next atomic.Int32
		b.RunParallel(func(pb *testing.PB) {
			s := c.shard(int(next.Add(1)) - 1)
			for pb.Next() {
				s.TxPackets.Add(1)
			}
		})
	})
}

package fdb

import "time"

// epoch anchors Now. time.Since uses the monotonic reading captured here, so
// Now never jumps with wall-clock changes.
var epoch = time.Now()

// Now returns the clock the tables use: monotonic nanoseconds since the
// process started. The data path reads it once per batch and passes it to
// Learn, so learning costs no clock read per packet.
func Now() int64 { return int64(time.Since(epoch)) }

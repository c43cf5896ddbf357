// Package bench measures vtepd against the kernel's own data path on the
// machine it runs on, so that "what does user space cost here?" has an
// answer in figures.
//
// Run builds the same topology for every path (two network namespaces
// joined by a veth pair, each path in a fresh pair) and measures, with
// iperf3 and ping(8): TCP throughput with 1, 4 and 8 flows, the UDP rate that
// arrives at 64, 512 and 1400-byte payloads and its loss, round-trip time
// p50 and p99, and the CPU time vtepd spends per GB moved. The paths are
// the veth alone (no overlay: the ceiling), the kernel's vxlan driver when
// the kernel has one, vtepd VXLAN, vtepd VXLAN again with its workers on
// one thread (GOMAXPROCS=1), vtepd IPIP, IPIP again received through a
// fanout group, and vtepd VXLAN and IPIP with their offloads off
// (AllPaths). Every figure is the
// median of several runs with their min and max, and its ratio to the
// kernel's vxlan. Every path's topology is built before the first run and
// the runs are taken in turn (run 1 of every path, then run 2 of every
// path, and so on), so that a host whose speed drifts during the run moves
// all paths alike. WriteMarkdown, WriteSVG and the JSON encoding of Report
// present the outcome; vtepbench (bench/cmd/vtepbench) is the program
// behind `sudo make bench`.
//
// The package starts processes only inside namespaces it made, sends
// traffic only to addresses inside them and removes them when done, also
// when a run fails or is cancelled. It asserts no speed: its tests check
// that every figure is produced, never how large it is.
package bench

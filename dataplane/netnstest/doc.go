// Package netnstest builds throwaway network namespaces for tests and labs
// that need real devices: namespaces, veth pairs, a bridge joining several
// hosts, processes started inside a namespace, Go code run inside one, and an
// ICMP echo probe. Everything it makes is removed through t.Cleanup, in
// reverse order, also when the test fails or panics.
//
// It drives iproute2 (`ip`) and vishvananda/netns and needs root; RequireRoot
// skips a test with a clear message when either is missing. It is Linux only.
//
// It holds no project logic and nothing in the daemon imports it: only tests
// and the lab tools under scripts/ do.
package netnstest

// Package encap holds the wire formats vtepd reads and writes: Ethernet, IPv4,
// IPv6, UDP and VXLAN headers as typed views over byte slices, the IPIP helpers,
// checksums and the inner-flow hash that picks an outer UDP source port.
//
// It is pure: no I/O, no allocation on any encode or decode path, standard
// library only. It must not import any other vtepd package.
package encap

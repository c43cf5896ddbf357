// Package labs holds the tests of the network-namespace labs in this
// directory: shell scripts that rebuild, step by step, the classic
// experiments of container networking (veth, bridge, VXLAN unicast and
// multicast, IPIP) with iproute2, vtepd and the kernel's own devices.
//
// The package has no code of its own; its test runs each lab as root and
// checks what the lab printed and that it left nothing behind.
package labs

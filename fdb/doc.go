// Package fdb holds forwarding state: the L2 table (VNI, MAC) -> remote VTEP
// with learning, ageing, static entries, per-VNI limits and flood lists, and the
// L3 route table prefix -> remote used by IPIP networks.
//
// Lookups on the per-packet path take no lock and allocate nothing: they read
// immutable snapshots published through atomic pointers. The package does no
// I/O and must not import any other vtepd package.
package fdb

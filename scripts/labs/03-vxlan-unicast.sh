#!/usr/bin/env bash
# Lab 03: VXLAN between two hosts, unicast, with vtepd and with the kernel.
#
# VXLAN (RFC 7348) stretches one Ethernet segment over an IP network: a
# VTEP (VXLAN tunnel endpoint) puts each Ethernet frame, with an 8-byte
# VXLAN header carrying a 24-bit VNI (the segment's number), into a UDP
# datagram to port 4789 of the VTEP behind which the destination MAC lives.
# Like a bridge it learns where each MAC is, but "where" is the address of
# a remote VTEP, learnt from the outer source of what it receives. Frames
# for MACs it does not know yet (and broadcasts such as ARP requests) go to
# every VTEP of its flood list: --remote for vtepd, remote for the kernel.
#
# Two namespaces are the two hosts, a veth pair their cable: the "underlay"
# 10.0.0.0/24. The overlay 192.168.42.0/24 rides on it in VNI 42.
#
# Run as root from anywhere:   sudo scripts/labs/03-vxlan-unicast.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

A=lab03-a-$$
B=lab03-b-$$

# flooded NAME: how many frames the vtepd NAME has flooded on vx42.
flooded() {
  ctl_quiet "$1" stats | awk '/^vx42:/ { n = 1 } n && $1 == "fdb:" { for (i = 1; i < NF; i++) if ($i == "flooded") print $(i + 1); exit }'
}

two_hosts "$A" "$B"
ping_ok "$A" 10.0.0.2
explain "This is the underlay, the network the hosts already have. The tunnel needs" \
  "nothing else from it than that the two VTEPs reach each other."

# --- part 1: vtepd --------------------------------------------------------------

step "vtepd at both ends: VNI 42, each with the other as its flood list"
start_vtepd "$A" a --vni 42 --local 10.0.0.1 --remote 10.0.0.2 --addr 192.168.42.1/24
start_vtepd "$B" b --vni 42 --local 10.0.0.2 --remote 10.0.0.1 --addr 192.168.42.2/24
on "$A" ip addr show vx42
on "$B" ip -br link show vx42
explain "vtepd made a TAP device vx42 on each host: what the kernel sends out of vx42," \
  "vtepd reads as an Ethernet frame and sends on inside UDP. Its MTU is 1450: the" \
  "underlay's 1500 minus the 50 bytes of outer headers."
B_MAC=$(mac_of "$B" vx42)

step "$A's forwarding database before any traffic"
ctl a fdb show
explain "One entry: the all-zero MAC, 'permanent', is the flood list. Anything vtepd has" \
  "no better entry for goes to each VTEP listed there (head-end replication)."
fdb=$(ctl_quiet a fdb show)
grep -qx "00:00:00:00:00:00 dev vx42 dst 10.0.0.2 self permanent" <<<"$fdb" ||
  die "no flood entry to 10.0.0.2 in $A's fdb: $fdb"
if grep -q "^$B_MAC " <<<"$fdb"; then die "$A knows $B's vx42 ($B_MAC) before any traffic: $fdb"; fi
ok "$A floods to 10.0.0.2 and knows no MAC yet"
before=$(flooded a)

step "Predict, then ping: what would vtepd on $A do with a frame to $B's MAC?"
ctl a trace --simulate "dst $B_MAC to 192.168.42.2"
explain "--simulate runs a frame through vtepd's live tables and sends nothing. $A does not" \
  "know $B_MAC yet: an unknown unicast frame is flooded to the flood list, 10.0.0.2." \
  "The source port is the one this flow's packets get (a hash of the inner headers)."
predicted=$(ctl_quiet a trace --simulate "dst $B_MAC to 192.168.42.2")
grep -q "lookup: unknown unicast: flood to 10.0.0.2" <<<"$predicted" ||
  die "the what-if on $A did not predict a flood to 10.0.0.2: $predicted"
PORT=$(sed -n 's/.*10\.0\.0\.1:\([0-9]*\) > .*/\1/p' <<<"$predicted")

step "Ping across the overlay, from 192.168.42.1 to 192.168.42.2, watched three ways"
explain "tcpdump on $A's underlay device shows the VXLAN packets as the network sees them;" \
  "vtepctl trace shows vtepd's own view, stage by stage; vtepctl capture writes both the" \
  "inner frames and the outer packets to pcap files for Wireshark. tcpdump's filter looks" \
  "inside the tunnel: udp[28:2] is the inner EtherType (8 bytes of UDP header, 8 of VXLAN," \
  "12 of MAC addresses in), udp[39] the inner IP protocol; it keeps ARP and ICMP."
sniff wire "$A" eth0 -c 4 "$(inner_filter 4789)"
trace_bg ping a --count 1 --match icmp
capture_bg ping a vx42 --match icmp --count 2
ping_ok "$A" 192.168.42.2
sniffed wire
explain "Each line is one UDP datagram between the hosts' eth0 (10.0.0.1 and 10.0.0.2) to" \
  "port 4789, and tcpdump decodes it: 'VXLAN, flags [I] (0x08), vni 42', then the frame" \
  "inside, ARP or ICMP between the overlay addresses."
if [ -n "${SNIFF_PID[wire]:-}" ]; then
  grep -q "VXLAN, flags \[I\] (0x08), vni 42" <<<"$SNIFFED" || die "tcpdump on $A saw no VXLAN vni 42: $SNIFFED"
  grep -q "^[0-9:.]* IP 10\.0\.0\.1\.$PORT > 10\.0\.0\.2\.4789: VXLAN" <<<"$SNIFFED" ||
    die "no packet from port $PORT, the one --simulate predicted: $SNIFFED"
  ok "the echo requests left from port $PORT, as --simulate predicted"
fi
traced ping
explain "trace followed one echo request through vtepd on $A: read from vx42 (device-in)," \
  "looked up (a hit: the ARP exchange taught $A where $B is), encapsulated (encap), sent."
grep -q "lookup" <<<"$TRACED" || die "vtepctl trace showed no lookup: $TRACED"
captured ping
explain "Wireshark (tshark is its command line) opens the file and decodes the same layers."
tshark_echo 192.168.42.1 192.168.42.2 "the capture holds an echo request and its reply"

step "$A's forwarding database after the ping"
ctl a fdb show
explain "The ARP request for 192.168.42.2 was a broadcast: vtepd on $A flooded it to 10.0.0.2." \
  "vtepd on $B learnt $A's MAC from it (outer source 10.0.0.1) and sent the answer" \
  "straight back; from that answer $A learnt '$B_MAC dst 10.0.0.2'," \
  "the MAC of $B's vx42. The echo requests that followed went to 10.0.0.2 alone."
grep -qx "$B_MAC dev vx42 dst 10.0.0.2 self" <<<"$(ctl_quiet a fdb show)" ||
  die "$A did not learn $B_MAC at 10.0.0.2: $(ctl_quiet a fdb show)"
ok "$A learnt $B_MAC dst 10.0.0.2"
ctl a trace --simulate "dst $B_MAC to 192.168.42.2"
explain "Asked again, vtepd now has an entry: the same frame would go to 10.0.0.2 alone."
grep -q "lookup: hit, $B_MAC dst 10.0.0.2, learnt" <<<"$(ctl_quiet a trace --simulate "dst $B_MAC to 192.168.42.2")" ||
  die "the what-if on $A did not predict a hit at 10.0.0.2"
ok "the prediction changed from a flood to a hit"

step "$A's counters"
ctl a stats
explain "RX and TX count frames between vx42 and the tunnel; 'flooded' the frames sent to" \
  "the flood list, 'learnt' the MACs learnt; every drop has a counter named for its reason."
after=$(flooded a)
[ "$after" -gt "$before" ] || die "flooded on $A: got $after after the ping, want more than $before"
ok "$A flooded $((after - before)) frame(s) for the ping: the ARP request"

step "What one of those packets looks like, byte by byte"
ctl a explain --network vx42 --to 192.168.42.2
explain "Built by vtepd on $A from what it has now, sending nothing: vx42's MAC and" \
  "address, $B's MAC from the FDB, VNI 42, and the source port this flow gets ($PORT," \
  "the one tcpdump saw). Only the outer Ethernet header is left to the kernel."
explained=$(ctl_quiet a explain --network vx42 --to 192.168.42.2)
grep -qE "^20-21 .* source port +$PORT " <<<"$explained" ||
  die "explain --network did not give the flow's source port $PORT: $explained"
ok "the explained packet leaves from port $PORT, as the real ones did"

step "Stop both vtepds: each removes its vx42"
stop_vtepd a
stop_vtepd b
for ns in "$A" "$B"; do
  if ip -n "$ns" link show vx42 >/dev/null 2>&1; then die "vx42 still present in $ns after vtepd stopped"; fi
done
ok "vx42 is gone from both hosts"

# --- part 2: the kernel's vxlan -------------------------------------------------

step "The same with the kernel's vxlan driver"
if ! ip -n "$A" link add vxprobe type vxlan id 1 dstport 4789 2>/dev/null; then
  explain "This kernel has no vxlan driver: skipping the kernel's side (parts 2 and 3)."
  exit 0
fi
ip -n "$A" link del vxprobe
explain "The same parameters vtepd got: VNI, UDP port, local address and the remote VTEP" \
  "(the flood list), and the underlay device."
for h in "$A 10.0.0.1 10.0.0.2 192.168.42.1" "$B 10.0.0.2 10.0.0.1 192.168.42.2"; do
  read -r ns local remote addr <<<"$h"
  run ip -n "$ns" link add vx42 type vxlan id 42 dstport 4789 local "$local" remote "$remote" dev eth0
  run ip -n "$ns" addr add "$addr/24" dev vx42
  run ip -n "$ns" link set vx42 up
done
on "$A" ip -d link show vx42
explain "-d shows the vxlan parameters: id 42, remote, local, dev eth0, dstport 4789."
on "$B" ip -br link show vx42
B_MAC=$(mac_of "$B" vx42)

step "The kernel's forwarding database before and after a ping"
on "$A" bridge fdb show dev vx42
ping_ok "$A" 192.168.42.2
on "$A" bridge fdb show dev vx42
explain "The same two kinds of entry vtepctl showed, printed the same way: the all-zero" \
  "flood entry ('via eth0', the device it leaves by) and the MAC of $B's vx42," \
  "learnt at 10.0.0.2."
fdb=$(ip netns exec "$A" bridge fdb show dev vx42)
grep -q "^00:00:00:00:00:00 dst 10.0.0.2 .*permanent" <<<"$fdb" || die "no kernel flood entry to 10.0.0.2 on $A: $fdb"
grep -q "^$B_MAC dst 10.0.0.2 self" <<<"$fdb" || die "the kernel on $A did not learn $B_MAC at 10.0.0.2: $fdb"
ok "the kernel on $A learnt $B_MAC dst 10.0.0.2"
run ip -n "$A" link del vx42
run ip -n "$B" link del vx42

# --- part 3: one of each --------------------------------------------------------

step "Mixed: vtepd on $A, the kernel's vxlan on $B"
explain "The two speak the same protocol, so they interoperate. Over a veth the kernel" \
  "leaves the inner TCP/UDP checksum of what its vxlan sends for a NIC to finish" \
  "(checksum offload), and a veth never does: vtepd recognises such a checksum and" \
  "finishes it, counting it as 'checksums: N completed' in vtepctl stats."
run ip -n "$B" link add vx42 type vxlan id 42 dstport 4789 local 10.0.0.2 remote 10.0.0.1 dev eth0
run ip -n "$B" addr add 192.168.42.2/24 dev vx42
run ip -n "$B" link set vx42 up
start_vtepd "$A" a2 --vni 42 --local 10.0.0.1 --remote 10.0.0.2 --addr 192.168.42.1/24
on "$A" ip -br link show vx42
on "$B" ip -br link show vx42
A_MAC=$(mac_of "$A" vx42)
B_MAC=$(mac_of "$B" vx42)
ping_ok "$A" 192.168.42.2
ping_ok "$B" 192.168.42.1
ctl a2 fdb show
on "$B" bridge fdb show dev vx42
grep -qx "$B_MAC dev vx42 dst 10.0.0.2 self" <<<"$(ctl_quiet a2 fdb show)" ||
  die "vtepd on $A did not learn the kernel's $B_MAC at 10.0.0.2: $(ctl_quiet a2 fdb show)"
ok "vtepd on $A learnt the kernel's vx42 ($B_MAC) at 10.0.0.2"
fdb=$(ip netns exec "$B" bridge fdb show dev vx42)
grep -q "^$A_MAC dst 10.0.0.1 self" <<<"$fdb" || die "the kernel on $B did not learn vtepd's $A_MAC at 10.0.0.1: $fdb"
ok "the kernel on $B learnt vtepd's vx42 ($A_MAC) at 10.0.0.1"

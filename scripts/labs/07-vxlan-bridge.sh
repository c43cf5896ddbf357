#!/usr/bin/env bash
# Lab 07: VXLAN and a bridge for containers, and the MTU trap that goes with
# them.
#
# This is Docker's overlay network and flannel's first design: on each host
# the containers hang off a bridge (lab 02), and the VTEP's device is one
# more port of that bridge. A container's frame for a container on the
# other host goes through the bridge to the VTEP, which carries it over the
# underlay; the bridges on both sides learn the remote container's MAC on
# the VTEP port, and the VTEPs learn it behind the other host.
#
# The trap: VXLAN costs 50 bytes, so the VTEP's device has an MTU of 1450,
# while a container's veth has 1500. A full-size packet from a container
# reaches the bridge, which cannot forward it into a smaller port and drops
# it, counting it nowhere. Small packets pass, large ones vanish.
#
# Run as root from anywhere:   sudo scripts/labs/07-vxlan-bridge.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

# txbytes NAME: the TX bytes of vtepd NAME's vx42.
txbytes() { ctl_quiet "$1" stats | awk '$1 == "vx42:" { n = 1 } n && $1 == "TX:" { print $5; exit }'; }

A=lab07-a-$$
B=lab07-b-$$
C1=lab07-c1-$$
C2=lab07-c2-$$

two_hosts "$A" "$B"

step "On each host a bridge, vtepd's vx42 as one of its ports, and a container"
explain "vtepd makes vx42 without an address: it is a switch port now, not an interface" \
  "of the host. The containers get veths into br0 and addresses in 10.20.0.0/24, the" \
  "overlay's one subnet, stretched over both hosts."
for h in "$A 10.0.0.1 10.0.0.2 $C1 10.20.0.11" "$B 10.0.0.2 10.0.0.1 $C2 10.20.0.12"; do
  read -r host local remote ctr addr <<<"$h"
  name=a
  [ "$host" = "$B" ] && name=b
  start_vtepd "$host" "$name" --vni 42 --local "$local" --remote "$remote"
  run ip -n "$host" link add br0 type bridge
  run ip -n "$host" link set vx42 master br0
  run ip -n "$host" link set br0 up
  add_ns "$ctr"
  run ip -n "$host" link add veth0 type veth peer name eth0 netns "$ctr"
  run ip -n "$host" link set veth0 master br0
  run ip -n "$host" link set veth0 up
  run ip -n "$ctr" addr add "$addr/24" dev eth0
  run ip -n "$ctr" link set eth0 up
done
on "$A" bridge link show
explain "Two ports on br0: veth0 (the container) and vx42 (the tunnel). Note the MTUs:" \
  "1500 for the container's side, 1450 for vx42."
on "$C2" ip -br link show eth0
C2_MAC=$(mac_of "$C2" eth0)

C1_MAC=$(mac_of "$C1" eth0)

step "Container to container: $C1 (10.20.0.11) pings $C2 (10.20.0.12)"
sniff wire "$A" eth0 -e -c 4 "$(inner_filter 4789)"
trace_bg ping a --count 1 --match "icmp and src host 10.20.0.11"
capture_bg ping a vx42 --match icmp --count 2
ping_ok "$C1" 10.20.0.12
sniffed wire
explain "With -e tcpdump prints the Ethernet headers too, both of them: the outer one between" \
  "the hosts' eth0, and inside the VXLAN header the containers' own frame," \
  "$C1_MAC > $C2_MAC: the bridge sent the container's frame into the tunnel as it was."
if [ -n "${SNIFF_PID[wire]:-}" ]; then
  grep -q "^$C1_MAC > $C2_MAC, ethertype IPv4 .*10\.20\.0\.11 > 10\.20\.0\.12: ICMP echo request" <<<"$SNIFFED" ||
    die "tcpdump saw no frame of $C1 to $C2 inside VXLAN: $SNIFFED"
  ok "the containers' own MACs crossed inside the tunnel"
fi
traced ping
explain "In vtepd on $A the frame came in from vx42 with $C1's MAC, not the host's: vtepd" \
  "forwards whatever the bridge hands it, by the FDB entry of $C2's MAC."
grep -q "ethernet $C1_MAC > $C2_MAC" <<<"$TRACED" && grep -q "fdb hit: $C2_MAC is behind 10.0.0.2" <<<"$TRACED" ||
  die "the trace on $A does not show $C1's frame sent to 10.0.0.2: $TRACED"
captured ping
tshark_echo 10.20.0.11 10.20.0.12 "the capture holds the containers' ping"
on "$A" bridge fdb show br br0 dynamic
explain "$A's bridge learnt $C2's MAC ($C2_MAC) on port vx42: the tunnel is where it lives."
grep -q "^$C2_MAC dev vx42 master br0" <<<"$(bridge -n "$A" fdb show br br0 dynamic)" ||
  die "$A's bridge did not learn $C2_MAC on vx42"
ctl a fdb show
explain "And vtepd on $A learnt the same MAC behind 10.0.0.2: one MAC, two tables, each" \
  "answering its own question (which port; which host)."
grep -qx "$C2_MAC dev vx42 dst 10.0.0.2 self" <<<"$(ctl_quiet a fdb show)" || die "vtepd on $A did not learn $C2_MAC at 10.0.0.2"
ok "$C2's MAC is in both of $A's tables"

step "The MTU trap: a full-size packet from the container"
explain "ping -s 1472 -M do: 1472 bytes of data + 8 ICMP + 20 IP = 1500, the container's" \
  "MTU, with DF set. It leaves the container whole, and then?"
before=$(txbytes a)
printf '+ ip netns exec %s ping -c 2 -W 1 -M do -s 1472 10.20.0.12\n' "$C1"
if ip netns exec "$C1" ping -c 2 -W 1 -M do -s 1472 10.20.0.12; then
  die "a 1500-byte packet crossed a 1450-byte tunnel"
fi
ctl a stats
explain "Lost, and vtepd's counters did not move: the packet never reached vtepd. The" \
  "bridge could not forward a 1500-byte frame into vx42 (MTU 1450) and dropped it" \
  "without a counter or an ICMP error: the container's kernel cannot learn a smaller" \
  "path MTU, so TCP connections stall once they send full segments."
after=$(txbytes a)
[ $((after - before)) -lt 1500 ] || die "vtepd sent $((after - before)) more bytes: the packet reached it"
ok "the packet vanished before vtepd: its TX bytes grew by $((after - before)), less than one such frame"

step "Fix it: the containers' MTU is the tunnel's, 1450"
explain "What Docker and flannel do: give the containers the overlay's MTU, so the kernel" \
  "of the container makes packets that fit (1450 - 20 - 8 = 1422 bytes of ping data)."
run ip -n "$C1" link set eth0 mtu 1450
run ip -n "$C2" link set eth0 mtu 1450
on "$C1" ping -c 2 -W 1 -M do -s 1472 10.20.0.12 || true
explain "Now the container's own kernel refuses the 1500-byte packet up front ('message" \
  "too long, mtu=1450'): the error is where it can be seen. What fits, crosses:"
run ip netns exec "$C1" ping -c 2 -M do -s 1422 10.20.0.12 || die "a 1450-byte packet did not cross"
ok "full-size packets for the new MTU cross"
explain "The other fix, vtepd's own: --mtu 1500 on vx42 and the outer packets over 1500 are" \
  "cut into IPv4 fragments (df unset, as the kernel's vxlan does), at a cost per packet."

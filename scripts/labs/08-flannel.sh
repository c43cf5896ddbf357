#!/usr/bin/env bash
# Lab 08: flannel's two backends, VXLAN without flooding, then host-gw.
#
# flannel gives each node a /24 of the pod network (10.244.1.0/24 on host A,
# 10.244.2.0/24 on host B) and, in VXLAN mode, a device flannel.1 with VNI 1
# on UDP port 8472, learning off and no flood list. flanneld knows every
# node's VTEP address and MAC from the Kubernetes API, and writes for each
# other node three entries, so that nothing is ever flooded or learnt:
#   a route    10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
#   a neighbour 10.244.2.0 lladdr <B's flannel.1 MAC> dev flannel.1 permanent
#   an FDB entry <B's flannel.1 MAC> dst 10.0.0.2 dev flannel.1 permanent
# In host-gw mode there is no tunnel at all: the hosts share a network, so
# the route is simply 10.244.2.0/24 via 10.0.0.2 dev eth0.
#
# Run as root from anywhere:   sudo scripts/labs/08-flannel.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

A=lab08-a-$$
B=lab08-b-$$
PA=lab08-pod-a-$$
PB=lab08-pod-b-$$

# flooded NAME: the frames vtepd NAME flooded on flannel.1.
flooded() {
  ctl_quiet "$1" stats | awk '/^flannel.1:/ { n = 1 } n && $1 == "fdb:" { for (i = 1; i < NF; i++) if ($i == "flooded") print $(i + 1); exit }'
}

step "Two hosts, $A (10.0.0.1) and $B (10.0.0.2), each with a pod"
add_ns "$A"
add_ns "$B"
wire "$A" "$B"
for h in "$A 10.0.0.1 1 $PA" "$B 10.0.0.2 2 $PB"; do
  read -r host addr n pod <<<"$h"
  run ip -n "$host" addr add "$addr/24" dev eth0
  run ip -n "$host" link set eth0 up
  add_ns "$pod"
  run ip -n "$host" link add veth0 type veth peer name eth0 netns "$pod"
  run ip -n "$host" addr add "10.244.$n.1/24" dev veth0
  run ip -n "$host" link set veth0 up
  run ip netns exec "$host" sysctl -qw net.ipv4.ip_forward=1
  run ip -n "$pod" addr add "10.244.$n.2/24" dev eth0
  run ip -n "$pod" link set eth0 up
  run ip -n "$pod" route add default via "10.244.$n.1"
done

# --- VXLAN mode -----------------------------------------------------------------

step "VXLAN mode: flannel.1 by vtepd, VNI 1, port 8472, learning off, no flood list"
start_vtepd "$A" a --vni 1 --name flannel.1 --dstport 8472 --local 10.0.0.1 --learning=false --addr 10.244.1.0/32
start_vtepd "$B" b --vni 1 --name flannel.1 --dstport 8472 --local 10.0.0.2 --learning=false --addr 10.244.2.0/32
MAC_A=$(mac_of "$A" flannel.1)
MAC_B=$(mac_of "$B" flannel.1)

step "What flanneld writes on $A for $B: an FDB entry, a neighbour, a route"
ctl a fdb add "$MAC_B" dst 10.0.0.2 dev flannel.1
run ip -n "$A" neigh add 10.244.2.0 lladdr "$MAC_B" dev flannel.1 nud permanent
run ip -n "$A" route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
explain "onlink: the gateway 10.244.2.0 is not in any of $A's subnets, and onlink tells the" \
  "kernel to take it as directly reachable on flannel.1 anyway."
explain "The same on $B for $A:"
ctl b fdb add "$MAC_A" dst 10.0.0.1 dev flannel.1
run ip -n "$B" neigh add 10.244.1.0 lladdr "$MAC_A" dev flannel.1 nud permanent
run ip -n "$B" route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink

step "Where would a packet for $B's pod go? Ask the kernel, then vtepd"
on "$A" ip route get 10.244.2.2
explain "The kernel: to flannel.1, its next hop 10.244.2.0, whose MAC the neighbour entry" \
  "gives without an ARP request."
ip -n "$A" route get 10.244.2.2 | grep -q "via 10.244.2.0 dev flannel.1" || die "$A would not send 10.244.2.2 via flannel.1"
ctl a trace --simulate "dst $MAC_B to 10.244.2.2"
explain "vtepd: the static FDB entry sends it to 10.0.0.2 alone."
grep -q "lookup: hit, $MAC_B dst 10.0.0.2, static" <<<"$(ctl_quiet a trace --simulate "dst $MAC_B to 10.244.2.2")" ||
  die "vtepd on $A would not send $MAC_B to 10.0.0.2"
ok "both agree: via flannel.1 to 10.0.0.2"

step "Pod to pod, and not one frame flooded"
sniff wire "$A" eth0 -c 2 -T vxlan "$(inner_filter 8472)"
trace_bg ping a --count 1 --match icmp
capture_bg ping a flannel.1 --match icmp --count 2
ping_ok "$PA" 10.244.2.2
sniffed wire
explain "tcpdump decodes VXLAN on port 4789 by itself; on flannel's port 8472 it needs" \
  "'-T vxlan'. Inside: the pod's packet, 10.244.1.2 > 10.244.2.2, from one flannel.1 to the" \
  "other, VNI 1."
if [ -n "${SNIFF_PID[wire]:-}" ]; then
  grep -q "10\.0\.0\.1\.[0-9]* > 10\.0\.0\.2\.8472: VXLAN, flags \[I\] (0x08), vni 1$" <<<"$SNIFFED" &&
    grep -q "IP 10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request" <<<"$SNIFFED" ||
    die "tcpdump saw no VXLAN packet to port 8472 with the pod's ping: $SNIFFED"
  ok "the pod's ping crossed as VXLAN to port 8472"
fi
traced ping
grep -q "fdb hit: $MAC_B is behind 10.0.0.2" <<<"$TRACED" || die "the trace on $A shows no FDB hit for $MAC_B: $TRACED"
captured ping
if [ -n "$TSHARK" ]; then
  explain "tshark too decodes VXLAN only on port 4789: here it sees plain UDP." \
    "-d 'udp.port==8472,vxlan' tells it what flannel's port carries."
  printf '+ tshark -r %s -d udp.port==8472,vxlan\n' "$WORK/ping.pcap"
  tsh=$(tshark -r "$WORK/ping.pcap" -d udp.port==8472,vxlan 2>&1 | grep -v "^Running as user" || true)
  printf '%s\n' "$tsh"
  tshark_echo 10.244.1.2 10.244.2.2 "the capture holds the pod's ping" "$tsh"
fi
ctl a stats
[ "$(flooded a)" -eq 0 ] || die "vtepd on $A flooded $(flooded a) frame(s); flannel's entries should leave nothing to flood"
ok "nothing was flooded, nothing learnt: every answer was written down in advance"
stop_vtepd a
stop_vtepd b

# --- host-gw mode ---------------------------------------------------------------

step "host-gw mode: no tunnel, the other host is the gateway"
explain "With both hosts on one network, flannel's host-gw backend needs no encapsulation:" \
  "each host routes the other's pod subnet to it directly, as a router would."
run ip -n "$A" route add 10.244.2.0/24 via 10.0.0.2 dev eth0
run ip -n "$B" route add 10.244.1.0/24 via 10.0.0.1 dev eth0
on "$A" ip route get 10.244.2.2
ip -n "$A" route get 10.244.2.2 | grep -q "via 10.0.0.2 dev eth0" || die "$A would not send 10.244.2.2 via 10.0.0.2"
sniff plain "$A" eth0 -c 1 icmp
ping_ok "$PA" 10.244.2.2
sniffed plain
explain "On the wire the pod's packet as it is, 10.244.1.2 > 10.244.2.2: no outer header," \
  "no overhead, but the hosts must share a layer-2 network (or the routers between them" \
  "must know the pod subnets)."
if [ -n "${SNIFF_PID[plain]:-}" ]; then
  grep -q "IP 10\\.244\\.1\\.2 > 10\\.244\\.2\\.2: ICMP echo request" <<<"$SNIFFED" || die "no plain pod packet on the wire: $SNIFFED"
  ok "the pod's packet crossed unencapsulated"
fi

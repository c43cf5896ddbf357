#!/usr/bin/env bash
# Lab 04: VXLAN with a multicast group instead of a flood list.
#
# In lab 03 each VTEP had to be told every other VTEP (--remote). With a
# multicast group (RFC 7348 section 4.2) a VTEP sends what it would flood to
# the group address once, the underlay delivers it to every VTEP that
# joined, and nobody needs a peer list: a new host joins the group and is
# found. Replies, and everything after learning, still go unicast.
#
# The VNI keeps segments apart even when they share a group: a VTEP drops
# what arrives for a VNI it does not serve.
#
# Three hosts share one underlay switch (a bridge in a fourth namespace);
# hosts 1 and 2 are on VNI 42, host 3 on VNI 43, all in group 239.1.1.1.
#
# Run as root from anywhere:   sudo scripts/labs/04-vxlan-multicast.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

HUB=lab04-hub-$$ # the underlay switch
H1=lab04-h1-$$
H2=lab04-h2-$$
H3=lab04-h3-$$
GROUP=239.1.1.1

# unknown_vni NAME: the underlay's unknown_vni drop counter of vtepd NAME.
unknown_vni() {
  ctl_quiet "$1" stats | awk '/^underlay:/ { u = 1 } u && $1 == "drops:" { for (i = 2; i < NF; i++) if ($i == "unknown_vni") print $(i + 1); exit }'
}

# rx_packets NAME NETWORK: the RX packets vtepd NAME counts for NETWORK.
rx_packets() {
  ctl_quiet "$1" stats | awk -v net="$2:" '$1 == net { n = 1 } n && $1 == "RX:" { print $3; exit }'
}

step "Three hosts on one underlay switch: br0 in $HUB, 10.0.0.0/24"
add_ns "$HUB"
run ip -n "$HUB" link add br0 type bridge mcast_snooping 0
run ip -n "$HUB" link set br0 up
explain "mcast_snooping 0: the switch floods multicast to every port, as a simple switch" \
  "does. With snooping it would send a group only to ports it heard IGMP reports from," \
  "which relies on a querier (a router asking for reports) this network does not have."
plug "$HUB" "$H1" "$H2" "$H3"
ping_ok "$H1" 10.0.0.3

# --- part 1: vtepd --------------------------------------------------------------

step "vtepd on each host, all in group $GROUP, no --remote anywhere"
sniff join "$H2" eth0 -v -c 1 igmp
start_vtepd "$H1" v1 --vni 42 --local 10.0.0.1 --group "$GROUP" --dev eth0 --addr 192.168.42.1/24
start_vtepd "$H2" v2 --vni 42 --local 10.0.0.2 --group "$GROUP" --dev eth0 --addr 192.168.42.2/24
start_vtepd "$H3" v3 --vni 43 --local 10.0.0.3 --group "$GROUP" --dev eth0 --addr 192.168.43.3/24
on "$H1" ip maddr show dev eth0
explain "'inet $GROUP': vtepd joined the group on eth0 (--dev), so the host now accepts" \
  "packets sent to it; the join is announced on the wire with IGMP. 'link" \
  "01:00:5e:01:01:01' is the Ethernet address the group maps to (RFC 1112 section 6.4:" \
  "01:00:5e and the low 23 bits of the group), which eth0 now accepts too."
ip -n "$H1" maddr show dev eth0 | grep -qE "inet +$GROUP\$" || die "$H1's eth0 is not in $GROUP"
ok "$H1 joined $GROUP on eth0"
sniffed join
explain "Host 2 saw host 1's IGMP membership report for $GROUP: what tells a snooping switch" \
  "(or a multicast router) to send the group's packets to that port."
if [ -n "${SNIFF_PID[join]:-}" ]; then
  grep -q "10\.0\.0\.1 > 224\.0\.0\.22: igmp v3 report" <<<"$SNIFFED" && grep -q "gaddr $GROUP" <<<"$SNIFFED" ||
    die "no IGMP report of 10.0.0.1 for $GROUP: $SNIFFED"
  ok "the join was on the wire"
fi

step "Host 1's forwarding database: the flood entry is the group"
ctl v1 fdb show
grep -qx "00:00:00:00:00:00 dev vx42 dst $GROUP self permanent" <<<"$(ctl_quiet v1 fdb show)" ||
  die "the flood entry of $H1 is not $GROUP: $(ctl_quiet v1 fdb show)"
ok "$H1 floods to $GROUP"

on "$H2" ip -br link show vx42
H2_MAC=$(mac_of "$H2" vx42)
drops3=$(unknown_vni v3)
rx3=$(rx_packets v3 vx43)
tap3=$(counter "$H3" vx43 rx_packets)

step "Host 1 pings host 2 on VNI 42"
sniff group "$H2" eth0 -v -c 1 dst "$GROUP"
trace_bg h3 v3 --count 1
capture_bg h1 v1 vx42 --match arp --count 2
ping_ok "$H1" 192.168.42.2
sniffed group
explain "The ARP request as host 2 received it: to $GROUP, and 'ttl 1', so no router takes it" \
  "further than this network (--mcast-ttl, as the kernel's vxlan sends to its group)."
if [ -n "${SNIFF_PID[group]:-}" ]; then
  grep -q "ttl 1," <<<"$SNIFFED" && grep -q "10\.0\.0\.1\.[0-9]* > $GROUP\.4789: VXLAN, flags \[I\] (0x08), vni 42" <<<"$SNIFFED" ||
    die "no VXLAN packet to $GROUP with ttl 1: $SNIFFED"
  ok "host 1 flooded to $GROUP with ttl 1"
fi
captured h1
explain "vtepd on host 1 captured the ARP exchange as it crossed the underlay: the request" \
  "to $GROUP, host 2's answer to 10.0.0.1 alone. (Over VXLAN, tshark puts the inner" \
  "frame's addresses in its columns; 'tshark -V' shows every layer.) The answer came" \
  "through vtepd's UDP socket, which hands over the payload alone: its outer IP and UDP" \
  "headers in the file are vtepctl's, rebuilt from the sender's address and port."
if [ -n "$TSHARK" ]; then
  grep -q "ARP .*Who has 192\.168\.42\.2? Tell 192\.168\.42\.1" <<<"$TSHARK" &&
    grep -q "ARP .*192\.168\.42\.2 is at $H2_MAC" <<<"$TSHARK" || die "tshark found no ARP exchange in the capture: $TSHARK"
  tshark_fields h1 ip.dst ip.ttl vxlan.vni arp.opcode
  explain "Field by field: the request's outer destination is $GROUP with TTL 1, the" \
    "answer's 10.0.0.1 (its TTL vtepctl's); both VNI 42; ARP opcode 1 is a request, 2 a reply."
  grep -qP "^$GROUP\t1\t42\t1$" <<<"$FIELDS" || die "the captured request is not to $GROUP, ttl 1, vni 42: $FIELDS"
  ok "the capture shows the request to $GROUP and the unicast answer"
fi
ctl v1 fdb show
explain "The ARP request went to $GROUP and reached both other hosts. Host 2 answered" \
  "unicast, and host 1 learnt '$H2_MAC dst 10.0.0.2' from the answer."
grep -qx "$H2_MAC dev vx42 dst 10.0.0.2 self" <<<"$(ctl_quiet v1 fdb show)" ||
  die "$H1 did not learn $H2_MAC at 10.0.0.2: $(ctl_quiet v1 fdb show)"
ok "$H1 learnt $H2_MAC dst 10.0.0.2 without being told of host 2"

step "Host 3, on VNI 43, got the flooded ARP request too, and dropped it"
traced h3
explain "vtepd on host 3 traced the packet it got: VNI 42, which it does not serve, dropped" \
  "at socket-in as unknown_vni before any network saw it."
grep -q "unknown_vni" <<<"$TRACED" || die "the trace on $H3 shows no unknown_vni drop: $TRACED"
ctl v3 stats
explain "underlay 'unknown_vni' counts packets for a VNI host 3 does not serve: the ARP" \
  "request of VNI 42. vx43 received nothing: RX packets did not move."
got=$(unknown_vni v3)
[ "$got" -gt "$drops3" ] || die "unknown_vni on $H3: got $got, want more than $drops3 (the ARP request of VNI 42)"
ok "$H3 dropped $((got - drops3)) packet(s) as unknown_vni"
got=$(rx_packets v3 vx43)
[ "$got" = "$rx3" ] || die "RX packets of vx43 on $H3: got $got, want $rx3 (nothing of VNI 42)"
got=$(counter "$H3" vx43 rx_packets)
[ "$got" = "$tap3" ] || die "frames delivered to vx43 on $H3: got $got, want $tap3 (nothing of VNI 42)"
ok "nothing of VNI 42 reached vx43 on $H3"

step "Stop the three vtepds"
for name in v1 v2 v3; do stop_vtepd "$name"; done

# --- part 2: the kernel's vxlan -------------------------------------------------

step "The same with the kernel's vxlan driver in group mode"
if ! ip -n "$H1" link add vxprobe type vxlan id 1 dstport 4789 2>/dev/null; then
  explain "This kernel has no vxlan driver: skipping the kernel's side."
  exit 0
fi
ip -n "$H1" link del vxprobe
for h in "$H1 10.0.0.1 42 192.168.42.1" "$H2 10.0.0.2 42 192.168.42.2" "$H3 10.0.0.3 43 192.168.43.3"; do
  read -r ns local vni addr <<<"$h"
  run ip -n "$ns" link add "vx$vni" type vxlan id "$vni" dstport 4789 local "$local" group "$GROUP" dev eth0
  run ip -n "$ns" addr add "$addr/24" dev "vx$vni"
  run ip -n "$ns" link set "vx$vni" up
done
on "$H2" ip -br link show vx42
H2_MAC=$(mac_of "$H2" vx42)
eth3=$(counter "$H3" eth0 rx_packets)
on "$H1" bridge fdb show dev vx42
ping_ok "$H1" 192.168.42.2
on "$H1" bridge fdb show dev vx42
explain "The flood entry is the group, and host 2's MAC was learnt at 10.0.0.2, as vtepd did."
fdb=$(ip netns exec "$H1" bridge fdb show dev vx42)
grep -q "^00:00:00:00:00:00 dst $GROUP .*permanent" <<<"$fdb" || die "the kernel's flood entry on $H1 is not $GROUP: $fdb"
grep -q "^$H2_MAC dst 10.0.0.2 self" <<<"$fdb" || die "the kernel on $H1 did not learn $H2_MAC at 10.0.0.2: $fdb"
ok "the kernel on $H1 learnt $H2_MAC dst 10.0.0.2"
on "$H3" ip -s link show vx43
explain "The group's packets reached host 3's eth0 as before; its kernel has no device for" \
  "VNI 42 and drops them without a counter of its own: vx43 shows nothing received."
got=$(counter "$H3" eth0 rx_packets)
[ "$got" -gt "$eth3" ] || die "packets received by eth0 of $H3 during the ping: got none, want the group's"
got=$(counter "$H3" vx43 rx_packets)
[ "$got" = 0 ] || die "frames received by the kernel's vx43 on $H3: got $got, want 0"
ok "nothing of VNI 42 reached the kernel's vx43 on $H3"

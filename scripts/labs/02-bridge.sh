#!/usr/bin/env bash
# Lab 02: a bridge joining two namespaces, the docker0 topology.
#
# A Linux bridge is a switch in software: devices attached to it become its
# ports, and it forwards Ethernet frames between them by destination MAC.
# It learns which MAC is behind which port from the source address of each
# frame it receives, and floods a frame to every port while the destination
# is still unknown (and always for broadcasts such as ARP requests).
#
# Run as root from anywhere:   sudo scripts/labs/02-bridge.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh"

HOST=lab02-host-$$ # holds the bridge, as the host holds docker0
C1=lab02-c1-$$     # two containers
C2=lab02-c2-$$

step "Three namespaces: a host $HOST and two containers, $C1 and $C2"
add_ns "$HOST"
add_ns "$C1"
add_ns "$C2"

step "The bridge br0 in $HOST"
run ip -n "$HOST" link add br0 type bridge
run ip -n "$HOST" link set br0 up

step "Each container gets eth0; the other end of its veth becomes a port of br0"
i=0
for c in "$C1" "$C2"; do
  i=$((i + 1))
  run ip -n "$HOST" link add "veth$i" type veth peer name eth0 netns "$c"
  run ip -n "$HOST" link set "veth$i" master br0
  run ip -n "$HOST" link set "veth$i" up
  run ip -n "$c" addr add "10.0.2.1$i/24" dev eth0
  run ip -n "$c" link set eth0 up
done
explain "A port has no address of its own: frames that arrive on it belong to the bridge."
on "$HOST" bridge link show
explain "Both ports are 'master br0' and in state forwarding. Spanning tree is off (the" \
  "default), so a port forwards as soon as its link is up."
for port in veth1 veth2; do
  ip -n "$HOST" link show "$port" | grep -q 'master br0' || die "$port is not a port of br0"
done
ok "veth1 and veth2 are ports of br0"

C1_MAC=$(mac_of "$C1" eth0)
C2_MAC=$(mac_of "$C2" eth0)
echo "eth0 of $C1 is $C1_MAC, eth0 of $C2 is $C2_MAC"

step "The forwarding database before any traffic"
on "$HOST" bridge fdb show br br0
explain "Only 'permanent' entries: the bridge's own ports' MACs, and multicast groups it" \
  "always delivers. Neither container's MAC is there yet."
fdb=$(ip netns exec "$HOST" bridge fdb show br br0)
if grep -q -e "^$C1_MAC " -e "^$C2_MAC " <<<"$fdb"; then
  die "br0 knows a container's MAC before any traffic: $fdb"
fi
ok "br0 has learnt no container's MAC yet"

step "Ping from $C1 to $C2 through the bridge"
ping_ok "$C1" 10.0.2.12

step "The forwarding database after the ping"
on "$HOST" bridge fdb show br br0
explain "$C1's ARP request for 10.0.2.12 was a broadcast: br0 flooded it to every port and" \
  "learnt '$C1_MAC dev veth1'. The answer came in on veth2 and taught it" \
  "'$C2_MAC dev veth2'; from then on each frame goes to one port only." \
  "Learnt entries are forgotten after ageing_time (300 s, 'ip -d link show br0')."
fdb=$(ip netns exec "$HOST" bridge fdb show br br0)
grep -q "^$C1_MAC dev veth1 master br0" <<<"$fdb" || die "br0 did not learn $C1_MAC on veth1: $fdb"
grep -q "^$C2_MAC dev veth2 master br0" <<<"$fdb" || die "br0 did not learn $C2_MAC on veth2: $fdb"
ok "br0 learnt $C1_MAC on veth1 and $C2_MAC on veth2"

step "The bridge as the containers' gateway, as docker0 is"
explain "br0 is also a device of $HOST: give it an address on the containers' subnet and" \
  "the host itself is reachable through the bridge. With a default route via that" \
  "address in each container, forwarding and NAT on the host, this is Docker's bridge network."
run ip -n "$HOST" addr add 10.0.2.1/24 dev br0
ping_ok "$C1" 10.0.2.1
on "$HOST" ip neigh show dev br0
ip -n "$HOST" neigh show dev br0 | grep -q "^10\.0\.2\.11 lladdr $C1_MAC " ||
  die "$HOST has no neighbour entry 10.0.2.11 lladdr $C1_MAC on br0"
ok "$HOST knows 10.0.2.11 is at $C1_MAC, behind br0"

#!/usr/bin/env bash
# Lab 01: a veth pair between two network namespaces.
#
# A network namespace is a separate copy of the network stack: its own
# devices, addresses, routes, neighbour table and sockets. A container's
# network is one. A veth pair is a cable with two ends: what goes in one end
# comes out of the other, and each end can live in a different namespace.
# This is how a container runtime gives a container its eth0.
#
# Run as root from anywhere:   sudo scripts/labs/01-veth.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh"

# The pid in every name keeps two runs apart.
RED=lab01-red-$$
BLUE=lab01-blue-$$
END_RED=vred-$$ # device names are at most 15 characters
END_BLUE=vblue-$$

step "Two namespaces, $RED and $BLUE: two containers with nothing in them yet"
add_ns "$RED"
add_ns "$BLUE"
on "$RED" ip link show
explain "Only the loopback: a new namespace sees none of the host's devices."

step "A veth pair, made in the host's own namespace"
ROOT_LINKS+=("$END_RED" "$END_BLUE")
run ip link add "$END_RED" type veth peer name "$END_BLUE"
run ip -d link show "$END_RED"
explain "'$END_RED@$END_BLUE': each end names its peer. The 'veth' line of -d (details)" \
  "says what kind of device it is."

step "Each end moves into its namespace and is renamed eth0, as a container runtime does"
run ip link set "$END_RED" netns "$RED"
run ip link set "$END_BLUE" netns "$BLUE"
run ip -n "$RED" link set "$END_RED" name eth0
run ip -n "$BLUE" link set "$END_BLUE" name eth0
explain "A device lives in exactly one namespace: both ends are gone from the host now," \
  "and both namespaces have an eth0 of their own."

step "Addresses on one subnet, and the link up"
run ip -n "$RED" addr add 10.0.1.1/24 dev eth0
run ip -n "$BLUE" addr add 10.0.1.2/24 dev eth0
run ip -n "$RED" link set eth0 up
run ip -n "$BLUE" link set eth0 up
on "$RED" ip -d addr show eth0

step "Who is at the other end: the peer's ifindex"
on "$RED" ip link show eth0
on "$BLUE" ip link show eth0
explain "Each eth0 is shown as 'eth0@ifN': N is the interface index of its peer, the number" \
  "before the name on the other side. The peer is in another namespace, so ip gives its" \
  "number, and link-netns says which namespace that is."
if command -v ethtool >/dev/null; then
  on "$RED" ethtool -S eth0
  explain "ethtool -S says the same: peer_ifindex."
fi
peer=$(ip -n "$RED" -o link show eth0 | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p')
blue_index=$(ip netns exec "$BLUE" cat /sys/class/net/eth0/ifindex)
[ "$peer" = "$blue_index" ] || die "$RED's eth0 names peer ifindex '$peer', want $blue_index (the ifindex of $BLUE's eth0)"
ok "$RED's eth0@if$peer is $BLUE's eth0 (ifindex $blue_index)"

step "Ping across the cable, and the neighbour table before and after"
on "$RED" ip neigh show dev eth0
explain "Empty: $RED has not needed anyone's MAC address yet."
ping_ok "$RED" 10.0.1.2
on "$RED" ip neigh show dev eth0
explain "To send the first echo request, $RED asked by ARP who has 10.0.1.2; the answer" \
  "(the MAC of $BLUE's eth0) is kept in the neighbour table."
blue_mac=$(mac_of "$BLUE" eth0)
ip -n "$RED" neigh show dev eth0 | grep -q "^10\.0\.1\.2 lladdr $blue_mac " ||
  die "$RED's neighbour table has no entry 10.0.1.2 lladdr $blue_mac"
ok "$RED knows 10.0.1.2 is at $blue_mac, the MAC of $BLUE's eth0"

step "Unplug one end: set $BLUE's eth0 down"
run ip -n "$BLUE" link set eth0 down
on "$RED" ip link show eth0
explain "$RED's end is still administratively UP but reports NO-CARRIER and state DOWN:" \
  "a veth pair is one cable, and when either end is down, so is the link."
ip -n "$RED" link show eth0 | grep -q NO-CARRIER || die "$RED's eth0 still has carrier with its peer down"
ok "$RED's eth0 lost its carrier"

#!/usr/bin/env bash
# Lab 09: MACVLAN, the kernel alone.
#
# MACVLAN makes several sub-interfaces on one parent device, each with a MAC
# of its own (unlike IPVLAN, whose sub-interfaces share the parent's): each
# container gets one, and to the network behind the parent it is one more
# host on the wire. How the sub-interfaces reach each other is the mode:
#   bridge  the parent switches between them itself;
#   private they cannot reach each other at all;
#   vepa    everything goes out to the switch, which must send it back
#           (hairpin) for two sub-interfaces to talk.
# In no mode does the parent reach its own sub-interfaces: a container on
# MACVLAN cannot ping its host's address on the parent.
#
# A "host" namespace has eth0, a veth to a port of br0 in a "switch"
# namespace; the containers' MACVLANs sit on eth0. (This kernel has no
# ipvlan driver, so IPVLAN, the articles' other experiment, cannot run.)
#
# Run as root from anywhere:   sudo scripts/labs/09-macvlan.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh"

SW=lab09-switch-$$
H=lab09-host-$$
C1=lab09-c1-$$
C2=lab09-c2-$$

# reach FROM ADDR: whether one echo request from FROM to ADDR is answered.
reach() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }

step "A host, its eth0 plugged into a switch, and two containers"
add_ns "$SW"
add_ns "$H"
add_ns "$C1"
add_ns "$C2"
run ip -n "$SW" link add br0 type bridge
run ip -n "$SW" link set br0 up
run ip -n "$SW" link add p0 type veth peer name eth0 netns "$H"
run ip -n "$SW" link set p0 master br0
run ip -n "$SW" link set p0 up
run ip -n "$H" addr add 10.30.0.1/24 dev eth0
run ip -n "$H" link set eth0 up

# macvlans MODE: the two containers' MACVLANs on eth0 in MODE.
macvlans() {
  for c in "$C1 m1 10.30.0.11" "$C2 m2 10.30.0.12"; do
    read -r ns dev addr <<<"$c"
    ip -n "$ns" link del eth0 2>/dev/null || true
    run ip -n "$H" link add "$dev" link eth0 type macvlan mode "$1"
    run ip -n "$H" link set "$dev" netns "$ns"
    run ip -n "$ns" link set "$dev" name eth0
    run ip -n "$ns" addr add "$addr/24" dev eth0
    run ip -n "$ns" link set eth0 up
  done
}

step "bridge mode: the parent switches between its sub-interfaces"
macvlans bridge
on "$C1" ip -d link show eth0
explain "'macvlan mode bridge' on eth0 of $H, and a MAC of its own."
ping_ok "$C1" 10.30.0.12
[ "$(mac_of "$C1" eth0)" != "$(mac_of "$C2" eth0)" ] || die "the two MACVLANs share a MAC"
ok "each container has its own MAC: $(mac_of "$C1" eth0), $(mac_of "$C2" eth0)"
printf '+ ip netns exec %s ping -c 1 -W 1 10.30.0.1\n' "$C1"
if reach "$C1" 10.30.0.1; then die "$C1 reached its host's 10.30.0.1 on the parent"; fi
explain "But not the host itself: a MACVLAN never talks to its parent. The host needs a" \
  "MACVLAN of its own on eth0 to reach its containers."
ok "$C1 cannot reach the parent's 10.30.0.1"

step "private mode: no traffic between sub-interfaces at all"
macvlans private
printf '+ ip netns exec %s ping -c 1 -W 1 10.30.0.12\n' "$C1"
if reach "$C1" 10.30.0.12; then die "private MACVLANs reached each other"; fi
ok "$C1 cannot reach $C2 in private mode"

step "vepa mode: out to the switch and back, if the switch hairpins"
macvlans vepa
printf '+ ip netns exec %s ping -c 1 -W 1 10.30.0.12\n' "$C1"
if reach "$C1" 10.30.0.12; then die "VEPA MACVLANs reached each other without hairpin"; fi
explain "Each frame left eth0 for the switch, and a switch never sends a frame back out of" \
  "the port it came in by. Unless told to: hairpin on that port (802.1Qbg's reflective relay)."
run ip netns exec "$SW" bridge link set dev p0 hairpin on
on "$SW" bridge -d link show dev p0
ping_ok "$C1" 10.30.0.12
ok "with hairpin on the switch port, VEPA sub-interfaces talk through the switch"

#!/usr/bin/env bash
# Lab 06: BGP EVPN, the control plane that replaces flooding and peer lists.
#
# Labs 03 and 04 found peers by a typed list or a multicast group, and MACs
# by flooding and learning: every broadcast and every frame for an unknown
# MAC is copied to every host. BGP EVPN (RFC 7432, RFC 8365), what FRR's
# advertise-all-vni and data-centre switches run, has each VTEP announce
# over BGP instead:
#   - a type 3 route per VNI, "send this VNI's broadcast to me": the flood
#     list fills itself;
#   - a type 2 route per MAC behind it, with its IP address when known:
#     every VTEP has every MAC before a frame is sent, and can answer ARP
#     for a remote host itself (ARP suppression) instead of flooding.
#
# Three hosts on one underlay switch run vtepd with --evpn and iBGP (AS
# 65000) to each other; nobody has --remote, and vtepd learns nothing
# from frames (learning is off on EVPN networks).
#
# Run as root from anywhere:   sudo scripts/labs/06-evpn.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

HUB=lab06-hub-$$ # the underlay switch
H1=lab06-h1-$$
H2=lab06-h2-$$
H3=lab06-h3-$$

# stat NAME WORD: the number after WORD in vtepd NAME's vx42 stats.
stat() {
  ctl_quiet "$1" stats | awk -v w="$2" '/^vx42:/ { n = 1; next } /^[^ ]/ { n = 0 } n { for (i = 1; i < NF; i++) if ($i == w) { print $(i + 1); exit } }'
}

# rx NAME: the RX packets of vtepd NAME's vx42.
rx() { ctl_quiet "$1" stats | awk '$1 == "vx42:" { n = 1 } n && $1 == "RX:" { print $3; exit }'; }

# answers_arp NAME IP: whether vtepd NAME would answer an ARP request for IP
# itself, from a peer's type 2 route (its neighbour table, not its BGP RIB).
answers_arp() { grep -q "answered from the device" <<<"$(ctl_quiet "$1" trace --simulate "arp $2")"; }

# evpn_ready: whether what the next steps rely on has come over BGP: in v1's
# FDB the flood entry (type 3) and the MAC (type 2) of $H2 and $H3; in v1's
# routes their type 3 routes and type 2 routes with MAC and address; and
# ARP answered in vtepd both ways of the ping, for 192.168.42.2 on v1 and
# 192.168.42.1 on v2 (v1's MAC/IP route), so that no ARP is flooded.
evpn_ready() {
  local fdb routes i mac
  fdb=$(ctl_quiet v1 fdb show) || return 1
  routes=$(ctl_quiet v1 evpn routes) || return 1
  for i in 2 3; do
    mac=$(eval echo "\$H${i}_MAC")
    grep -qx "00:00:00:00:00:00 dev vx42 dst 10.0.0.$i self permanent" <<<"$fdb" &&
      grep -qx "$mac dev vx42 dst 10.0.0.$i self extern_learn" <<<"$fdb" &&
      grep -q "^> vni 42 rd 10.0.0.$i:1 \[2\]:\[$mac\]:\[192.168.42.$i\] next-hop 10.0.0.$i from 10.0.0.$i" <<<"$routes" &&
      grep -q "^> vni 42 rd 10.0.0.$i:1 \[3\]:\[10.0.0.$i\] next-hop 10.0.0.$i from 10.0.0.$i" <<<"$routes" || return 1
  done
  answers_arp v1 192.168.42.2 && answers_arp v2 192.168.42.1
}

step "Three hosts on one underlay switch: br0 in $HUB, 10.0.0.0/24"
add_ns "$HUB"
run ip -n "$HUB" link add br0 type bridge
run ip -n "$HUB" link set br0 up
plug "$HUB" "$H1" "$H2" "$H3"
ping_ok "$H1" 10.0.0.3

step "vtepd with EVPN on each host: BGP to the other two, no --remote"
for i in 1 2 3; do
  h=$(eval echo "\$H$i")
  others=()
  for j in 1 2 3; do [ "$j" = "$i" ] || others+=(--bgp-neighbor "10.0.0.$j"); done
  start_vtepd "$h" "v$i" --vni 42 --local "10.0.0.$i" --addr "192.168.42.$i/24" --evpn --bgp-asn 65000 "${others[@]}"
done
explain "--bgp-asn runs a BGP speaker inside vtepd (GoBGP); --bgp-neighbor names a peer" \
  "of the same AS (iBGP, port 179); --evpn announces the network over it."

step "The sessions come up"
for _ in $(seq 100); do
  [ "$(ctl_quiet v1 bgp neighbors | grep -c Established)" -eq 2 ] && break
  sleep 0.1
done
ctl v1 bgp neighbors
[ "$(ctl_quiet v1 bgp neighbors | grep -c Established)" -eq 2 ] || die "v1's sessions did not come up"
ok "v1 has both sessions Established"

step "What the routes say, before any ping"
H2_MAC=$(mac_of "$H2" vx42)
H3_MAC=$(mac_of "$H3" vx42)
ready=
for _ in $(seq 300); do
  evpn_ready && ready=1 && break
  sleep 0.1
done
[ -n "$ready" ] || die "the routes did not all arrive within 30 s (want on v1 the flood entries and MACs of" \
  "10.0.0.2 and 10.0.0.3, their [2]:[MAC]:[IP] and [3] routes, and ARP for 192.168.42.2 answered;" \
  "on v2 ARP for 192.168.42.1 answered): v1 fdb: $(ctl_quiet v1 fdb show); v1 routes:" \
  "$(ctl_quiet v1 evpn routes); v1 arp 192.168.42.2: $(ctl_quiet v1 trace --simulate "arp 192.168.42.2");" \
  "v2 arp 192.168.42.1: $(ctl_quiet v2 trace --simulate "arp 192.168.42.1")"
ctl v1 evpn routes
explain "Each host announced a type 3 route ([3]:[its address]) and type 2 routes for" \
  "its vx42's MAC, alone and with its address ([2]:[MAC]:[IP]). '>' marks the best" \
  "path, 'local' our own; the RD (route distinguisher) is router-id:index, as FRR's."
ctl v1 fdb show
explain "The flood list (00:00:00:00:00:00) came from the type 3 routes, the MACs from" \
  "type 2, marked extern_learn as the kernel marks what FRR installs: nobody typed" \
  "them, and no frame has crossed yet."
fdb=$(ctl_quiet v1 fdb show)
grep -qx "00:00:00:00:00:00 dev vx42 dst 10.0.0.3 self permanent" <<<"$fdb" || die "no flood entry to 10.0.0.3 on v1: $fdb"
grep -qx "$H2_MAC dev vx42 dst 10.0.0.2 self extern_learn" <<<"$fdb" || die "v1 has no extern_learn entry for $H2_MAC: $fdb"
ok "v1 knows $H2_MAC at 10.0.0.2 from BGP"

step "Ping 192.168.42.2 from $H1: the ARP request is answered on $H1"
rx3=$(rx v3)
sniff wire "$H1" eth0 -c 2 "$(inner_filter 4789)"
trace_bg arp v1 --count 1 --match arp
capture_bg ping v1 vx42 --match icmp --count 2
ping_ok "$H1" 192.168.42.2
traced arp
explain "vtepd's view of the ARP request: read from vx42, looked up and suppressed, the" \
  "answer ('is-at $H2_MAC') written back into vx42: no encap, nothing sent. (The answer's" \
  "write is a frame of its own: trace --count 2 shows it too.)"
grep -q "suppressed: answered" <<<"$TRACED" && grep -q "is-at $H2_MAC" <<<"$TRACED" ||
  die "the trace on $H1 shows no ARP answer written back into vx42: $TRACED"
if grep -q "socket-out" <<<"$TRACED"; then die "the trace on $H1 shows the ARP request sent: $TRACED"; fi
ok "vtepd on $H1 answered the ARP request itself"
sniffed wire
explain "On the wire, the first VXLAN packets are already the echo request and its reply:" \
  "no ARP crossed."
if [ -n "${SNIFF_PID[wire]:-}" ]; then
  grep -q "10\.0\.0\.1\.[0-9]* > 10\.0\.0\.2\.4789: VXLAN" <<<"$SNIFFED" &&
    grep -q "ICMP echo request" <<<"$SNIFFED" || die "tcpdump on $H1 saw no echo request to 10.0.0.2: $SNIFFED"
  if grep -q "ARP" <<<"$SNIFFED"; then die "an ARP frame crossed the underlay: $SNIFFED"; fi
  ok "only the ping crossed the underlay"
fi
captured ping
tshark_echo 192.168.42.1 192.168.42.2 "the capture holds the echo request and its reply"
ctl v1 stats
on "$H1" ip neigh show dev vx42
explain "The ARP request for 192.168.42.2 never left $H1: vtepd there answered it with" \
  "$H2's MAC from $H2's type 2 route ('arp: suppressed 1'), and the echo requests went" \
  "straight to 10.0.0.2. Nothing was flooded, so $H3 saw none of it."
[ "$(stat v1 suppressed)" -ge 1 ] || die "v1 suppressed no ARP request: $(ctl_quiet v1 stats)"
[ "$(stat v1 flooded)" -eq 0 ] || die "v1 flooded $(stat v1 flooded) frame(s), want none"
[ "$(rx v3)" -eq "$rx3" ] || die "$H3 received $(($(rx v3) - rx3)) frame(s) during the ping, want none"
ok "ARP answered locally, nothing flooded, $H3 undisturbed"

step "$H3 stops: its routes are withdrawn"
stop_vtepd v3
for _ in $(seq 100); do
  grep -q "10.0.0.3" <<<"$(ctl_quiet v1 fdb show)" || break
  sleep 0.1
done
ctl v1 fdb show
ctl v1 bgp neighbors
grep -q "10.0.0.3" <<<"$(ctl_quiet v1 fdb show)" && die "v1 still has $H3's entries: $(ctl_quiet v1 fdb show)"
ok "$H3's flood entry and MAC are gone from v1"
explain "A stopped vtepd closes its sessions; its peers withdraw what it announced at once." \
  "A host that just vanishes is noticed when the hold time (90 s) runs out."

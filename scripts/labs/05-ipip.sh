#!/usr/bin/env bash
# Lab 05: IPIP between two hosts, each with a block of pod addresses behind
# it, as Calico's IPIP mode builds it.
#
# IPIP (RFC 2003) puts an IPv4 packet inside another IPv4 header (protocol
# 4) and nothing else: 20 bytes of overhead, against VXLAN's 50. There is no
# Ethernet inside, so no MAC learning and no flooding: the tunnel is a
# route. Each host owns a block (10.244.0.0/24 on host A, 10.244.1.0/24 on
# host B) and knows, for every other block, which host to send it to. First
# we type those routes; then, as Calico does, the hosts announce their
# blocks over BGP (with BIRD, Calico's BGP daemon, as route reflector) and
# the routes arrive by themselves.
#
# vtepd builds the tunnel from a TUN device (a device that carries IP
# packets, no Ethernet) and a raw socket for protocol 4.
#
# Run as root from anywhere:   sudo scripts/labs/05-ipip.sh
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd

HUB=lab05-hub-$$ # the underlay switch
A=lab05-a-$$
B=lab05-b-$$
POD_A=lab05-pod-a-$$
POD_B=lab05-pod-b-$$

step "Two hosts, $A (10.0.0.1) and $B (10.0.0.2), on one switch"
add_ns "$HUB"
run ip -n "$HUB" link add br0 type bridge
run ip -n "$HUB" link set br0 up
plug "$HUB" "$A" "$B"
ping_ok "$A" 10.0.0.2

step "vtepd in IPIP mode on each host: its own block on ipip0, a route to the other's"
start_vtepd "$A" a --mode ipip --local 10.0.0.1 --name ipip0 --addr 10.244.0.1/24 --route 10.244.1.0/24=10.0.0.2
start_vtepd "$B" b --mode ipip --local 10.0.0.2 --name ipip0 --addr 10.244.1.1/24 --route 10.244.0.0/24=10.0.0.1
on "$A" ip link show ipip0
explain "ipip0 is a TUN device: 'link/none', no MAC address, as nothing but IP goes through" \
  "it. MTU 1480: the underlay's 1500 minus the 20 bytes of the outer IPv4 header."
on "$A" ip route
explain "'10.244.1.0/24 dev ipip0': vtepd told the kernel to send $B's block into the tunnel."
ip -n "$A" route show 10.244.1.0/24 | grep -q "dev ipip0" || die "$A has no route 10.244.1.0/24 dev ipip0"
ok "$A routes 10.244.1.0/24 into ipip0"
ctl a route show
explain "And inside the tunnel, vtepd's own table says which host each block lives on."
ctl a trace --simulate "dst 10.244.1.10"
ctl a trace --simulate "dst 10.244.7.1"
explain "Asked what it would do with a packet, sending nothing: one to $B's block takes the" \
  "route to 10.0.0.2; one to a block nobody announced would be dropped as no_remote."
grep -q "lookup: route 10.244.1.0/24 via 10.0.0.2" <<<"$(ctl_quiet a trace --simulate "dst 10.244.1.10")" ||
  die "the what-if on $A did not take the route to 10.0.0.2"

step "Host to host across the tunnel: 10.244.0.1 to 10.244.1.1"
sniff wire "$A" eth0 -v -c 2 ip proto 4
trace_bg ping a --count 1 --match icmp
capture_bg ping a ipip0 --match icmp --count 2
ping_ok "$A" 10.244.1.1
sniffed wire
explain "On the underlay each packet is one IPv4 header (10.0.0.1 > 10.0.0.2, 'proto IPIP" \
  "(4)'; older tcpdumps print 'ipip-proto-4') around the inner one (10.244.0.1 >" \
  "10.244.1.1). No UDP, no Ethernet inside: 20 bytes of overhead, 104 against 84."
if [ -n "${SNIFF_PID[wire]:-}" ]; then
  grep -q "proto IPIP (4), length 104)" <<<"$SNIFFED" &&
    grep -q "10\.0\.0\.1 > 10\.0\.0\.2: IP (.*proto ICMP (1), length 84)" <<<"$SNIFFED" ||
    die "tcpdump saw no IPIP echo request: $SNIFFED"
  ok "the echo request crossed as IPIP"
fi
traced ping
explain "vtepd's view of one echo request: read from ipip0 (no Ethernet: the packet starts" \
  "at its IP header), the route that chose 10.0.0.2, the one header put in front."
grep -q "route 10.244.1.0/24: 10.244.1.1 via 10.0.0.2" <<<"$TRACED" || die "the trace on $A shows no route lookup: $TRACED"
captured ping
if [ -n "$TSHARK" ]; then
  tshark_fields ping ip.src ip.dst ip.proto
  explain "Two IP headers in each packet, so each field twice, outer first: 10.0.0.1 to" \
    "10.0.0.2 protocol 4 (IPIP), then 10.244.0.1 to 10.244.1.1 protocol 1 (ICMP)."
  grep -qP "^10\.0\.0\.1,10\.244\.0\.1\t10\.0\.0\.2,10\.244\.1\.1\t4,1$" <<<"$FIELDS" ||
    die "the capture holds no IPIP echo request from 10.0.0.1 to 10.0.0.2: $FIELDS"
  ok "the capture shows the echo request inside IPIP"
fi
ctl a stats

step "What one of those packets looks like, byte by byte"
ctl a explain --network ipip0 --to 10.244.1.1
explain "Built by vtepd on $A from its live tables, sending nothing: the route picked" \
  "10.0.0.2, and the outer header takes the inner one's DF bit (df inherit)."
explained=$(ctl_quiet a explain --network ipip0 --to 10.244.1.1)
grep -qE "^16-19 +0a 00 00 02 +outer IPv4 +destination +10\.0\.0\.2" <<<"$explained" &&
  grep -qE "^9 +04 +outer IPv4 +protocol +4 \(IPIP\)" <<<"$explained" ||
  die "explain --network ipip0 did not build an IPIP packet to 10.0.0.2: $explained"
ok "the explained packet goes to 10.0.0.2 as IPIP"

step "A pod behind each host, wired as Calico wires it"
explain "Each pod gets a veth and a /32 address; its default route points at 169.254.1.1," \
  "an address nobody has. The host's end, cali0, answers the pod's ARP for it with" \
  "its own MAC (proxy_arp; proxy_delay 0, or each answer waits up to 0.8 s), so the" \
  "pod hands everything to the host, which routes it (ip_forward). The host has a" \
  "/32 route to each of its pods. Proxy ARP answers only for addresses the host can" \
  "route, so each host also gets the default route every real node has (10.0.0.254" \
  "stands in for its router; nothing here goes there)."
for h in "$A $POD_A 10.244.0.10" "$B $POD_B 10.244.1.10"; do
  read -r host pod addr <<<"$h"
  add_ns "$pod"
  run ip -n "$host" link add cali0 type veth peer name eth0 netns "$pod"
  run ip -n "$host" link set cali0 address ee:ee:ee:ee:ee:ee mtu 1480
  run ip -n "$host" link set cali0 up
  run ip netns exec "$host" sysctl -qw net.ipv4.conf.cali0.proxy_arp=1 net.ipv4.neigh.cali0.proxy_delay=0 net.ipv4.ip_forward=1
  run ip -n "$host" route add "$addr/32" dev cali0
  run ip -n "$host" route add default via 10.0.0.254 dev eth0
  run ip -n "$pod" addr add "$addr/32" dev eth0
  run ip -n "$pod" link set eth0 mtu 1480 up
  run ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
  run ip -n "$pod" route add default via 169.254.1.1 dev eth0
done

step "Pod to pod: 10.244.0.10 on $A to 10.244.1.10 on $B"
ping_ok "$POD_A" 10.244.1.10
on "$A" ip -br link show cali0
on "$POD_A" ip neigh
explain "The pod's only neighbour is its gateway, 169.254.1.1, at the MAC of cali0 on $A:" \
  "ee:ee:ee:ee:ee:ee, the one Calico gives every cali interface (the pod never needs to" \
  "tell its host's interfaces apart). Its MTU is 1480, the tunnel's, as Calico sets it," \
  "so the pod itself makes packets that fit once wrapped."
cali_mac=$(mac_of "$A" cali0)
ip -n "$POD_A" neigh show | grep -q "^169\.254\.1\.1 dev eth0 lladdr $cali_mac " ||
  die "$POD_A has no neighbour 169.254.1.1 at $cali_mac (cali0 of $A, by proxy ARP)"
ok "$A answered for 169.254.1.1 with cali0's MAC $cali_mac"
on "$A" ip route
explain "On the way: the pod's gateway is $A; $A's route 10.244.1.0/24 sends the packet into" \
  "ipip0; vtepd wraps it for 10.0.0.2; vtepd on $B unwraps it into $B's ipip0, and" \
  "$B's route 10.244.1.10 dev cali0 delivers it to the pod. Two hosts routed it on" \
  "the way: hence ttl=62 in the replies, not 64."
ctl b stats
rx=$(ctl_quiet b stats | awk '$1 == "ipip0:" { n = 1 } n && $1 == "RX:" { print $3; exit }')
[ "${rx:-0}" -ge 6 ] || die "RX packets of ipip0 on $B: got ${rx:-none}, want at least 6 (three pings of $A, three of $POD_A)"
ok "vtepd on $B received $rx packets through the tunnel"

step "Calico's own route shape: via the node, onlink"
explain "With the kernel's ipip, Calico routes each peer block 'via <node> dev tunl0 onlink':" \
  "the kernel's tunl0 takes the outer destination from the route's gateway. vtepd's" \
  "routes have no via, '10.244.1.0/24 dev ipip0', as its own table holds the next hop." \
  "Calico's shape works on vtepd's TUN too: onlink lets a gateway sit on a device with" \
  "no subnet of its own, and a TUN has no link layer, so the kernel hands the packet" \
  "over without resolving the gateway; vtepd still picks the endpoint from its table."
run ip -n "$A" route replace 10.244.1.0/24 via 10.0.0.2 dev ipip0 onlink
on "$A" ip route show 10.244.1.0/24
on "$A" ip route get 10.244.1.10
ip -n "$A" route get 10.244.1.10 | grep -q "via 10\.0\.0\.2 dev ipip0" || die "$A would not route 10.244.1.10 via 10.0.0.2 dev ipip0"
ping_ok "$POD_A" 10.244.1.10

# --- the routes from BGP ---------------------------------------------------------

step "The routes from BGP, as Calico gets them"
if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
  explain "BIRD is not installed (apt-get install bird2): skipping the BGP part."
else
  RR=lab05-bird-$$
  explain "Calico runs BIRD on every node: each announces its block to the others, with" \
    "itself as next hop, and installs theirs as routes into the tunnel. Here vtepd is" \
    "the node's BGP speaker, and BIRD, on a third host, is the route reflector both" \
    "peer with (AS 64512, Calico's default): it passes each one's block to the other."
  add_ns "$RR"
  run ip -n "$HUB" link add port3 type veth peer name eth0 netns "$RR"
  run ip -n "$HUB" link set port3 master br0
  run ip -n "$HUB" link set port3 up
  run ip -n "$RR" addr add 10.0.0.3/24 dev eth0
  run ip -n "$RR" link set eth0 up
  cat >"$WORK/bird.conf" <<'CONF'
router id 10.0.0.3;
protocol device {}
template bgp node {
  local 10.0.0.3 as 64512;
  direct;        # the nodes are on this network
  rr client;     # reflect each node's routes to the others
  ipv4 { import all; export all; };
}
protocol bgp a from node { neighbor 10.0.0.1 as 64512; }
protocol bgp b from node { neighbor 10.0.0.2 as 64512; }
CONF
  run cat "$WORK/bird.conf"
  printf '+ ip netns exec %s bird -f -c %s -s %s &\n' "$RR" "$WORK/bird.conf" "$WORK/bird.ctl"
  ip netns exec "$RR" bird -f -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid" >"$WORK/bird.log" 2>&1 &
  PIDS+=("$!")
  explain "The vtepds start again without --route: --bgp-asn announces the address's block" \
    "(--bgp-block to give others) and learns the peers'."
  stop_vtepd a
  stop_vtepd b
  start_vtepd "$A" a --mode ipip --local 10.0.0.1 --name ipip0 --addr 10.244.0.1/24 --bgp-asn 64512 --bgp-neighbor 10.0.0.3
  start_vtepd "$B" b --mode ipip --local 10.0.0.2 --name ipip0 --addr 10.244.1.1/24 --bgp-asn 64512 --bgp-neighbor 10.0.0.3
  for _ in $(seq 100); do
    ctl_quiet a route show | grep -q "^10.244.1.0/24 via 10.0.0.2 dev ipip0 proto bgp" && break
    sleep 0.1
  done
  on "$RR" birdc -s "$WORK/bird.ctl" show route
  explain "BIRD has both blocks, each via the host that announced it."
  ctl a route show
  on "$A" ip route
  explain "On $A, $B's block arrived over BGP: 'proto bgp' in vtepctl and in the kernel's" \
    "table, as 'proto bird' in Calico's. Nobody typed it."
  ctl_quiet a route show | grep -qx "10.244.1.0/24 via 10.0.0.2 dev ipip0 proto bgp" ||
    die "$A has no BGP route to $B's block: $(ctl_quiet a route show)"
  ip -n "$A" route show 10.244.1.0/24 | grep -q "dev ipip0 proto bgp" || die "$A's kernel has no BGP route to 10.244.1.0/24"
  ok "$A routes $B's block from BGP"
  ping_ok "$POD_A" 10.244.1.10
fi

# --- the kernel's ipip ----------------------------------------------------------

step "The same with the kernel's ipip driver"
printf '+ %s\n' "ip -n $A link add ipprobe type ipip local 10.0.0.1 remote 10.0.0.2"
if ! out=$(ip -n "$A" link add ipprobe type ipip local 10.0.0.1 remote 10.0.0.2 2>&1); then
  echo "$out"
  explain "This kernel has no ipip driver: skipping the kernel's side. That is why vtepd" \
    "builds the tunnel in user space, from a TUN device and a raw socket."
  exit 0
fi
run ip -n "$A" link del ipprobe
stop_vtepd a
stop_vtepd b
explain "vtepds stopped: their ipip0 and routes are gone. The kernel's tunnel in their place:"
for h in "$A 10.0.0.1 10.0.0.2 10.244.0.1 10.244.1.0/24" "$B 10.0.0.2 10.0.0.1 10.244.1.1 10.244.0.0/24"; do
  read -r host local remote addr other <<<"$h"
  run ip -n "$host" link add ipip0 type ipip local "$local" remote "$remote" dev eth0
  run ip -n "$host" addr add "$addr/24" dev ipip0
  run ip -n "$host" link set ipip0 up
  run ip -n "$host" route add "$other" dev ipip0
done
ping_ok "$POD_A" 10.244.1.10

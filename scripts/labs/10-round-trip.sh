#!/usr/bin/env bash
# Lab 10: where a round trip's time goes, hop by hop: the kernel's vxlan
# against vtepd.
#
# A ping through a VXLAN overlay crosses eight hops: A's VTEP puts the
# request into UDP, the cable carries it, B's VTEP takes it out, B's kernel
# answers, and the same three hops bring the answer back. tcpdump, listening
# on each host's overlay device and on its underlay device at once, stamps
# every packet as the kernel hands it to the capture (to the nanosecond), so
# that the difference between two stamps of the same echo request is what
# one hop took. A packet keeps the first stamp it got within one host: the
# kernel's vxlan decapsulates the very packet that arrived on the underlay,
# so its decapsulation shows as 0 and is counted in the hop after it. The same pings go through the kernel's vxlan, then through
# vtepd, so the two tables can be read side by side.
#
# Run as root from anywhere:   sudo scripts/labs/10-round-trip.sh
# PINGS (default 300) echo requests are sent, 1 ms apart.
set -euo pipefail
# shellcheck source=scripts/labs/lib.sh
. "$(dirname "$0")/lib.sh" vtepd
command -v tcpdump >/dev/null || die "this lab reads tcpdump's time stamps: apt-get install tcpdump"

A=lab10-a-$$
B=lab10-b-$$
PINGS=${PINGS:-300}
# An echo request or reply inside VXLAN: inner EtherType IPv4, protocol ICMP.
WIRE_FILTER='udp port 4789 and udp[28:2] = 0x0800 and udp[39] = 1'

# capture NAME NS DEV FILTER: tcpdump on DEV in NS in the background, to
# count a request and a reply per ping, into $WORK/NAME.pcap with nanosecond
# time stamps. Written to a file, the packets reach tcpdump in blocks, not
# one wake-up each, so that listening costs the path less.
capture() {
  local name=$1 ns=$2 dev=$3 filter=$4
  printf '+ ip netns exec %s tcpdump -n -i %s --time-stamp-precision=nano -c %d -w %s %s &\n' \
    "$ns" "$dev" $((2 * PINGS)) "$WORK/$name.pcap" "'$filter'"
  ip netns exec "$ns" tcpdump -n -i "$dev" --time-stamp-precision=nano -c $((2 * PINGS)) \
    -w "$WORK/$name.pcap" "$filter" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  CAPTURE_PID[$name]=$!
  await_listening "$name" "$WORK/$name.err"
}
declare -A CAPTURE_PID

# watch: capture on both devices of both hosts.
watch() {
  capture adev "$A" vx42 icmp
  capture awire "$A" eth0 "$WIRE_FILTER"
  capture bwire "$B" eth0 "$WIRE_FILTER"
  capture bdev "$B" vx42 icmp
}

# hops TITLE: the table of the captures watch started, once they have
# their counts: for each hop, the median and the 90th percentile over the
# pings all four captures saw both ways. It sets $MATCHED to how many
# those were.
hops() {
  local w
  for w in adev awire bwire bdev; do
    await_exit "${CAPTURE_PID[$w]}"
    tcpdump -n -tt --time-stamp-precision=nano -r "$WORK/$w.pcap" >"$WORK/$w.txt" 2>/dev/null
  done
  printf '+ tcpdump -n -tt --time-stamp-precision=nano -r ... (the four captures, paired by ICMP sequence number)\n'
  # A packet's line starts with its stamp, SECONDS.NANOSECONDS. On the
  # underlay, tcpdump decodes VXLAN (port 4789) and prints the inner echo
  # request or reply, with its sequence number, on the line after.
  awk '
    FNR == 1 { f = FILENAME; sub(/.*\//, "", f); sub(/\.txt$/, "", f); stamp = "" }
    /^[0-9]+\.[0-9]+ / {
      split($1, p, ".")
      if (base == "") base = p[1]
      stamp = (p[1] - base) * 1e6 + p[2] / 1000 # microseconds
    }
    stamp != "" && / ICMP echo (request|reply)/ && match($0, / seq [0-9]+/) {
      seq = substr($0, RSTART + 5, RLENGTH - 5)
      dir = $0 ~ / echo request/ ? "q" : "r"
      t[f, dir, seq] = stamp
      seen[seq] = 1
    }
    END {
      for (s in seen) {
        ok = 1
        split("adev awire bwire bdev", names, " ")
        for (i = 1; i <= 4; i++) if (!((names[i], "q", s) in t) || !((names[i], "r", s) in t)) ok = 0
        if (!ok) continue
        print 1, t["awire", "q", s] - t["adev", "q", s]
        print 2, t["bwire", "q", s] - t["awire", "q", s]
        print 3, t["bdev", "q", s] - t["bwire", "q", s]
        print 4, t["bdev", "r", s] - t["bdev", "q", s]
        print 5, t["bwire", "r", s] - t["bdev", "r", s]
        print 6, t["awire", "r", s] - t["bwire", "r", s]
        print 7, t["adev", "r", s] - t["awire", "r", s]
        print 8, t["adev", "r", s] - t["adev", "q", s]
      }
    }' "$WORK"/adev.txt "$WORK"/awire.txt "$WORK"/bwire.txt "$WORK"/bdev.txt |
    sort -k1,1n -k2,2g >"$WORK/hops.txt"
  MATCHED=$(awk '$1 == 8' "$WORK/hops.txt" | wc -l)
  printf '%s: %d of %d pings seen at all four points, microseconds\n' "$1" "$MATCHED" "$PINGS"
  awk -v title="$1" '
    BEGIN {
      name[1] = "A: overlay device to underlay (encapsulate)"
      name[2] = "the cable, A to B"
      name[3] = "B: underlay to overlay device (decapsulate)"
      name[4] = "B: the kernel answers the echo request"
      name[5] = "B: overlay device to underlay (encapsulate)"
      name[6] = "the cable, B to A"
      name[7] = "A: underlay to overlay device (decapsulate)"
      name[8] = "round trip, at A'"'"'s overlay device"
      printf "  %-46s %8s %8s\n", "hop", "median", "p90"
    }
    { v[$1, ++n[$1]] = $2 }
    END {
      for (h = 1; h <= 8; h++) {
        if (!n[h]) continue
        printf "  %-46s %8.1f %8.1f\n", name[h], v[h, int((n[h] + 1) / 2)], v[h, int(n[h] * 0.9 + 0.5)]
      }
    }' "$WORK/hops.txt"
  [ "$MATCHED" -ge $((PINGS * 9 / 10)) ] || die "only $MATCHED of $PINGS pings were seen at all four points"
}

two_hosts "$A" "$B"
ping_ok "$A" 10.0.0.2

# --- part 1: the kernel's vxlan ---------------------------------------------------

step "The kernel's vxlan at both ends, VNI 42"
for h in "$A 10.0.0.1 10.0.0.2 192.168.42.1" "$B 10.0.0.2 10.0.0.1 192.168.42.2"; do
  read -r ns local remote addr <<<"$h"
  run ip -n "$ns" link add vx42 type vxlan id 42 local "$local" remote "$remote" dstport 4789 dev eth0
  run ip -n "$ns" addr add "$addr/24" dev vx42
  run ip -n "$ns" link set vx42 up
done
ping_ok "$A" 192.168.42.2

step "$PINGS pings, 1 ms apart, stamped at four points"
watch
on "$A" ping -q -c "$PINGS" -i 0.001 -W 1 192.168.42.2 || true
hops "the kernel's vxlan"
KERNEL_MATCHED=$MATCHED
explain "The kernel encapsulates inside the sender's own system call: ping's sendmsg runs" \
  "vxlan's transmit, the veth hands the packet to B, and B's receive, its ICMP answer" \
  "and the way back all run in the softirqs that call chain raises. Nothing sleeps and" \
  "nothing is woken until the answer is queued on ping's socket. (Decapsulating shows" \
  "as 0: the kernel takes the outer headers off the packet as it arrived, and tcpdump" \
  "stamps a packet once per host, so that time is in the next hop, B's answer.)"

# --- part 2: vtepd ------------------------------------------------------------------

step "The same overlay with vtepd in place of the kernel's vxlan"
run ip -n "$A" link del vx42
run ip -n "$B" link del vx42
start_vtepd "$A" a --vni 42 --local 10.0.0.1 --remote 10.0.0.2 --addr 192.168.42.1/24
start_vtepd "$B" b --vni 42 --local 10.0.0.2 --remote 10.0.0.1 --addr 192.168.42.2/24
ping_ok "$A" 192.168.42.2

step "$PINGS pings again, stamped at the same four points"
watch
on "$A" ping -q -c "$PINGS" -i 0.001 -W 1 192.168.42.2 || true
hops "vtepd"
explain "The cable and B's kernel take what they took before: what grew are the hops a" \
  "vtepd makes. In each, the kernel queues the packet on a device or a socket and" \
  "wakes the vtepd worker waiting on it, and that worker reads, looks up, encapsulates" \
  "or decapsulates, and writes. The first hop of each host's turn (A sending, B" \
  "receiving) usually costs the most: its CPU has been idle since the last ping and" \
  "must wake first, which takes longest in a virtual machine whose idle vCPUs the host" \
  "has descheduled. B's answer and A's receive follow while their CPUs are still awake." \
  "vtepd's README (Queues and workers) measures the wake-ups behind this table."
ok "the kernel's vxlan and vtepd timed over $KERNEL_MATCHED and $MATCHED pings, hop by hop"

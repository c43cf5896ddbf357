#!/usr/bin/env bash
# demo.sh: two hosts, one overlay, two tunnel endpoints side by side.
#
# Two network namespaces stand in for two hosts joined by a cable (a veth
# pair, underlay 10.77.0.0/24). Between them we run one VXLAN network,
# VNI 42, overlay 192.168.42.0/24: first with vtepd at both ends, then with
# the kernel's own vxlan driver, and print ping RTT and TCP throughput of
# both. Everything stays inside the two namespaces and is removed on exit,
# also when a step fails.
#
# Run from the repository as root:   sudo make demo   (or: make build && sudo scripts/demo.sh)
# Needs Go, iproute2 and bash. Environment knobs:
#   BIN=./bin         where vtepd and vtepctl are
#   DEMO_BYTES=256MiB size of each TCP transfer
#   DEMO_PINGS=10     echo requests per ping
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-./bin}
BYTES=${DEMO_BYTES:-256MiB}
PINGS=${DEMO_PINGS:-10}

# The pid in every name keeps two runs, or a run and the tests, apart.
NS_A=vt-demo-a-$$
NS_B=vt-demo-b-$$
UNDER_A=10.77.0.1 UNDER_B=10.77.0.2 # underlay: the "physical" network
OVER_A=192.168.42.1 OVER_B=192.168.42.2 # overlay: what the tunnel carries
VNI=42
PORT=5001 # the TCP transfer's port, on the overlay

WORK=$(mktemp -d /tmp/vtepd-demo.XXXXXX)
PIDS=() # every background process we start, to stop by pid

say() { printf '\n== %s\n' "$*"; }
run() { printf '+ %s\n' "$*"; "$@"; } # show a command, then run it
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

# --- teardown: runs on every exit, normal or not ---------------------------
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Anything still running inside our namespaces was started by this script.
  for ns in "$NS_A" "$NS_B"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  # Deleting a namespace takes its veth end, TAP and vxlan devices with it.
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
  if [ "$rc" -ne 0 ]; then
    echo "demo: failed (exit $rc); namespaces $NS_A and $NS_B removed" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- preflight --------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root to create network namespaces: sudo make demo"
command -v ip >/dev/null || die "needs iproute2 (the ip command)"
GO=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$GO" ] || die "needs Go to build the demo's helpers (go not in PATH)"
if [ ! -x "$BIN/vtepd" ] || [ ! -x "$BIN/vtepctl" ]; then
  die "no $BIN/vtepd or $BIN/vtepctl: run make build"
fi

say "Building the helpers: tcpxfer (checked TCP transfer) and pingrtt (ICMP echo)"
run "$GO" build -o "$WORK/" ./scripts/tcpxfer ./scripts/pingrtt

# --- the two hosts and their cable ------------------------------------------
say "Two hosts, $NS_A and $NS_B, joined by a veth pair"
run ip netns add "$NS_A"
run ip netns add "$NS_B"
run ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
run ip -n "$NS_A" addr add "$UNDER_A/24" dev eth0
run ip -n "$NS_B" addr add "$UNDER_B/24" dev eth0
for ns in "$NS_A" "$NS_B"; do
  run ip -n "$ns" link set lo up
  run ip -n "$ns" link set eth0 up
done

# on NS CMD...: run CMD inside a host.
on() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${secs}s waiting for $what"
}

# measure LABEL: ping the far end of the overlay, then move $BYTES over TCP
# from A to B; keeps the average RTT and the throughput under LABEL.
declare -A RTT MBPS GBPS
measure() {
  local label=$1 out line
  say "$label: ping $OVER_B from $NS_A"
  out=$(on "$NS_A" "$WORK/pingrtt" -c "$PINGS" -i 100ms "$OVER_B") || {
    echo "$out"
    die "$label: no echo reply from $OVER_B"
  }
  echo "$out"
  # "rtt min/avg/max/mdev = 0.061/0.083/0.120/0.017 ms": split on / and
  # spaces, the 8th field is the average.
  RTT[$label]=$(awk -F'[/ ]+' '/^rtt/ {print $8}' <<<"$out")

  say "$label: TCP transfer of $BYTES from $OVER_A to $OVER_B:$PORT"
  # Background jobs call ip netns exec directly, not through on(): ip execs
  # the program in place, so $! is the program itself and kill reaches it.
  ip netns exec "$NS_B" "$WORK/tcpxfer" -listen "$OVER_B:$PORT" -timeout 60s >"$WORK/server-$label.log" 2>&1 &
  PIDS+=($!)
  wait_for 10 "the tcpxfer server" grep -q '^listening' "$WORK/server-$label.log"
  line=$(on "$NS_A" "$WORK/tcpxfer" -connect "$OVER_B:$PORT" -bytes "$BYTES" -timeout 60s) ||
    die "$label: the transfer failed (tcpxfer said why above)"
  echo "client: $line"
  wait "${PIDS[-1]}" || true
  echo "server: $(grep '^received' "$WORK/server-$label.log")"
  # "sent N bytes in T s: 812.3 MB/s, 6.498 Gbit/s, sha256 ...".
  MBPS[$label]=$(sed -E 's/.*: ([0-9.]+) MB\/s.*/\1/' <<<"$line")
  GBPS[$label]=$(sed -E 's/.* ([0-9.]+) Gbit\/s.*/\1/' <<<"$line")
}

# --- part 1: vtepd at both ends ---------------------------------------------
# Each vtepd creates TAP vx42 (MTU = underlay 1500 - 50 of VXLAN headers),
# floods unknown and broadcast frames to --remote and learns where each MAC
# lives from the outer source address of what it receives.
say "vtepd: VNI $VNI over UDP 4789, one daemon per host"
start_vtepd() {
  local ns=$1 local=$2 remote=$3 addr=$4 name=$5
  printf '+ ip netns exec %s %s\n' "$ns" "$BIN/vtepd --vni $VNI --local $local --remote $remote --addr $addr/24 --control $WORK/$name.sock"
  ip netns exec "$ns" "$BIN/vtepd" --vni "$VNI" --local "$local" --remote "$remote" --addr "$addr/24" \
    --control "$WORK/$name.sock" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
start_vtepd "$NS_A" "$UNDER_A" "$UNDER_B" "$OVER_A" vtepd-a
start_vtepd "$NS_B" "$UNDER_B" "$UNDER_A" "$OVER_B" vtepd-b
VTEPD_A=${PIDS[-2]} VTEPD_B=${PIDS[-1]}
# Ready when the TAP carries its address and the control socket answers.
for h in "$NS_A:vtepd-a:$OVER_A" "$NS_B:vtepd-b:$OVER_B"; do
  IFS=: read -r ns name addr <<<"$h"
  wait_for 10 "vx$VNI with $addr in $ns (log: $(cat "$WORK/$name.log"))" \
    sh -c "ip -n $ns -o addr show dev vx$VNI | grep -q 'inet $addr/'"
  wait_for 10 "the control socket of $name" "$BIN/vtepctl" --control "$WORK/$name.sock" stats
done
run ip -n "$NS_A" -br link show vx$VNI

measure vtepd

say "vtepd: what $NS_A learnt (vtepctl fdb show) and its counters (vtepctl stats)"
run "$BIN/vtepctl" --control "$WORK/vtepd-a.sock" fdb show
run "$BIN/vtepctl" --control "$WORK/vtepd-a.sock" stats

say "vtepd: SIGTERM; each daemon removes its TAP and control socket"
for pid in "$VTEPD_A" "$VTEPD_B"; do
  kill -TERM "$pid"
  wait "$pid" || die "vtepd (pid $pid) exited with status $? after SIGTERM"
done
for h in "$NS_A:vtepd-a" "$NS_B:vtepd-b"; do
  IFS=: read -r ns name <<<"$h"
  if ip -n "$ns" link show "vx$VNI" >/dev/null 2>&1; then
    die "vx$VNI still present in $ns after vtepd stopped"
  fi
  [ ! -e "$WORK/$name.sock" ] || die "$WORK/$name.sock still present after vtepd stopped"
done
echo "both exited 0; vx$VNI and the control sockets are gone"

# --- part 2: the kernel's vxlan, same topology ------------------------------
# A throw-away device tells whether this kernel has the vxlan driver.
say "kernel: probing for the vxlan driver"
if ip -n "$NS_A" link add vxprobe type vxlan id 1 dstport 4789 2>/dev/null; then
  ip -n "$NS_A" link del vxprobe
  KERNEL=yes
  echo "kernel vxlan available"
else
  KERNEL=no
  echo "this kernel has no vxlan driver: skipping the comparison"
fi

if [ "$KERNEL" = yes ]; then
  # The same parameters vtepd got: VNI, port, local and remote endpoint.
  for h in "$NS_A:$UNDER_A:$UNDER_B:$OVER_A" "$NS_B:$UNDER_B:$UNDER_A:$OVER_B"; do
    IFS=: read -r ns local remote addr <<<"$h"
    run ip -n "$ns" link add vxlan$VNI type vxlan id $VNI dstport 4789 local "$local" remote "$remote" dev eth0
    run ip -n "$ns" addr add "$addr/24" dev vxlan$VNI
    run ip -n "$ns" link set vxlan$VNI up
  done
  run ip -n "$NS_A" -br link show vxlan$VNI
  measure kernel
  say "kernel: what $NS_A learnt (bridge fdb show)"
  run ip netns exec "$NS_A" bridge fdb show dev vxlan$VNI
fi

# --- summary ----------------------------------------------------------------
say "Summary: VXLAN VNI $VNI between two namespaces, $BYTES per transfer"
printf '%-8s %14s %12s %12s\n' "" "ping avg RTT" "TCP MB/s" "TCP Gbit/s"
for label in vtepd kernel; do
  [ -n "${RTT[$label]:-}" ] || continue
  printf '%-8s %11s ms %12s %12s\n' "$label" "${RTT[$label]}" "${MBPS[$label]}" "${GBPS[$label]}"
done
echo
echo "Both transfers were checked end to end: length and SHA-256 matched."

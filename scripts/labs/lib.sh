# lib.sh: what the labs share. Sourced by each lab, never run on its own:
#
#   . "$(dirname "$0")/lib.sh" [vtepd]
#
# Sourcing it moves to the top of the repository (where bin/ is), checks
# that the lab can run (root, iproute2, ping, and with "vtepd" the built
# binaries) and installs cleanup on exit.
#
# A lab shows every command it runs ("+ ip netns exec ..."), explains each
# step before it, checks what it claims ("ok: ...") and stops with
# "<lab>: FAILED: <why>" when a check does not hold. Everything it makes is
# registered here and removed by cleanup, so a failed or interrupted lab
# leaves nothing behind.
# shellcheck shell=bash

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

LAB=$(basename "$0" .sh)
VTEPD=${VTEPD:-bin/vtepd}
VTEPCTL=${VTEPCTL:-bin/vtepctl}

NAMESPACES=() # every namespace this lab made
ROOT_LINKS=() # devices made in the root namespace (before they move away)
PIDS=()       # every daemon this lab started in the background
declare -A VTEPD_PID
WORK=$(mktemp -d "/tmp/$LAB.XXXXXX") # control sockets and daemon logs

# --- printing ------------------------------------------------------------------

# step TEXT: a heading before each step of the lab.
step() { printf '\n== %s\n' "$*"; }

# explain LINE...: what the next commands do and what to look at.
explain() { printf '   %s\n' "$@"; }

# run CMD...: show a command, then run it.
run() {
  printf '+ %s\n' "$*"
  "$@"
}

# on NS CMD...: run a command inside a namespace, shown as ip-netns would
# spell it.
on() {
  local ns=$1
  shift
  run ip netns exec "$ns" "$@"
}

ok() { printf 'ok: %s\n' "$*"; }

die() {
  printf '%s: FAILED: %s\n' "$LAB" "$*" >&2
  exit 1
}

# --- preflight -------------------------------------------------------------------

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root to create network namespaces: sudo $0"
  command -v ip >/dev/null || die "needs iproute2 (the ip command)"
}

need_ping() {
  command -v ping >/dev/null || die "needs ping (apt-get install iputils-ping)"
}

need_vtepd() {
  [ -x "$VTEPD" ] || die "no vtepd at $VTEPD: run make build, or set VTEPD"
  [ -x "$VTEPCTL" ] || die "no vtepctl at $VTEPCTL: run make build, or set VTEPCTL"
}

# --- what a lab makes ------------------------------------------------------------

# add_ns NAME: a new network namespace, its loopback up and IPv6 off.
#
# IPv6 is off so that the only frames on the wire are the ones the lab
# sends: a fresh interface otherwise sends router solicitations and
# duplicate address probes, and the tables the lab shows "before a ping"
# would already have learnt from them.
add_ns() {
  NAMESPACES+=("$1")
  run ip netns add "$1"
  run ip -n "$1" link set lo up
  if [ -e /proc/sys/net/ipv6 ]; then
    run ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
}

# wire A B: an underlay cable, a veth pair with an end named eth0 in each of
# two namespaces.
wire() {
  run ip -n "$1" link add eth0 type veth peer name eth0 netns "$2"
}

# plug HUB HOST...: each HOST on the underlay switch br0 in HUB, by a veth
# from port<i> to its eth0, with the address 10.0.0.<i>/24 (i from 1).
plug() {
  local hub=$1 h i=0
  shift
  for h in "$@"; do
    i=$((i + 1))
    add_ns "$h"
    run ip -n "$hub" link add "port$i" type veth peer name eth0 netns "$h"
    run ip -n "$hub" link set "port$i" master br0
    run ip -n "$hub" link set "port$i" up
    run ip -n "$h" addr add "10.0.0.$i/24" dev eth0
    run ip -n "$h" link set eth0 up
  done
}

# inner_filter PORT: a tcpdump filter for the VXLAN packets on PORT that carry
# ARP or IPv4 ICMP, leaving out what hosts send into a tunnel by themselves
# (IGMP reports from a bridge, say), which would use up a count. Offsets
# count from the outer UDP header: 8 bytes of it and 8 of VXLAN, then the
# inner Ethernet header with its EtherType 12 bytes in (udp[28:2]), then the
# inner IPv4 header with its protocol 9 bytes in (udp[39]).
inner_filter() {
  printf 'udp port %s and (udp[28:2] = 0x0806 or (udp[28:2] = 0x0800 and udp[39] = 1))' "$1"
}

# await_exit PID: wait (up to 5 s) for a background command of the lab to
# exit once it has what it counts, then interrupt it (Ctrl-C) and reap it.
await_exit() {
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# two_hosts A B: the underlay of the overlay labs, as a step: namespaces A
# (10.0.0.1) and B (10.0.0.2) joined by a cable, their eth0 up.
two_hosts() {
  step "Two hosts, $1 (10.0.0.1) and $2 (10.0.0.2), joined by a cable"
  add_ns "$1"
  add_ns "$2"
  wire "$1" "$2"
  run ip -n "$1" addr add 10.0.0.1/24 dev eth0
  run ip -n "$2" addr add 10.0.0.2/24 dev eth0
  run ip -n "$1" link set eth0 up
  run ip -n "$2" link set eth0 up
}

# await_listening NAME FILE: wait (up to 5 s) until the tcpdump NAME, whose
# messages go to FILE, listens.
await_listening() {
  for _ in $(seq 50); do
    grep -q "listening on" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump $1 did not start: $(cat "$2")"
}

# sniff NAME NS DEV ARGS...: start tcpdump on DEV in NS in the background
# (-n, -l, ARGS: its count and filter), its output in $WORK/NAME.txt, and
# wait until it listens. Without tcpdump, say so and do nothing.
sniff() {
  local name=$1 ns=$2 dev=$3
  shift 3
  if ! command -v tcpdump >/dev/null; then
    explain "(tcpdump is not installed: apt-get install tcpdump; no capture this time)"
    return 0
  fi
  printf '+ ip netns exec %s tcpdump -nl -i %s %s &\n' "$ns" "$dev" "$(words "$@")"
  ip netns exec "$ns" tcpdump -nl -i "$dev" "$@" >"$WORK/$name.txt" 2>&1 &
  PIDS+=("$!")
  SNIFF_PID[$name]=$!
  await_listening "$name" "$WORK/$name.txt"
}
declare -A SNIFF_PID

# sniffed NAME: wait (up to 5 s) for the tcpdump NAME to have its count,
# then show what it printed, and return it in $SNIFFED.
sniffed() {
  local pid=${SNIFF_PID[$1]:-}
  SNIFFED=""
  [ -n "$pid" ] || return 0
  await_exit "$pid"
  SNIFFED=$(grep -v -e "listening on" -e "^tcpdump: verbose output" -e "packets\? captured" -e "packets\? received by filter" -e "packets\? dropped by kernel" "$WORK/$1.txt")
  printf '+ cat %s\n%s\n' "$WORK/$1.txt" "$SNIFFED"
}

# words ARGS...: the arguments as a shell reads them back, each with a
# space in single quotes.
words() {
  local out=() w
  for w in "$@"; do
    case $w in *" "*) out+=("'$w'") ;; *) out+=("$w") ;; esac
  done
  printf '%s' "${out[*]}"
}

# traces_started CTL: how many traces (and captures) the vtepd started as
# CTL has begun, by its log.
traces_started() { grep -c 'trace started' "$WORK/$1.log" || true; }

# await_trace KEY CTL BEFORE: wait (up to 5 s) until the vtepd CTL has begun
# more than BEFORE traces, so that the background vtepctl KEY misses nothing.
await_trace() {
  for _ in $(seq 50); do
    [ "$(traces_started "$2")" -gt "$3" ] && return 0
    kill -0 "${BG_PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  die "vtepctl ${1##*.} $1 did not start on vtepd $2: $(cat "$WORK/$1" 2>/dev/null)"
}

# trace_bg NAME CTL ARGS...: vtepctl trace ARGS (with a --count) on the vtepd
# started as CTL, in the background, into $WORK/NAME.trace; it returns once
# the trace runs.
trace_bg() {
  local name=$1 c=$2 before
  shift 2
  before=$(traces_started "$c")
  printf '+ %s --control %s trace %s &\n' "$VTEPCTL" "$WORK/$c.sock" "$(words "$@")"
  "$VTEPCTL" --control "$WORK/$c.sock" trace "$@" >"$WORK/$name.trace" 2>&1 &
  PIDS+=("$!")
  BG_PID[$name.trace]=$!
  await_trace "$name.trace" "$c" "$before"
}

# capture_bg NAME CTL NETWORK ARGS...: vtepctl capture of NETWORK's outer
# packets (ARGS: --count and --match) on the vtepd started as CTL, in the
# background, into $WORK/NAME.pcap.
capture_bg() {
  local name=$1 c=$2 net=$3 before
  shift 3
  before=$(traces_started "$c")
  printf '+ %s --control %s capture --network %s --outer %s %s &\n' "$VTEPCTL" "$WORK/$c.sock" "$net" "$WORK/$name.pcap" "$(words "$@")"
  "$VTEPCTL" --control "$WORK/$c.sock" capture --network "$net" --outer "$WORK/$name.pcap" "$@" >"$WORK/$name.capture" 2>&1 &
  PIDS+=("$!")
  BG_PID[$name.capture]=$!
  await_trace "$name.capture" "$c" "$before"
}
declare -A BG_PID

# bg_done KEY: wait (up to 5 s) for the background vtepctl KEY to have its
# count, then stop it.
bg_done() { await_exit "${BG_PID[$1]}"; }

# traced NAME: the trace NAME when it has its count, shown, and in $TRACED.
traced() {
  bg_done "$1.trace"
  TRACED=$(cat "$WORK/$1.trace")
  printf '+ cat %s\n%s\n' "$WORK/$1.trace" "$TRACED"
}

# captured NAME: the capture NAME when it has its count: what vtepctl said
# of it, then the file opened with tshark (Wireshark's command line), its
# lines in $TSHARK; without tshark, say how to open it.
captured() {
  bg_done "$1.capture"
  printf '+ cat %s\n' "$WORK/$1.capture"
  cat "$WORK/$1.capture"
  grep -q ": [1-9][0-9]* packets on the underlay" "$WORK/$1.capture" ||
    die "vtepctl capture caught nothing: $(cat "$WORK/$1.capture")"
  TSHARK=""
  if ! command -v tshark >/dev/null; then
    explain "Open $WORK/$1.pcap with Wireshark, or tshark -r (apt-get install tshark)."
    return 0
  fi
  printf '+ tshark -r %s\n' "$WORK/$1.pcap"
  TSHARK=$(tshark -r "$WORK/$1.pcap" 2>&1 | grep -v "^Running as user" || true)
  printf '%s\n' "$TSHARK"
}

# tshark_echo SRC DST WHAT [TEXT]: where captured ran tshark ($TSHARK is
# empty without it), check that what it decoded (TEXT, $TSHARK by default)
# holds an ICMP echo request from SRC to DST, and say WHAT it holds.
tshark_echo() {
  [ -n "$TSHARK" ] || return 0
  local text=${4-$TSHARK}
  grep -q "${1//./\\.} → ${2//./\\.} .*ICMP.*Echo (ping) request" <<<"$text" ||
    die "tshark found no echo request from $1 to $2 in the capture: $text"
  ok "$3"
}

# tshark_fields NAME FIELDS...: tshark -T fields of the capture NAME, shown,
# and in $FIELDS.
tshark_fields() {
  local name=$1 f=()
  shift
  for x in "$@"; do f+=(-e "$x"); done
  printf '+ tshark -r %s -T fields %s\n' "$WORK/$name.pcap" "${f[*]}"
  FIELDS=$(tshark -r "$WORK/$name.pcap" -T fields "${f[@]}" 2>/dev/null || true)
  printf '%s\n' "$FIELDS"
}

# mac_of NS DEV: the MAC address of a device.
mac_of() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# counter NS DEV NAME: one of a device's counters (rx_packets, tx_packets...).
counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }

# ping_ok NS ADDR: three echo requests from NS, all answered.
ping_ok() {
  on "$1" ping -c 3 -i 0.2 -w 5 "$2" || die "ping from $1 to $2 got no answer"
  ok "$1 reaches $2"
}

# --- vtepd -------------------------------------------------------------------------

# start_vtepd NS NAME FLAGS...: start vtepd inside NS with the given flags,
# its control socket at $WORK/NAME.sock and its log at $WORK/NAME.log, and
# wait until it answers on the socket (by then its device is up).
start_vtepd() {
  local ns=$1 name=$2
  shift 2
  local sock=$WORK/$name.sock pid
  printf '+ ip netns exec %s %s %s --control %s &\n' "$ns" "$VTEPD" "$*" "$sock"
  # ip netns exec execs vtepd in place, so $! is vtepd itself.
  ip netns exec "$ns" "$VTEPD" "$@" --control "$sock" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  VTEPD_PID[$name]=$pid
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || die "vtepd $name exited at start: $(cat "$WORK/$name.log")"
    if "$VTEPCTL" --control "$sock" stats >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "vtepd $name did not answer on $sock within 10 s: $(cat "$WORK/$name.log")"
}

# stop_vtepd NAME: SIGTERM, as a service manager would; vtepd removes its
# device and socket and exits 0.
stop_vtepd() {
  local pid=${VTEPD_PID[$1]} rc=0
  run kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || die "vtepd $1 exited with status $rc after SIGTERM: $(cat "$WORK/$1.log")"
}

# ctl NAME ARGS...: vtepctl against the vtepd started as NAME, shown.
ctl() {
  local name=$1
  shift
  run "$VTEPCTL" --control "$WORK/$name.sock" "$@"
}

# ctl_quiet NAME ARGS...: the same, for the lab's own checks (not shown).
ctl_quiet() {
  local name=$1
  shift
  "$VTEPCTL" --control "$WORK/$name.sock" "$@"
}

# --- teardown ----------------------------------------------------------------------

# cleanup runs on every exit, normal or not: it stops the daemons by pid,
# then anything still running inside the lab's namespaces (the lab started
# it), deletes the namespaces (their devices go with them) and the
# work directory.
cleanup() {
  local rc=$? pid ns dev
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in "${NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for ns in "${NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  for dev in "${ROOT_LINKS[@]}"; do
    ip link del "$dev" 2>/dev/null || true
  done
  rm -rf "$WORK"
  if [ "${#NAMESPACES[@]}" -gt 0 ]; then
    printf '\ncleanup: removed %s\n' "${NAMESPACES[*]}"
  fi
  if [ "$rc" -ne 0 ]; then
    printf '%s: exit status %d\n' "$LAB" "$rc" >&2
  fi
  exit "$rc"
}
trap 'exit 130' INT
trap 'exit 143' TERM

# --- start -----------------------------------------------------------------------

trap cleanup EXIT
need_root
need_ping
if [ "${1:-}" = vtepd ]; then
  need_vtepd
fi

#!/usr/bin/env bash
# run-all.sh: the labs in course order, each in its own process.
#
#   sudo scripts/labs/run-all.sh          every lab
#   sudo scripts/labs/run-all.sh 03 04    only the labs whose names start so
#
# A failed lab does not stop the others; the summary at the end names it and
# the exit status is 1. VTEPD and VTEPCTL are passed on to the labs.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" -eq 0 ] || {
  echo "run-all: needs root to create network namespaces: sudo $0" >&2
  exit 1
}

labs=()
for lab in scripts/labs/[0-9][0-9]-*.sh; do
  name=$(basename "$lab")
  if [ $# -eq 0 ]; then
    labs+=("$lab")
    continue
  fi
  for want in "$@"; do
    case $name in "$want"*) labs+=("$lab") ;; esac
  done
done
[ "${#labs[@]}" -gt 0 ] || {
  echo "run-all: no lab matches: $*" >&2
  exit 1
}

failed=()
for lab in "${labs[@]}"; do
  printf '\n######## %s\n' "$(basename "$lab")"
  if ! "$lab"; then
    failed+=("$(basename "$lab")")
  fi
done

printf '\n######## %d of %d labs passed\n' $((${#labs[@]} - ${#failed[@]})) "${#labs[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[*]}" >&2
  exit 1
fi

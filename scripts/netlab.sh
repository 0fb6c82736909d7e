#!/usr/bin/env bash
# A small network of hosts on this machine, for the swarm's multi-node tests, the demo
# and the benchmark: one network namespace per node and one for the origin, joined by a
# bridge in a "switch" namespace, every link shaped with tc (HTB) in both directions.
# Addresses are in 198.18.0.0/15 (RFC 2544 benchmarking range): origin 198.18.0.1,
# node i (1-based) 198.18.0.(10+i). Nothing is added to the root namespace.
#
#   netlab.sh up PREFIX NODES RATE [ORIGIN_RATE]   e.g. up pp42 4 100mbit
#   netlab.sh down PREFIX                           removes every namespace PREFIX-*
#   netlab.sh ns PREFIX origin|N                    the namespace's name
#   netlab.sh addr origin|N                         the host's address
#   netlab.sh tx PREFIX origin|N                    bytes the host has sent on its link
#   netlab.sh rx PREFIX origin|N                    bytes the host has received on its link
#
# PREFIX: at most 6 characters (interface names are limited to 15).
set -euo pipefail

addr() { if [ "$1" = origin ]; then echo 198.18.0.1; else echo "198.18.0.$((10 + $1))"; fi; }
ns() { if [ "$2" = origin ]; then echo "$1-origin"; else echo "$1-n$2"; fi; }
ifname() { if [ "$2" = origin ]; then echo "${1}o"; else echo "${1}n$2"; fi; }

# Shapes egress of $2 in namespace $1 to rate $3 (HTB: exact, unlike tbf at high rates).
shape() {
  ip netns exec "$1" tc qdisc add dev "$2" root handle 1: htb default 10
  ip netns exec "$1" tc class add dev "$2" parent 1: classid 1:10 htb rate "$3" ceil "$3" burst 64k cburst 64k quantum 60000
}

host() {  # prefix which rate
  local prefix=$1 which=$2 rate=$3
  local n; n=$(ns "$prefix" "$which")
  local i; i=$(ifname "$prefix" "$which")
  ip netns add "$n"
  ip link add "${i}a" type veth peer name "${i}b"
  ip link set "${i}a" netns "$n"
  ip link set "${i}b" netns "$prefix-sw"
  ip netns exec "$n" ip addr add "$(addr "$which")/24" dev "${i}a"
  ip netns exec "$n" ip link set "${i}a" up
  ip netns exec "$n" ip link set lo up
  ip netns exec "$prefix-sw" ip link set "${i}b" master br0
  ip netns exec "$prefix-sw" ip link set "${i}b" up
  shape "$n" "${i}a" "$rate"             # what the host sends
  shape "$prefix-sw" "${i}b" "$rate"     # what the host receives
}

case "${1:-}" in
  up)
    prefix=$2 nodes=$3 rate=$4 origin_rate=${5:-$4}
    [ ${#prefix} -le 6 ] || { echo "netlab: prefix longer than 6 characters" >&2; exit 2; }
    ip netns add "$prefix-sw"
    ip netns exec "$prefix-sw" ip link add br0 type bridge
    ip netns exec "$prefix-sw" ip link set br0 up
    host "$prefix" origin "$origin_rate"
    for i in $(seq 1 "$nodes"); do host "$prefix" "$i" "$rate"; done
    ;;
  down)
    prefix=$2
    for n in $(ip netns list | awk '{print $1}' | grep -E "^$2-(sw|origin|n[0-9]+)$" || true); do
      # Processes left in a namespace keep it alive as a mount: end them first.
      for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$n" 2>/dev/null || true
    done
    ;;
  ns) ns "$2" "$3" ;;
  addr) addr "$2" ;;
  tx) ip netns exec "$(ns "$2" "$3")" cat "/sys/class/net/$(ifname "$2" "$3")a/statistics/tx_bytes" ;;
  rx) ip netns exec "$(ns "$2" "$3")" cat "/sys/class/net/$(ifname "$2" "$3")a/statistics/rx_bytes" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac

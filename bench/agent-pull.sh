#!/usr/bin/env bash
# Benchmark: a 1 GiB image pulled directly from a real registry, and through the agent
# (release build, static stdlib as shipped) with a cold and then a warm cache.
#
# Two origins:
#   - default: the registry on loopback, as fast as the node's own disk;
#   - LINK=1gbit (any tc rate): the registry in a network namespace behind a veth link
#     shaped with tc, as an origin across the node's network link is. Addresses are in
#     198.18.0.0/15; the namespace is deleted on exit.
# Two clients, each compared with itself pulling directly:
#   - skopeo copying the image into an OCI layout (a real pull: it hashes and writes);
#   - curl fetching every blob of the image at once into /dev/null, which costs almost
#     no CPU and so shows what the agent itself can serve.
# Reports seconds, MiB/s, the ratio to the direct pull, the ratio to the physical limit
# (image size / link bandwidth: the tc rate, or on loopback one curl stream from the
# registry), the CPU seconds each process spent (client, registry, agent: on a node with
# few cores they compete) and the agent's peak RSS per pull (VmHWM, reset between pulls).
# SWARM=1 adds a lone pull through the swarm: the agent as one of two agents in a swarm
# (the other idle, both on loopback), cold, with PIECE-sized pieces (default 1Mi): the
# commonest pull in a cluster, one pod of a new image on one node. Then the same agent
# pulling an image its one peer already holds: from a healthy peer, from a peer that lies
# (sends corrupt pieces: --fault-corrupt-pieces) and from a peer that stalls (SIGSTOP:
# still listed, connections accepted by its kernel, nothing answered).
# Not a test: run it on a quiet machine.
#   [LINK=1gbit] [RUNS=2] [RATELIMIT=512M] [SWARM=1] [PIECE=1Mi] bench/agent-pull.sh [LAYERS]   (default 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab-lib.sh
layers="${1:-512M,256M,128M,64M,64M}"
runs="${RUNS:-2}"
scripts/install-deps.sh
build_release
test -x "$bin"

work=$(mktemp -d /var/tmp/peerpull-bench-XXXXXX)
registry_pid=""; agent_pid=""; peer_pid=""; ns=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && { kill -CONT "$peer_pid"; kill "$peer_pid"; } 2>/dev/null || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

listen=127.0.0.1:0
if [ -n "${LINK:-}" ]; then
  ns="ppbench$$"; host_if="ppb$$a"; ns_if="ppb$$b"
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$ns_if"
  ip link set "$ns_if" netns "$ns"
  ip addr add 198.18.0.1/30 dev "$host_if"; ip link set "$host_if" up
  ip netns exec "$ns" ip addr add 198.18.0.2/30 dev "$ns_if"
  ip netns exec "$ns" ip link set "$ns_if" up; ip netns exec "$ns" ip link set lo up
  # Shape both directions: the origin's uploads are the node's downloads.
  tc qdisc add dev "$host_if" root tbf rate "$LINK" burst 1mb latency 50ms
  ip netns exec "$ns" tc qdisc add dev "$ns_if" root tbf rate "$LINK" burst 1mb latency 50ms
  listen=198.18.0.2:5000
fi

start_registry "$work/registry" "$listen" "" "$ns"  # sets $registry, $registry_pid
blobs_dir=$work/registry/storage/docker/registry/v2/blobs

echo "generating and pushing the image..."
"$bin" make-test-image --output "$work/src" --tag v1 --layers "$layers" --seed 42 >/dev/null
skopeo --insecure-policy copy --dest-tls-verify=false -q "oci:$work/src:v1" "docker://$registry/bench/big:v1"
rm -rf "$work/src"
bytes=$(du -sb "$blobs_dir" | cut -f1)
biggest=$(find "$blobs_dir" -name data -printf '%s %h\n' | sort -n | tail -1)
big_size=${biggest%% *}; big_digest="sha256:$(basename "${biggest#* }")"
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
echo "image: $(mib "$bytes") MiB in layers $layers, registry $registry"

if [ -n "${LINK:-}" ]; then
  # The physical limit: the shaped link's rate (tc units: bit, kbit, mbit, gbit).
  link=$(echo "$LINK" | awk '{ v = $0 + 0; u = tolower($0); sub(/^[0-9.]+/, "", u)
    m = (u == "gbit") ? 1e9 : (u == "mbit") ? 1e6 : (u == "kbit") ? 1e3 : 1; printf "%.0f", v * m / 8 }')
  limit=$(awk -v b="$bytes" -v r="$link" 'BEGIN { printf "%.3f", b / r }')
  echo "origin behind a $LINK link (198.18.0.2, tc tbf): $(mib "$link") MiB/s -> physical limit for the image: ${limit}s"
else
  # The physical limit on this node: the loopback bandwidth of one HTTP stream from the registry.
  t0=$(now); curl -s -o /dev/null "http://$registry/v2/bench/big/blobs/$big_digest"; t1=$(now)
  link=$(awk -v b="$big_size" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.0f", b / (z - a) }')
  limit=$(awk -v b="$bytes" -v r="$link" 'BEGIN { printf "%.3f", b / r }')
  echo "loopback bandwidth (curl, one stream): $(mib "$link") MiB/s -> physical limit for the image: ${limit}s"
fi

# The image's layers and config: the repository's layer links. (The blob store also holds
# the manifest, which the registry serves only by the manifests endpoint: 404 here.)
blobs=$(ls "$work/registry/storage/docker/registry/v2/repositories/bench/big/_layers/sha256")

# One pull by client $1 from registry $2; prints "seconds client-cpu registry-cpu agent-cpu agent-peak-MiB".
pull() {
  local client=$1 source=$2 out="$work/out" a b r0 g0 c
  rm -rf "$out"
  r0=$(cpu "$registry_pid"); g0=0; [ -n "$agent_pid" ] && { g0=$(cpu "$agent_pid"); echo 5 > "/proc/$agent_pid/clear_refs"; }
  a=$(now)
  if [ "$client" = skopeo ]; then
    c=$( { /usr/bin/time -f '%U %S' skopeo --insecure-policy copy --src-tls-verify=false -q \
      "docker://$source/bench/big:v1" "oci:$out:v1" 2>&1 >/dev/null; } | tail -1 | awk '{ print $1 + $2 }')
  else
    local args=() d
    for d in $blobs; do args+=(-o /dev/null "http://$source/v2/bench/big/blobs/sha256:$d"); done
    c=$( { /usr/bin/time -f '%U %S' curl -sf --parallel --parallel-max 16 "${args[@]}" 2>&1 >/dev/null; } | tail -1 | awk '{ print $1 + $2 }')
  fi
  b=$(now); rm -rf "$out"
  local g=0 peak=0
  [ -n "$agent_pid" ] && { g=$(awk -v a="$g0" -v z="$(cpu "$agent_pid")" 'BEGIN { print z - a }')
    peak=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$agent_pid/status"); }
  awk -v a="$a" -v z="$b" -v c="$c" -v r0="$r0" -v r="$(cpu "$registry_pid")" -v g="$g" -v p="$peak" \
    'BEGIN { printf "%.3f %.2f %.2f %.2f %d\n", z - a, c, r - r0, g, p }'
}
start_agent() {
  rm -rf "$work/agent"
  "$bin" agent --listen 127.0.0.1 --port "$agent_port" --origin "$registry" --plain-http-origin "$registry" \
    --data-dir "$work/agent" --ratelimit "${RATELIMIT:-512M}" --log-level warning >"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$agent_port/healthz" && { idle_rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$agent_pid/status"); return; }
    sleep 0.1
  done
  echo "agent did not start: $(cat "$work/agent.log")"; exit 1
}
stop_agent() {
  [ -n "$peer_pid" ] && kill -CONT "$peer_pid" 2>/dev/null
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
  if [ -n "$peer_pid" ]; then kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; peer_pid=""; fi
}
peer_pid=""
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The agent under test (node-0) and an idle second agent (node-1), members of one swarm.
start_swarm() {  # [extra flags for node-1]
  local p0 p1
  p0=$(free_port); p1=$(free_port); c1=$(free_port)
  rm -rf "$work/agent" "$work/peer"
  printf 'node-0 127.0.0.1 %s\nnode-1 127.0.0.1 %s\n' "$p0" "$p1" > "$work/peers"
  echo "a benchmark swarm's secret, long enough for it...." > "$work/secret"
  local common=(--origin "$registry" --plain-http-origin "$registry" --ratelimit "${RATELIMIT:-512M}" --log-level warning
                --peers "$work/peers" --peer-secret-file "$work/secret" --piece-size "${PIECE:-1Mi}")
  "$bin" agent --listen 127.0.0.1 --port "$c1" --data-dir "$work/peer" --node-name node-1 --peer-port "$p1" "${common[@]}" "$@" \
    >"$work/peer.log" 2>&1 &
  peer_pid=$!
  "$bin" agent --listen 127.0.0.1 --port "$agent_port" --data-dir "$work/agent" --node-name node-0 --peer-port "$p0" "${common[@]}" \
    >"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$agent_port/healthz" && curl -sf -o /dev/null "http://127.0.0.1:$c1/healthz" && return
    sleep 0.1
  done
  echo "swarm agents did not start: $(cat "$work/agent.log" "$work/peer.log")"; exit 1
}
agent_port=$(free_port)

best() { sort -n | head -1; }  # the fastest of several result lines
report() {  # name result-line direct-seconds
  echo "$2" | awk -v n="$1" -v d="$3" -v b="$bytes" -v l="$limit" -v gib=$((1 << 30)) '{
    printf "  %-12s %6.2fs %6.0f MiB/s  x%.2f of direct  x%.2f of the limit   CPU s/GiB: client %.2f registry %.2f agent %.2f", \
      n, $1, b / $1 / 1048576, d / $1, l / $1, $2 * gib / b, $3 * gib / b, $4 * gib / b
    if ($5 > 0) printf "  agent peak RSS %d MiB", $5
    printf "\n" }'
}

for client in ${CLIENTS:-skopeo curl}; do
  direct=(); cold=(); warm=(); swarm=(); healthy=(); lying=(); stalled=()
  for i in $(seq "$runs"); do direct+=("$(pull "$client" "$registry")"); done
  if [ -n "${SWARM:-}" ]; then
    for i in $(seq "$runs"); do
      start_swarm
      swarm+=("$(pull "$client" "127.0.0.1:$agent_port")")
      stop_agent
      # The peer pulls first (it then holds every piece), and then behaves, lies or stalls.
      for fault in healthy lying stalled; do
        if [ "$fault" = lying ]; then start_swarm --fault-corrupt-pieces; else start_swarm; fi
        pull "$client" "127.0.0.1:$c1" >/dev/null
        sleep 1  # its announcement as holder reaches the coordinator
        [ "$fault" = stalled ] && kill -STOP "$peer_pid"
        r=$(pull "$client" "127.0.0.1:$agent_port")
        case $fault in healthy) healthy+=("$r") ;; lying) lying+=("$r") ;; stalled) stalled+=("$r") ;; esac
        stop_agent
      done
    done
  fi
  for i in $(seq "$runs"); do
    start_agent
    cold+=("$(pull "$client" "127.0.0.1:$agent_port")")
    warm+=("$(pull "$client" "127.0.0.1:$agent_port")")
    stop_agent
  done
  d=$(printf '%s\n' "${direct[@]}" | best)
  all() { printf '%s\n' "$@" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }'; }
  echo "$client (best of $runs; seconds of all runs: direct $(all "${direct[@]}"); cold $(all "${cold[@]}"); warm $(all "${warm[@]}")):"
  report "direct" "$d" "${d%% *}"
  report "agent, cold" "$(printf '%s\n' "${cold[@]}" | best)" "${d%% *}"
  report "agent, warm" "$(printf '%s\n' "${warm[@]}" | best)" "${d%% *}"
  if [ -n "${SWARM:-}" ]; then
    echo "  (swarm of two, cold, seconds of all runs: $(all "${swarm[@]}"))"
    report "swarm, lone" "$(printf '%s\n' "${swarm[@]}" | best)" "${d%% *}"
    report "peer holds" "$(printf '%s\n' "${healthy[@]}" | best)" "${d%% *}"
    report "peer lies" "$(printf '%s\n' "${lying[@]}" | best)" "${d%% *}"
    report "peer stalls" "$(printf '%s\n' "${stalled[@]}" | best)" "${d%% *}"
  fi
done
echo "agent RSS when idle: ${idle_rss} MiB (mostly its mapped code); ratelimit ${RATELIMIT:-512M}; $(nproc) cores"

#!/usr/bin/env bash
# Cold rollout benchmark (release build, static stdlib as shipped): N nodes, each a network
# namespace with tc-shaped links (scripts/netlab.sh), the origin (Debian's registry) in its
# own; every node fetches every layer of a new image at the same moment, once directly from
# the origin and once through its PeerPull agent (the swarm). Clients are curl (one per
# layer, into /dev/null), so the agents' CPU is what is measured. Not a test.
#
#   NODES="4 8" SIZE_MIB=256 RATE=100mbit ORIGIN_RATE=100mbit bench/swarm-rollout.sh
#   SKIP_DIRECT=1: the swarm only (e.g. while profiling it with perf)
#
# Per N it prints: the lower bound T* = max(S/R0, S/R, N*S/(R0+N*R)) at TCP goodput
# (95.5% of the tc rate, measured here), direct and swarm completion times (p50, max) as
# multiples of T*, the origin's bytes sent as a multiple of the image, the agents' CPU
# seconds per GiB delivered to clients, and the agents' peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NODES=${NODES:-"4 8"} SIZE_MIB=${SIZE_MIB:-256} RATE=${RATE:-100mbit} ORIGIN_RATE=${ORIGIN_RATE:-$RATE}
PIECE=${PIECE:-1Mi}

scripts/install-deps.sh >/dev/null
echo "building the release binary (static stdlib)..."
swift build -c release --static-swift-stdlib --scratch-path .build-release --product peerpull >/tmp/peerpull-bench-build.log 2>&1 \
  || { tail -30 /tmp/peerpull-bench-build.log; exit 1; }
bin=$PWD/.build-release/release/peerpull
work=$(mktemp -d /tmp/peerpull-bench.XXXXXX)
prefix="pb$(printf '%04d' $((RANDOM % 10000)))"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/netlab.sh down "$prefix" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

rate_bps() {  # tc rate (kbit, mbit, gbit) -> bytes of TCP goodput per second
  awk -v r="$1" 'BEGIN { n = r + 0; u = tolower(r); gsub(/[0-9.]/, "", u)
    m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : 1; print n * m / 8 * 0.955 }'
}
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
now() { date +%s.%N; }

half=$((SIZE_MIB / 2))
"$bin" make-test-image --output "$work/image" --layers "${half}M,$((SIZE_MIB - half))M" >/dev/null
size=$(du -cb "$work"/image/blobs/sha256/* | tail -1 | cut -f1)
R=$(rate_bps "$RATE"); R0=$(rate_bps "$ORIGIN_RATE")
head -c 48 /dev/urandom | base64 > "$work/secret"
echo
echo "image: $SIZE_MIB MiB in 2 layers; nodes at $RATE each way, origin at $ORIGIN_RATE; pieces $PIECE"
printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s\n' N "T* (s)" "direct p50/max (xT*)" "swarm p50/max (xT*)" "origin/size" "agent CPU" "agent RSS"

for N in $NODES; do
  scripts/netlab.sh up "$prefix" "$N" "$RATE" "$ORIGIN_RATE" 2>/dev/null
  ns_o=$(scripts/netlab.sh ns "$prefix" origin)
  mkdir -p "$work/registry"
  cat > "$work/registry/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/storage}}
http: {addr: "198.18.0.1:5000"}
EOF
  ip netns exec "$ns_o" docker-registry serve "$work/registry/config.yml" >"$work/registry.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do ip netns exec "$ns_o" curl -sf -o /dev/null http://198.18.0.1:5000/v2/ && break; sleep 0.1; done
  ip netns exec "$ns_o" skopeo --insecure-policy copy --dest-tls-verify=false "oci:$work/image:latest" docker://198.18.0.1:5000/bench/app:v1 >/dev/null
  manifest=$(ip netns exec "$ns_o" curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://198.18.0.1:5000/v2/bench/app/manifests/v1)
  layers=$(echo "$manifest" | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
  bound=$(awk -v s="$size" -v r="$R" -v r0="$R0" -v n="$N" 'BEGIN { a = s / r0; b = s / r; c = n * s / (r0 + n * r)
    m = a; if (b > m) m = b; if (c > m) m = c; printf "%.2f", m }')

  # Every node fetches every layer at once from $1 (a URL prefix); prints the nodes' seconds.
  rollout() {
    local base=$1 t0; t0=$(now)
    for i in $(seq 1 "$N"); do
      (ns=$(scripts/netlab.sh ns "$prefix" "$i")
       for d in $layers; do ip netns exec "$ns" curl -sf -o /dev/null --max-time 900 "$base/v2/bench/app/blobs/$d" & done
       wait; awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }') &
    done
    wait
  }
  stats() { sort -n | awk -v b="$bound" '{ v[NR] = $1 } END { printf "%.2f/%.2f", v[int((NR + 1) / 2)] / b, v[NR] / b }'; }

  if [ -n "${SKIP_DIRECT:-}" ]; then direct="-"; else direct=$(rollout "http://198.18.0.1:5000" | stats); fi

  for i in $(seq 1 "$N"); do echo "node-$i $(scripts/netlab.sh addr "$i") 65002"; done > "$work/peers"
  agents=()
  for i in $(seq 1 "$N"); do
    ns=$(scripts/netlab.sh ns "$prefix" "$i")
    ip netns exec "$ns" "$bin" agent --port 65001 --plain-http-origin 198.18.0.1:5000 --data-dir "$work/data-$N-$i" \
      --node-name "node-$i" --peers "$work/peers" --peer-secret-file "$work/secret" --piece-size "$PIECE" \
      --log-level warning >"$work/agent-$N-$i.log" 2>&1 &
    agents+=($!); pids+=($!)
  done
  for i in $(seq 1 "$N"); do
    ns=$(scripts/netlab.sh ns "$prefix" "$i")
    for _ in $(seq 200); do ip netns exec "$ns" curl -sf -o /dev/null http://127.0.0.1:65001/healthz && break; sleep 0.05; done
  done
  c0=0; for p in "${agents[@]}"; do c0=$(awk -v a="$c0" -v b="$(cpu "$p")" 'BEGIN { print a + b }'); echo 5 > "/proc/$p/clear_refs"; done
  tx0=$(scripts/netlab.sh tx "$prefix" origin)
  swarm=$(rollout "http://127.0.0.1:65001" | stats)
  tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
  c1=0; rss=0
  for p in "${agents[@]}"; do
    c1=$(awk -v a="$c1" -v b="$(cpu "$p")" 'BEGIN { print a + b }')
    r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status"); [ "$r" -gt "$rss" ] && rss=$r
  done
  cpu_gib=$(awk -v a="$c0" -v b="$c1" -v s="$size" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / (n * s / 1073741824) }')
  origin=$(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2f", t / s }')
  printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s\n' "$N" "$bound" "$direct" "$swarm" "${origin}x" "${cpu_gib} s/GiB" "${rss} MiB"
  for p in "${agents[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=(); wait 2>/dev/null || true
  scripts/netlab.sh down "$prefix"
  rm -rf "$work"/data-* "$work/registry"
done
echo
echo "T*: the bound no schedule beats; direct: every node from the origin; origin/size: bytes the origin's link sent (TCP/IP framing included) / image."

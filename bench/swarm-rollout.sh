#!/usr/bin/env bash
# Cold rollout benchmark (release build, static stdlib as shipped): N nodes, each a network
# namespace with tc-shaped links (scripts/netlab.sh), the origin (Debian's registry) in its
# own; every node fetches every layer of a new image at the same moment, once directly from
# the origin and once through its PeerPull agent (the swarm). Clients are curl (one per
# layer, into /dev/null), so the agents' CPU is what is measured. Not a test.
#
#   NODES="4 8" SIZE_MIB=256 RATE=100mbit ORIGIN_RATE=100mbit RUNS=1 bench/swarm-rollout.sh
#   SKIP_DIRECT=1: the swarm only (e.g. while profiling it with perf)
#   RUNS=3: the swarm rollout repeated on fresh agents, then the median of each column
#   DETAIL=1: after each swarm run, the agents' origin pieces and failed peer requests by reason
#
# Per N it prints: the lower bound T* = max(S/R0, S/R, N*S/(R0+N*R)) at TCP goodput
# (95.5% of the tc rate, measured here), direct and swarm completion times (p50, max) as
# multiples of T*, the origin's bytes sent as a multiple of the image, the agents' CPU
# seconds per GiB delivered to clients, the agents' peak RSS, and how busy the machine's
# cores were during the swarm rollout (near 100%: the CPU, not the links, set the pace).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
NODES=${NODES:-"4 8"} SIZE_MIB=${SIZE_MIB:-256} RATE=${RATE:-100mbit} ORIGIN_RATE=${ORIGIN_RATE:-$RATE}
PIECE=${PIECE:-1Mi} RUNS=${RUNS:-1}

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
printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s\n' N "T* (s)" "direct p50/p99/max" "swarm p50/p99/max" "origin/size" "agent CPU" "agent RSS" "busy"

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
  # The clients' CPU seconds (curl and its wrappers, all children) go to $work/clients-cpu.
  rollout() {
    local base=$1 t0; t0=$(now)
    times > "$work/times0"  # in this shell: a subshell has no children's times
    local nodes=()
    for i in $(seq 1 "$N"); do
      (ns=$(scripts/netlab.sh ns "$prefix" "$i")
       for d in $layers; do ip netns exec "$ns" curl -sf -o /dev/null --max-time 900 "$base/v2/bench/app/blobs/$d" & done
       wait; awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }') &
      nodes+=($!)
    done
    wait "${nodes[@]}"  # only these: the agents and the registry are children of this shell too
    times > "$work/times1"
    awk 'FNR == 2 { split($1, u, "m"); split($2, s, "m"); t[FILENAME] = u[1] * 60 + u[2] + s[1] * 60 + s[2] }
         END { print t[ARGV[2]] - t[ARGV[1]] }' "$work/times0" "$work/times1" > "$work/clients-cpu"
  }
  stats() { sort -n | awk -v b="$bound" '{ v[NR] = $1 } END { p99 = int(NR * 0.99 + 0.999); if (p99 < 1) p99 = 1
    printf "%.2f/%.2f/%.2f", v[int((NR + 1) / 2)] / b, v[p99] / b, v[NR] / b }'; }
  busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }

  if [ -n "${SKIP_DIRECT:-}" ]; then direct="-"; else
    reg=$(pgrep -n -f "docker-registry serve $work/registry/config.yml")
    r0=$(cpu "$reg")
    rollout "http://198.18.0.1:5000" > "$work/direct-times"
    direct=$(stats < "$work/direct-times")
    # For scale, what the simplest processes spend on these links per GiB: the origin
    # (Go, sending from the page cache) and curl (receiving into /dev/null).
    floor=$(awk -v a="$r0" -v b="$(cpu "$reg")" -v c="$(cat "$work/clients-cpu")" -v s="$size" -v n="$N" \
      'BEGIN { g = n * s / 1073741824; printf "registry %.2f s/GiB sent, curl %.2f s/GiB received", (b - a) / g, c / g }')
  fi

  for i in $(seq 1 "$N"); do echo "node-$i $(scripts/netlab.sh addr "$i") 65002"; done > "$work/peers"
  rows=()
  for run in $(seq 1 "$RUNS"); do
    agents=()
    for i in $(seq 1 "$N"); do
      ns=$(scripts/netlab.sh ns "$prefix" "$i")
      rm -rf "$work/data-$N-$i"
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
    b0=$(busy)
    rollout "http://127.0.0.1:65001" > "$work/swarm-times"
    swarm=$(stats < "$work/swarm-times")
    b1=$(busy)
    tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    c1=0; rss=0
    for p in "${agents[@]}"; do
      c1=$(awk -v a="$c1" -v b="$(cpu "$p")" 'BEGIN { print a + b }')
      r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status"); [ "$r" -gt "$rss" ] && rss=$r
    done
    cpu_gib=$(awk -v a="$c0" -v b="$c1" -v s="$size" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / (n * s / 1073741824) }')
    origin=$(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2f", t / s }')
    load=$(echo "$b0 $b1" | awk '{ printf "%d%%", 100 * ($3 - $1) / (($3 - $1) + ($4 - $2)) }')
    row=$(printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s' "$N" "$bound" "$direct" "$swarm" "${origin}x" "${cpu_gib} s/GiB" "${rss} MiB" "$load")
    echo "$row"; rows+=("$row")
    if [ -n "${DETAIL:-}" ]; then  # why pieces did not come from peers, summed over the agents
      for i in $(seq 1 "$N"); do
        ip netns exec "$(scripts/netlab.sh ns "$prefix" "$i")" curl -s --max-time 2 http://127.0.0.1:65001/metrics
      done | awk '/^peerpull_agent_piece_requests_failed_total/ { match($0, /reason="[a-z]+"/); r = substr($0, RSTART + 8, RLENGTH - 9); f[r] += $NF }
                  /^peerpull_agent_pieces_total\{source="origin"/ { o += $NF }
                  /^peerpull_agent_coordinator_requests_total/ { match($0, /result="[a-z]+"/); r = substr($0, RSTART + 8, RLENGTH - 9); c[r] += $NF }
                  END { printf "     origin pieces %d; failed peer requests:", o; for (r in f) if (f[r] > 0) printf " %s=%d", r, f[r]
                        printf "; coordinator requests:"; for (r in c) printf " %s=%d", r, c[r]; print "" }'
    fi
    for p in "${agents[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${agents[@]}" 2>/dev/null || true
  done
  [ -n "${floor:-}" ] && echo "     direct pulls on these links: $floor"
  if [ "$RUNS" -gt 1 ]; then  # the median of each column over the runs
    printf '%s\n' "${rows[@]}" | awk -v n="$N" -v b="$bound" -v d="$direct" '
      { split($4, t, "/"); p50[NR] = t[1]; p99[NR] = t[2]; mx[NR] = t[3]; o[NR] = $5 + 0; c[NR] = $6 + 0; r[NR] = $8 + 0; u[NR] = $10 + 0 }
      function med(a, k, i, j, x) { for (i = 1; i <= NR; i++) x[i] = a[i]; for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (x[j] < x[i]) { k = x[i]; x[i] = x[j]; x[j] = k }; return x[int((NR + 1) / 2)] }
      END { printf "%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s (median of %d)\n", n, b, d, sprintf("%.2f/%.2f/%.2f", med(p50), med(p99), med(mx)),
            sprintf("%.2fx", med(o)), sprintf("%.2f s/GiB", med(c)), sprintf("%d MiB", med(r)), sprintf("%d%%", med(u)), NR }'
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=(); wait 2>/dev/null || true
  scripts/netlab.sh down "$prefix"
  rm -rf "$work"/data-* "$work/registry"
done
echo
echo "T*: the bound no schedule beats; direct: every node from the origin; origin/size: bytes the origin's link sent (TCP/IP framing included) / image."

#!/usr/bin/env bash
# Cold rollout benchmark (release build, static stdlib as shipped): N nodes, each a network
# namespace with tc-shaped links (scripts/netlab.sh), the origin (Debian's registry) in its
# own; every node fetches every layer of a new image at the same moment, once directly from
# the origin, once through its PeerPull agent (the swarm) and once with BitTorrent (Debian's
# opentracker and aria2c, the origin's namespace seeding). PeerPull's and the direct pulls'
# clients are curl (one per layer, into /dev/null), so the agents' CPU is what is measured.
# Not a test. `make bench` runs it for N = 4, 8, 16.
#
#   NODES="4 8" SIZE_MIB=256 RATE=100mbit ORIGIN_RATE=100mbit RUNS=1 bench/swarm-rollout.sh
#   SKIP_DIRECT=1: the swarm only (e.g. while profiling it with perf)
#   RUNS=3: the swarm rollout repeated on fresh agents, then the median of each column
#   DETAIL=1: after each swarm run, the agents' origin pieces and failed peer requests by reason
#   SKIP_BT=1: no BitTorrent rollout
#   SKIP_PROXY=1: no pull-through cache per node (docker-registry in proxy mode)
#   STAGGER=3: the rolling update's seconds between node starts; SKIP_ROLLING=1 leaves it out
#   SKIP_SMALL=1: no small-image (10 MiB in 3 layers) pulls, direct and through the agents
#   CONGESTION="host cubic": every N with the host's TCP congestion control, then with cubic
#   (the default). The host's (bbr here) fills links loaded both ways to 55-85 % on some flows;
#   cubic fills them. A namespace may use cubic only if the root namespace's
#   net.ipv4.tcp_allowed_congestion_control lists it: the bench adds it for the cubic pass,
#   says so, and puts the setting back at the end (also on Ctrl-C). CONGESTION=host: one pass.
#   OUT=DIR: where results go (default bench/results/rollout-DATE): results.jsonl (one JSON
#   object per system and run: node times, origin bytes, CPU, peak RSS), bytes-over-time-nN.txt
#   (the first PeerPull run's bytes sent by the origin and by the nodes, every 0.5 s), then
#   table.md, completion-times.png and bytes-over-time.png from bench/report.py
#
# Per N it prints: the lower bound T* = max(S/R0, S/R, N*S/(R0+N*R)) at TCP goodput
# (95.5% of the tc rate, measured here), direct and swarm completion times (p50, max) as
# multiples of T*, the origin's bytes sent as a multiple of the image, the agents' CPU
# seconds per GiB delivered to clients, the agents' peak RSS, and how busy the machine's
# cores were during the swarm rollout (near 100%: the CPU, not the links, set the pace).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-"4 8"} SIZE_MIB=${SIZE_MIB:-256} RATE=${RATE:-100mbit} ORIGIN_RATE=${ORIGIN_RATE:-$RATE}
PIECE=${PIECE:-1Mi} RUNS=${RUNS:-1} CONGESTION=${CONGESTION:-host cubic}

scripts/install-deps.sh --bench >/dev/null
source scripts/lab-lib.sh
build_release
work=$(mktemp -d /tmp/peerpull-bench.XXXXXX)
out=${OUT:-bench/results/rollout-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"; : > "$out/results.jsonl"
# One result as a JSON line: system, N, the nodes' seconds (a file), origin bytes, CPU s/GiB, peak RSS MiB, busy %.
record() {
  python3 - "$@" "$congestion" >> "$out/results.jsonl" <<'PY'
import json, sys
system, nodes, times, origin, cpu, rss, busy, bound, size, rate, origin_rate, piece, congestion = sys.argv[1:14]
num = lambda v: None if v in ("", "-") else float(v)
print(json.dumps({"system": system, "nodes": int(nodes), "node_seconds": [float(l) for l in open(times) if l.strip()],
                  "origin_bytes": int(origin), "cpu_seconds_per_gib": num(cpu), "peak_rss_mib": num(rss), "busy_percent": num(busy),
                  "bound_seconds": float(bound), "image_bytes": int(size), "rate": rate, "origin_rate": origin_rate, "piece": piece,
                  "congestion": congestion}))
PY
}
prefix="pb$(printf '%04d' $((RANDOM % 10000)))"
pids=()
allowed=$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control)
host_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/netlab.sh down "$prefix" 2>/dev/null || true
  sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

half=$((SIZE_MIB / 2))
"$bin" make-test-image --output "$work/image" --layers "${half}M,$((SIZE_MIB - half))M" >/dev/null
size=$(du -cb "$work"/image/blobs/sha256/* | tail -1 | cut -f1)
R=$(rate_bps "$RATE"); R0=$(rate_bps "$ORIGIN_RATE")
head -c 48 /dev/urandom | base64 > "$work/secret"
echo
echo "image: $SIZE_MIB MiB in 2 layers; nodes at $RATE each way, origin at $ORIGIN_RATE; pieces $PIECE"
printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s\n' N "T* (s)" "direct p50/p99/max" "swarm p50/p99/max" "origin/size" "agent CPU" "agent RSS" "busy"

for congestion in $CONGESTION; do
if [ "$congestion" != host ]; then
  grep -qw "$congestion" /proc/sys/net/ipv4/tcp_available_congestion_control || { echo "skipping $congestion: the kernel does not have it"; continue; }
  if ! grep -qw "$congestion" /proc/sys/net/ipv4/tcp_allowed_congestion_control; then
    echo "net.ipv4.tcp_allowed_congestion_control: '$allowed' + $congestion for this pass (put back at the end)"
    sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed $congestion" || { echo "skipping $congestion: not allowed here"; continue; }
  fi
fi
echo; echo "== TCP congestion control: $([ "$congestion" = host ] && echo "the host's ($host_cc)" || echo "$congestion")"
for N in $NODES; do
  scripts/netlab.sh up "$prefix" "$N" "$RATE" "$ORIGIN_RATE" 2>/dev/null
  if [ "$congestion" != host ]; then
    for n in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(origin|n[0-9]+)$"); do
      ip netns exec "$n" sysctl -qw net.ipv4.tcp_congestion_control="$congestion"
    done
  fi
  ns_o=$(scripts/netlab.sh ns "$prefix" origin)
  reg=$(start_origin_registry "$ns_o" "$work/registry"); pids+=("$reg")
  ip netns exec "$ns_o" skopeo --insecure-policy copy --dest-tls-verify=false "oci:$work/image:latest" docker://198.18.0.1:5000/bench/app:v1 >/dev/null
  manifest=$(ip netns exec "$ns_o" curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://198.18.0.1:5000/v2/bench/app/manifests/v1)
  layers=$(echo "$manifest" | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
  bound=$(lower_bound "$size" "$R" "$R0" "$N")

  # Every node fetches every layer at once from $1 (a URL prefix); prints the nodes' seconds.
  # The clients' CPU seconds (curl and its wrappers, all children) go to $work/clients-cpu.
  # With $2 (seconds), node i starts (i-1)*$2 s after the first, and its time counts from its own start.
  rollout() {
    local base=$1 stagger=${2:-0} t0; t0=$(now)
    times > "$work/times0"  # in this shell: a subshell has no children's times
    local nodes=()
    for i in $(seq 1 "$N"); do
      (ns=$(scripts/netlab.sh ns "$prefix" "$i")
       if [ "$stagger" != 0 ]; then sleep "$(awk -v a="$t0" -v n="$(now)" -v d="$(( (i - 1) * stagger ))" 'BEGIN { w = a + d - n; print (w > 0) ? w : 0 }')"; fi
       t1=$(now)
       for d in $layers; do ip netns exec "$ns" curl -sf -o /dev/null --max-time 900 "$base/v2/${repo:-bench/app}/blobs/$d" & done
       wait; awk -v a="$t1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }') &
      nodes+=($!)
    done
    wait "${nodes[@]}"  # only these: the agents and the registry are children of this shell too
    times > "$work/times1"
    awk 'FNR == 2 { split($1, u, "m"); split($2, s, "m"); t[FILENAME] = u[1] * 60 + u[2] + s[1] * 60 + s[2] }
         END { print t[ARGV[2]] - t[ARGV[1]] }' "$work/times0" "$work/times1" > "$work/clients-cpu"
  }
  stats() { sort -n | awk -v b="$bound" '{ v[NR] = $1 } END { p99 = int(NR * 0.99 + 0.999); if (p99 < 1) p99 = 1
    printf "%.2f/%.2f/%.2f", v[int((NR + 1) / 2)] / b, v[p99] / b, v[NR] / b }'; }

  if [ -n "${SKIP_DIRECT:-}" ]; then direct="-"; else
    r0=$(cpu "$reg"); tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy)
    rollout "http://198.18.0.1:5000" > "$work/direct-times"
    direct=$(stats < "$work/direct-times")
    record direct "$N" "$work/direct-times" $(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 )) - - \
      "$(busy_percent "$b0" "$(busy)")" "$bound" "$size" "$RATE" "$ORIGIN_RATE" -
    # For scale, what the simplest processes spend on these links per GiB: the origin
    # (Go, sending from the page cache) and curl (receiving into /dev/null).
    floor=$(awk -v a="$r0" -v b="$(cpu "$reg")" -v c="$(cat "$work/clients-cpu")" -v s="$size" -v n="$N" \
      'BEGIN { g = n * s / 1073741824; printf "registry %.2f s/GiB sent, curl %.2f s/GiB received", (b - a) / g, c / g }')
  fi

  # A pull-through cache per node (Debian's docker-registry in proxy mode on each node's
  # loopback): what a naive node cache does. Every node's cache reads the whole image from
  # the origin. SKIP_PROXY=1 leaves it out.
  if [ -z "${SKIP_PROXY:-}" ]; then
    proxies=()
    for i in $(seq 1 "$N"); do
      ns=$(scripts/netlab.sh ns "$prefix" "$i"); d=$work/proxy-$N-$i
      rm -rf "$d"; mkdir -p "$d"
      printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/storage}}\nhttp: {addr: "127.0.0.1:5000"}\nproxy: {remoteurl: "http://198.18.0.1:5000"}\n' "$d" > "$d/config.yml"
      ip netns exec "$ns" docker-registry serve "$d/config.yml" >"$d/registry.log" 2>&1 &
      proxies+=($!); pids+=($!)
    done
    for i in $(seq 1 "$N"); do
      ns=$(scripts/netlab.sh ns "$prefix" "$i")
      for _ in $(seq 100); do ip netns exec "$ns" curl -sf -o /dev/null http://127.0.0.1:5000/v2/ && break; sleep 0.1; done
    done
    for p in "${proxies[@]}"; do echo 5 > "/proc/$p/clear_refs"; done
    c0=$(cpu_of "${proxies[@]}"); tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy)
    rollout "http://127.0.0.1:5000" > "$work/proxy-times"
    b1=$(busy); tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    proxy_cpu=$(cpu_per_gib "$c0" "$(cpu_of "${proxies[@]}")" "$size" "$N"); proxy_rss=$(peak_rss_mib "${proxies[@]}")
    record proxy-cache "$N" "$work/proxy-times" "$tx" "$proxy_cpu" "$proxy_rss" "$(busy_percent "$b0" "$b1")" "$bound" "$size" "$RATE" "$ORIGIN_RATE" -
    for p in "${proxies[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${proxies[@]}" 2>/dev/null || true
    echo "     pull-through cache per node (docker-registry proxy): $(stats < "$work/proxy-times") of T*, origin $(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2f", t / s }')x, $proxy_cpu s/GiB, $proxy_rss MiB"
  fi

  for i in $(seq 1 "$N"); do echo "node-$i $(scripts/netlab.sh addr "$i") 65002"; done > "$work/peers"
  rows=()
  start_agents() {  # fresh agents (empty caches) on every node, PIDs in $agents
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
    for p in "${agents[@]}"; do echo 5 > "/proc/$p/clear_refs"; done  # peak RSS from here on
    c0=$(cpu_of "${agents[@]}")
  }
  stop_agents() { for p in "${agents[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${agents[@]}" 2>/dev/null || true; }
  # Bytes sent by the origin and by all nodes together, every 0.5 s, until killed: read in
  # the switch's namespace, where each host's link ends (what a host sent is what its
  # switch port received). One shell for all samples, so the sampling costs next to nothing.
  sample_bytes() {
    ip netns exec "$prefix-sw" sh -c 'cd /sys/class/net; while :; do
        o=$(cat '"$prefix"'ob/statistics/rx_bytes); p=0
        for f in '"$prefix"'n*b/statistics/rx_bytes; do read -r b < "$f"; p=$((p + b)); done
        echo "$(date +%s.%N) $o $p"; sleep 0.5; done' > "$1" &
    sampler=$!
  }
  for run in $(seq 1 "$RUNS"); do
    start_agents
    tx0=$(scripts/netlab.sh tx "$prefix" origin)
    b0=$(busy)
    [ "$run" = 1 ] && sample_bytes "$out/bytes-over-time-$congestion-n$N.txt"
    rollout "http://127.0.0.1:65001" > "$work/swarm-times"
    [ "$run" = 1 ] && { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }
    swarm=$(stats < "$work/swarm-times")
    b1=$(busy)
    tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    rss=$(peak_rss_mib "${agents[@]}"); cpu_gib=$(cpu_per_gib "$c0" "$(cpu_of "${agents[@]}")" "$size" "$N")
    origin=$(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2f", t / s }')
    load="$(busy_percent "$b0" "$b1")%"
    row=$(printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s' "$N" "$bound" "$direct" "$swarm" "${origin}x" "${cpu_gib} s/GiB" "${rss} MiB" "$load")
    record peerpull "$N" "$work/swarm-times" "$tx" "$cpu_gib" "$rss" "${load%\%}" "$bound" "$size" "$RATE" "$ORIGIN_RATE" "$PIECE"
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
    stop_agents
  done
  [ -n "${floor:-}" ] && echo "     direct pulls on these links: $floor"
  # A rolling update: fresh agents; the nodes start one after another, STAGGER (3) s apart, as
  # a Deployment's rollout does. A node's bound is then one node's, max(S/R0, S/R): a late
  # node should fetch from the peers that already hold the image, not from the origin.
  if [ -z "${SKIP_ROLLING:-}" ]; then
    start_agents
    tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy)
    rollout "http://127.0.0.1:65001" "${STAGGER:-3}" > "$work/rolling-times"
    b1=$(busy); tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    rss=$(peak_rss_mib "${agents[@]}"); cpu_gib=$(cpu_per_gib "$c0" "$(cpu_of "${agents[@]}")" "$size" "$N")
    one=$(lower_bound "$size" "$R" "$R0" 1)
    load=$(busy_percent "$b0" "$b1")
    printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s (rolling update, %s s apart; times ÷ one node'"'"'s bound)\n' "$N" "$one" "-" \
      "$(bound=$one; stats < "$work/rolling-times")" "$(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2fx", t / s }')" \
      "${cpu_gib} s/GiB" "${rss} MiB" "${load}%" "${STAGGER:-3}"
    record peerpull-rolling "$N" "$work/rolling-times" "$tx" "$cpu_gib" "$rss" "$load" "$one" "$size" "$RATE" "$ORIGIN_RATE" "$PIECE"
    stop_agents
  fi
  if [ "$RUNS" -gt 1 ]; then  # the median of each column over the runs
    printf '%s\n' "${rows[@]}" | awk -v n="$N" -v b="$bound" -v d="$direct" '
      { split($4, t, "/"); p50[NR] = t[1]; p99[NR] = t[2]; mx[NR] = t[3]; o[NR] = $5 + 0; c[NR] = $6 + 0; r[NR] = $8 + 0; u[NR] = $10 + 0 }
      function med(a, k, i, j, x) { for (i = 1; i <= NR; i++) x[i] = a[i]; for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (x[j] < x[i]) { k = x[i]; x[i] = x[j]; x[j] = k }; return x[int((NR + 1) / 2)] }
      END { printf "%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s (median of %d)\n", n, b, d, sprintf("%.2f/%.2f/%.2f", med(p50), med(p99), med(mx)),
            sprintf("%.2fx", med(o)), sprintf("%.2f s/GiB", med(c)), sprintf("%d MiB", med(r)), sprintf("%d%%", med(u)), NR }'
  fi
  # A small image (10 MiB in 3 layers), directly and through fresh agents: what PeerPull adds
  # to a pull of a second or so (coordinator rounds, piece requests). SKIP_SMALL=1 leaves it out.
  if [ -z "${SKIP_SMALL:-}" ]; then
    [ -d "$work/small" ] || "$bin" make-test-image --output "$work/small" --layers 4M,3M,3M >/dev/null
    ip netns exec "$ns_o" skopeo --insecure-policy copy --dest-tls-verify=false "oci:$work/small:latest" docker://198.18.0.1:5000/bench/small:v1 >/dev/null
    small_layers=$(ip netns exec "$ns_o" curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://198.18.0.1:5000/v2/bench/small/manifests/v1 \
      | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
    small_size=$(du -cb "$work"/small/blobs/sha256/* | tail -1 | cut -f1)
    small_bound=$(lower_bound "$small_size" "$R" "$R0" "$N")
    small_row() {  # system times-file origin-bytes [CPU s/GiB] [RSS MiB]
      printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s (%s, 10 MiB image in 3 layers)\n' "$N" "$small_bound" \
        "$([ "$1" = direct ] && (bound=$small_bound; stats < "$2") || echo -)" "$([ "$1" = direct ] && echo - || (bound=$small_bound; stats < "$2"))" \
        "$(awk -v t="$3" -v s="$small_size" 'BEGIN { printf "%.2fx", t / s }')" "${4:+$4 s/GiB}" "${5:+$5 MiB}" - "$1"
    }
    if [ -z "${SKIP_DIRECT:-}" ]; then
      tx0=$(scripts/netlab.sh tx "$prefix" origin)
      (layers=$small_layers repo=bench/small; rollout "http://198.18.0.1:5000") > "$work/small-direct"
      tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
      small_row direct "$work/small-direct" "$tx"
      record direct-small "$N" "$work/small-direct" "$tx" - - - "$small_bound" "$small_size" "$RATE" "$ORIGIN_RATE" -
    fi
    start_agents
    tx0=$(scripts/netlab.sh tx "$prefix" origin)
    (layers=$small_layers repo=bench/small; rollout "http://127.0.0.1:65001") > "$work/small-swarm"
    tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    rss=$(peak_rss_mib "${agents[@]}"); cpu_gib=$(cpu_per_gib "$c0" "$(cpu_of "${agents[@]}")" "$small_size" "$N")
    small_row peerpull "$work/small-swarm" "$tx" "$cpu_gib" "$rss"
    record peerpull-small "$N" "$work/small-swarm" "$tx" "$cpu_gib" "$rss" - "$small_bound" "$small_size" "$RATE" "$ORIGIN_RATE" "$PIECE"
    stop_agents
  fi
  # The same rollout with BitTorrent (Debian's opentracker and aria2c, 1 MiB pieces): the
  # origin's namespace seeds the image's layers; every node downloads them and seeds on
  # until all are done, as a swarm member does. SKIP_BT=1 leaves it out.
  if [ -z "${SKIP_BT:-}" ]; then
    bt=$work/bt; rm -rf "$bt"; mkdir -p "$bt/seed/layers"
    for d in $layers; do ln "$work/image/blobs/sha256/${d#sha256:}" "$bt/seed/layers/${d#sha256:}"; done
    mktorrent -l 20 -a http://198.18.0.1:6969/announce -o "$bt/image.torrent" "$bt/seed/layers" >/dev/null
    # Debian builds opentracker with a whitelist: the torrent's info hash goes into it (a path
    # inside the directory it chroots to).
    aria2c -S "$bt/image.torrent" | awk '/^Info Hash:/ { print $3 }' > "$bt/whitelist"
    (cd "$bt" && exec ip netns exec "$ns_o" opentracker -i 198.18.0.1 -p 6969 -P 6969 -d "$bt" -w whitelist >"$bt/tracker.log" 2>&1) &
    bt_pids=($!)
    printf '#!/bin/sh\ndate +%%s.%%N > "$BT_DONE"\n' > "$bt/done-hook"; chmod +x "$bt/done-hook"
    aria=(aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=true
          --bt-tracker-interval=2 --bt-max-peers=0 --bt-request-peer-speed-limit=100M --seed-ratio=0.0
          --file-allocation=none --summary-interval=0 --console-log-level=warn --max-overall-upload-limit=0
          --listen-port=6881)
    ip netns exec "$ns_o" "${aria[@]}" --check-integrity=true --dir "$bt/seed" "$bt/image.torrent" >"$bt/seeder.log" 2>&1 &
    bt_pids+=($!)
    for _ in $(seq 300); do ip netns exec "$ns_o" ss -ltn | grep -q ':6881 ' && break; sleep 0.1; done
    sleep 3  # the seeder checks its files, then announces
    tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy); t0=$(now)
    clients=()
    for i in $(seq 1 "$N"); do
      mkdir -p "$bt/node-$i"
      BT_DONE=$bt/node-$i.done ip netns exec "$(scripts/netlab.sh ns "$prefix" "$i")" "${aria[@]}" --dir "$bt/node-$i" \
        --on-bt-download-complete="$bt/done-hook" "$bt/image.torrent" >"$bt/node-$i.log" 2>&1 &
      clients+=($!)
    done
    for _ in $(seq 9000); do  # at most 900 s
      n=0; for i in $(seq 1 "$N"); do [ -s "$bt/node-$i.done" ] && n=$((n + 1)); done
      [ "$n" -eq "$N" ] && break; sleep 0.1
    done
    b1=$(busy)
    tx=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 ))
    bt_busy=$(busy_percent "$b0" "$b1")
    cpu_sum=$(cpu_of "${clients[@]}"); rss=$(peak_rss_mib "${clients[@]}")
    for i in $(seq 1 "$N"); do
      if [ -s "$bt/node-$i.done" ]; then awk -v a="$t0" -v b="$(cat "$bt/node-$i.done")" 'BEGIN { printf "%.3f\n", b - a }'; else echo 99999; fi
      for d in $layers; do  # aria2c checked every piece's SHA-1; the layer's own digest as well
        echo "${d#sha256:}  $bt/node-$i/layers/${d#sha256:}"
      done | sha256sum -c --quiet >/dev/null 2>&1 || echo "bittorrent: node-$i holds a wrong layer" >&2
    done > "$work/bt-times"
    for p in "${clients[@]}" "${bt_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${clients[@]}" "${bt_pids[@]}" 2>/dev/null || true
    # aria2c counts the 1 MiB pieces by SHA-1 as it downloads; it reads each file once more at the end.
    printf '%-4s %-8s %-22s %-22s %-12s %-12s %-10s %-8s (bittorrent: aria2c + opentracker)\n' "$N" "$bound" "-" "$(stats < "$work/bt-times")" \
      "$(awk -v t="$tx" -v s="$size" 'BEGIN { printf "%.2fx", t / s }')" \
      "$(cpu_per_gib 0 "$cpu_sum" "$size" "$N") s/GiB" "${rss} MiB" \
      "${bt_busy}%"
    record bittorrent "$N" "$work/bt-times" "$tx" "$(cpu_per_gib 0 "$cpu_sum" "$size" "$N")" \
      "$rss" "$bt_busy" "$bound" "$size" "$RATE" "$ORIGIN_RATE" 1Mi
    rm -rf "$bt"
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=(); wait 2>/dev/null || true
  scripts/netlab.sh down "$prefix"
  rm -rf "$work"/data-* "$work/registry"
done
sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed"
done
echo
echo "T*: the bound no schedule beats; direct: every node from the origin; origin/size: bytes the origin's link sent (TCP/IP framing included) / image."
echo
python3 bench/report.py "$out" || echo "(bench/report.py failed: the results are in $out/results.jsonl)" >&2

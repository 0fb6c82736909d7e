#!/usr/bin/env bash
# The multi-node demo: a small cluster on this machine, each node pulling the same image at
# once with containerd through its own PeerPull agent (the swarm), then the same pull
# straight from the origin for comparison.
#
# - origin: a network namespace running Debian's docker-registry with Basic auth, holding a
#   generated multi-layer image;
# - N nodes: one namespace each (addresses in 198.18.0.0/15, links shaped with tc in both
#   directions, scripts/netlab.sh), each with its own PeerPull agent (which writes the
#   node's hosts.toml) and its own containerd; `ctr images pull` by the origin's name,
#   sent to the agent by hosts.toml, exactly as on a Kubernetes node.
#
#   make demo                      6 nodes, 192 MiB in 3 layers, 100 Mbit/s per node and origin
#   make demo NODES=10 SIZE_MIB=512 RATE=200mbit ORIGIN_RATE=100mbit
#   make demo KEEP=1               keep the cluster running after the summary (Ctrl-C ends it)
#   make demo DIRECT=0             skip the direct pull (the comparison)
#
# Everything it creates (namespaces, processes, mounts, files) is removed at the end and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-6} SIZE_MIB=${SIZE_MIB:-192} LAYERS=${LAYERS:-3} RATE=${RATE:-100mbit} ORIGIN_RATE=${ORIGIN_RATE:-$RATE}
PIECE=${PIECE:-1Mi} KEEP=${KEEP:-} DIRECT=${DIRECT:-1}
[ "$(id -u)" = 0 ] || { echo "make demo: run as root (it creates network namespaces and mounts)" >&2; exit 2; }
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 200 ] || { echo "make demo: NODES must be 1 to 200" >&2; exit 2; }
[[ "$SIZE_MIB" =~ ^[0-9]+$ ]] && [ "$SIZE_MIB" -ge "$LAYERS" ] || { echo "make demo: SIZE_MIB must be a whole number of MiB, at least LAYERS" >&2; exit 2; }

scripts/install-deps.sh
source scripts/lab-lib.sh
build_release

work=$(mktemp -d /tmp/peerpull-demo.XXXXXX)
prefix="pd$(printf '%04d' $((RANDOM % 10000)))"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null || true; done
  # containerd's snapshots may leave mounts under the work directory.
  grep -o "$work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  scripts/netlab.sh down "$prefix" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: removing the demo cluster"; exit 130' INT TERM

user=demo password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
image=198.18.0.1:5000/demo/app:v1
R=$(rate_bps "$RATE"); R0=$(rate_bps "$ORIGIN_RATE")

# --- the cluster -------------------------------------------------------------------------
scripts/netlab.sh up "$prefix" "$NODES" "$RATE" "$ORIGIN_RATE"
ns_o=$(scripts/netlab.sh ns "$prefix" origin)
htpasswd -Bbn "$user" "$password" > "$work/htpasswd"
pids+=("$(start_origin_registry "$ns_o" "$work/registry" "$work/htpasswd")")
sizes=""; left=$SIZE_MIB
for l in $(seq 1 "$LAYERS"); do  # halving layer sizes, the rest in the last: 96M,48M,48M
  if [ "$l" -lt "$LAYERS" ]; then s=$(( left / 2 > 0 ? left / 2 : 1 )); else s=$left; fi
  sizes+="${sizes:+,}${s}M"; left=$((left - s))
done
"$bin" make-test-image --output "$work/image" --tag v1 --layers "$sizes" >/dev/null
ip netns exec "$ns_o" skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds "$user:$password" \
  "oci:$work/image:v1" "docker://$image"
size=$(du -cb "$work"/image/blobs/sha256/* | tail -1 | cut -f1)
digest=$(ip netns exec "$ns_o" curl -sf -I -u "$user:$password" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://198.18.0.1:5000/v2/demo/app/manifests/v1" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
bound=$(lower_bound "$size" "$R" "$R0" "$NODES")
echo
echo "origin: docker-registry on 198.18.0.1:5000 (Basic auth), $image: $SIZE_MIB MiB in $LAYERS layers ($sizes), $digest"
echo "nodes:  $NODES, each at $RATE each way; origin link at $ORIGIN_RATE; the bound T* = $bound s (no schedule is faster)"

for i in $(seq 1 "$NODES"); do echo "node-$i $(scripts/netlab.sh addr "$i") 65002"; done > "$work/peers"
head -c 48 /dev/urandom | base64 > "$work/peer-secret"

node_ns() { scripts/netlab.sh ns "$prefix" "$1"; }

# containerd of node $1, its own root and socket, in the node's namespace; PID into $containerd_pid.
start_containerd() {
  local d=$work/node-$1/containerd
  rm -rf "$d"; mkdir -p "$d"
  cat > "$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  ip netns exec "$(node_ns "$1")" containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  containerd_pid=$!; pids+=("$containerd_pid")
  for _ in $(seq 100); do ctr -a "$d/containerd.sock" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "containerd of node-$1 did not start: $(tail -3 "$d/containerd.log")" >&2; return 1
}
stop_pid() { kill "$1" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
ctr_of() { echo "ctr -a $work/node-$1/containerd/containerd.sock -n demo"; }

start_agent() {
  local d=$work/node-$1
  mkdir -p "$d"
  # The nodes' containerds run without CRI and ctr is given --hosts-dir: no config_path to check.
  ip netns exec "$(node_ns "$1")" "$bin" agent --port 65001 --plain-http-origin 198.18.0.1:5000 --data-dir "$d/agent" \
    --containerd-config-path "$d/certs.d" --containerd-config "" --node-name "node-$1" --peers "$work/peers" --peer-secret-file "$work/peer-secret" \
    --piece-size "$PIECE" --log-level notice >"$d/agent.log" 2>&1 &
  pids+=($!); agent_pids+=($!)
}

# Metrics of node $1's agent: served (to containerd), from peers, from the origin, sent to peers.
agent_numbers() {
  ip netns exec "$(node_ns "$1")" curl -s --max-time 1 http://127.0.0.1:65001/metrics 2>/dev/null | awk '
    /^peerpull_agent_bytes_total/ { v = $NF + 0
      if ($0 ~ /direction="out"/) out += v
      else if ($0 ~ /source="peer"/) peer += v
      else if ($0 ~ /source="origin"/) origin += v }
    /^peerpull_agent_peer_uploaded_bytes_total/ { up += $NF }
    END { printf "%d %d %d %d\n", out, peer, origin, up }'
}

mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }

# Pulls the image on every node at once ($1: swarm or direct), showing progress until all end.
# Leaves per node: $work/node-i/{seconds,status,ctr.log}.
rollout() {
  local mode=$1 t0 nodes=() tty=""; t0=$(now)
  [ -t 1 ] && tty=1
  for i in $(seq 1 "$NODES"); do
    local d=$work/node-$i hosts=(--plain-http)
    [ "$mode" = swarm ] && hosts=(--hosts-dir "$d/certs.d")
    rm -f "$d/seconds" "$d/fetch-seconds" "$d/status"
    rx0[$i]=$(scripts/netlab.sh rx "$prefix" "$i")
    (set +e
     ip netns exec "$(node_ns "$i")" $(ctr_of "$i") images pull "${hosts[@]}" --snapshotter native --user "$user:$password" "$image" >"$d/ctr.log" 2>&1
     echo $? > "$d/status"; awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f\n", b - a }' > "$d/seconds") &
    nodes+=($!)
  done
  local last=0 drawn=0 tick=0
  declare -A before
  while :; do
    local running=0 lines=() t; t=$(now)
    for i in $(seq 1 "$NODES"); do
      local d=$work/node-$i got peer=0 origin=0 up=0 line
      if [ "$mode" = swarm ]; then read -r got peer origin up < <(agent_numbers "$i"); got=${got:-0}
      else got=$(( $(scripts/netlab.sh rx "$prefix" "$i") - rx0[$i] )); fi
      local rate; rate=$(awk -v a="${before[$i]:-0}" -v b="$got" -v dt="$(awk -v a="$last" -v b="$t" 'BEGIN { print (a > 0) ? b - a : 0 }')" \
        'BEGIN { printf "%5.1f MB/s", (dt > 0) ? (b - a) / dt / 1e6 : 0 }')
      before[$i]=$got
      local pct=$(( got * 100 / size )); [ "$pct" -gt 100 ] && pct=100
      local bar; bar=$(printf '%*s' $((pct / 5)) '' | tr ' ' '#')$(printf '%*s' $((20 - pct / 5)) '' | tr ' ' '.')
      line=$(printf 'node-%-3s [%s] %3d%%  %9s of %s' "$i" "$bar" "$pct" "$(mib "$got")" "$(mib "$size")")
      if [ -f "$d/status" ]; then
        if [ "$(cat "$d/status")" = 0 ]; then line+="  done in $(cat "$d/seconds") s"; else line+="  FAILED (see $d/ctr.log)"; fi
      else running=$((running + 1)); line+="  $rate"; fi
      if [ "$mode" = swarm ] && [ $((peer + origin)) -gt 0 ]; then
        line+=$(printf '  from peers %3d%%  sent to peers %s' $((peer * 100 / (peer + origin))) "$(mib "$up")")
      fi
      lines+=("$line")
    done
    last=$t
    if [ -n "$tty" ]; then
      [ "$drawn" -gt 0 ] && printf '\033[%dA' "$drawn"
      printf '%s\033[K\n' "${lines[@]}"; drawn=${#lines[@]}
    elif [ "$running" -eq 0 ] || [ $((tick % 3)) -eq 0 ]; then
      printf '%s\n' "${lines[@]}"; echo
    fi
    [ "$running" -eq 0 ] && break
    tick=$((tick + 1)); sleep 2  # the display's own processes cost a few % of the CPU: not more often
  done
  wait "${nodes[@]}" 2>/dev/null || true
}

# Checks every node holds the image with the origin's digest; prints the per-node table.
report() {  # mode
  local mode=$1 failed=0
  printf '%-9s %9s %9s %8s %9s' node pull fetch "÷ T*" unpack
  [ "$mode" = swarm ] && printf '  %10s %14s' "from peers" "sent to peers"
  echo
  for i in $(seq 1 "$NODES"); do
    local d=$work/node-$i
    local got; got=$($(ctr_of "$i") images ls 2>/dev/null | awk -v n="$image" '$1 == n { for (f = 2; f <= NF; f++) if ($f ~ /^sha256:/) print $f }')
    if [ "$(cat "$d/status")" != 0 ] || [ "$got" != "$digest" ]; then
      failed=$((failed + 1)); echo "node-$i   FAILED: $(tail -2 "$d/ctr.log" | tr '\n' ' ')"; continue
    fi
    # ctr prints when it has fetched every blob ("elapsed: 28.4s"), then unpacks the layers.
    local total fetch; total=$(cat "$d/seconds")
    fetch=$(tr '\r' '\n' < "$d/ctr.log" | sed -n 's/.*elapsed: *\([0-9.]*\)s.*/\1/p' | tail -1); fetch=${fetch:-$total}
    echo "$fetch" > "$d/fetch-seconds"
    printf 'node-%-4s %7s s %7s s %8.2f %7s s' "$i" "$total" "$fetch" "$(awk -v a="$fetch" -v b="$bound" 'BEGIN { print a / b }')" \
      "$(awk -v a="$total" -v b="$fetch" 'BEGIN { printf "%.1f", a - b }')"
    if [ "$mode" = swarm ]; then
      local got_ peer origin up; read -r got_ peer origin up < <(agent_numbers "$i")
      printf '  %9d%% %14s' $(( (peer + origin) > 0 ? peer * 100 / (peer + origin) : 0 )) "$(mib "$up")"
    fi
    echo
  done
  [ "$failed" -eq 0 ] && echo "every node holds $image with the origin's digest $digest"
  return "$failed"
}

max_seconds() { for i in $(seq 1 "$NODES"); do cat "$work/node-$i/fetch-seconds" 2>/dev/null || true; done | sort -n | tail -1; }
# The CPU the rollout took: the cores' busy share, and the agents' and containerds' CPU seconds per GiB pulled.
cpu_line() {  # busy-before busy-after agents-cpu containerd-cpu
  awk -v busy="$(busy_percent "$1" "$2")" -v a="$3" -v c="$4" -v s="$size" -v n="$NODES" 'BEGIN {
    g = n * s / 1073741824
    printf "CPU: the cores were %d%% busy", busy
    if (a != "") printf "; the agents took %.1f s per GiB pulled", a / g
    printf ", containerd %.1f s per GiB", c / g
    if (busy > 90) printf " (the CPU, not the links, set the pace: on a machine with more cores the pulls get closer to T*)"
    print "" }'
}

# --- the swarm ---------------------------------------------------------------------------
agent_pids=()
declare -a containerd_pids rx0
for i in $(seq 1 "$NODES"); do
  start_agent "$i"; start_containerd "$i"; containerd_pids[$i]=$containerd_pid
done
for i in $(seq 1 "$NODES"); do
  for _ in $(seq 200); do ip netns exec "$(node_ns "$i")" curl -sf -o /dev/null http://127.0.0.1:65001/healthz && break; sleep 0.05; done
done
echo
echo "== PeerPull: $NODES nodes pull $image at once with ctr, each through its node's agent"
tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy); a0=$(cpu_of "${agent_pids[@]}"); c0=$(cpu_of "${containerd_pids[@]}")
rollout swarm
swarm_origin=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 )); b1=$(busy)
swarm_cpu=$(cpu_line "$b0" "$b1" "$(awk -v a="$a0" -v b="$(cpu_of "${agent_pids[@]}")" 'BEGIN { print b - a }')" \
  "$(awk -v a="$c0" -v b="$(cpu_of "${containerd_pids[@]}")" 'BEGIN { print b - a }')")
echo
swarm_ok=0; report swarm || swarm_ok=$?
swarm_max=$(max_seconds)
echo "slowest fetch $swarm_max s = $(awk -v a="$swarm_max" -v b="$bound" 'BEGIN { printf "%.2f", a / b }') × T*;" \
  "the origin sent $(awk -v t="$swarm_origin" -v s="$size" 'BEGIN { printf "%.2f", t / s }') × the image"
echo "$swarm_cpu"

# --- the same, straight from the origin ----------------------------------------------------
if [ "$DIRECT" = 1 ]; then
  for i in $(seq 1 "$NODES"); do stop_pid "${containerd_pids[$i]}"; start_containerd "$i"; containerd_pids[$i]=$containerd_pid; done
  echo
  echo "== for comparison: the same pull straight from the origin (fresh containerd on every node, no agent)"
  tx0=$(scripts/netlab.sh tx "$prefix" origin); b0=$(busy); c0=$(cpu_of "${containerd_pids[@]}")
  rollout direct
  direct_origin=$(( $(scripts/netlab.sh tx "$prefix" origin) - tx0 )); b1=$(busy)
  echo
  report direct || true
  direct_max=$(max_seconds)
  cpu_line "$b0" "$b1" "" "$(awk -v a="$c0" -v b="$(cpu_of "${containerd_pids[@]}")" 'BEGIN { print b - a }')"
  echo "slowest fetch $direct_max s = $(awk -v a="$direct_max" -v b="$bound" 'BEGIN { printf "%.2f", a / b }') × T*;" \
    "the origin sent $(awk -v t="$direct_origin" -v s="$size" 'BEGIN { printf "%.2f", t / s }') × the image"
  echo
  awk -v s="$swarm_max" -v d="$direct_max" -v so="$swarm_origin" -v do_="$direct_origin" -v n="$NODES" 'BEGIN {
    printf "summary: with PeerPull the last of %d nodes had fetched the image %.1fx sooner (%.1f s against %.1f s) and the origin sent %.1fx fewer bytes\n", n, d / s, s, d, do_ / so }'
fi

if [ -n "$KEEP" ]; then
  echo
  echo "the cluster keeps running (Ctrl-C removes it). For example:"
  echo "  ip netns exec $(node_ns 1) $bin status"
  echo "  $(ctr_of 1) images ls"
  echo "  ip netns exec $(node_ns 1) curl -s http://127.0.0.1:65001/metrics | grep ^peerpull_agent_bytes"
  while :; do sleep 3600 & pids+=($!); wait $! || true; done  # wait, not sleep: a signal ends it at once
fi
exit "$swarm_ok"

#!/usr/bin/env bash
# Benchmark: a 1 GiB image pulled by skopeo directly from a real registry on loopback,
# and through the agent (release build) with a cold and then a warm cache.
#
# Reports seconds, MB/s, the ratio to the direct pull, the ratio to the physical limit
# (image size / loopback bandwidth, measured here with curl on the registry's biggest
# blob) and the agent's peak RSS (VmHWM). Not a test: run it on a quiet machine.
#   bench/agent-pull.sh [LAYERS]      (default 512M,256M,128M,64M,64M = 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
layers="${1:-512M,256M,128M,64M,64M}"
runs="${RUNS:-2}"
scripts/install-deps.sh
echo "building the release binary (about 10 minutes from clean)..."
swift build -c release --scratch-path .build-release --product peerpull 2>&1 | grep -E 'error|Build of product' || true
test "${PIPESTATUS[0]}" -eq 0 || { echo "release build failed"; exit 1; }
bin="$PWD/.build-release/release/peerpull"
test -x "$bin"

work=$(mktemp -d /var/tmp/peerpull-bench-XXXXXX)
registry_pid=""; agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:0, secret: bench}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/registry.log" && break; sleep 0.1; done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/registry.log" | grep -o '[0-9]*$')
registry="127.0.0.1:$port"

echo "generating and pushing the image..."
"$bin" make-test-image --output "$work/src" --tag v1 --layers "$layers" --seed 42 >/dev/null
skopeo --insecure-policy copy --dest-tls-verify=false -q "oci:$work/src:v1" "docker://$registry/bench/big:v1"
rm -rf "$work/src"
bytes=$(du -sb "$work/storage/docker/registry/v2/blobs" | cut -f1)
biggest=$(find "$work/storage/docker/registry/v2/blobs" -name data -printf '%s %h\n' | sort -n | tail -1)
big_size=${biggest%% *}; big_digest="sha256:$(basename "${biggest#* }")"
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
echo "image: $(mib "$bytes") MiB in layers $layers, registry $registry"

now() { date +%s.%N; }
# The physical limit on this node: the loopback bandwidth of one HTTP stream from the registry.
t0=$(now); curl -s -o /dev/null "http://$registry/v2/bench/big/blobs/$big_digest"; t1=$(now)
link=$(awk -v b="$big_size" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.0f", b / (z - a) }')
limit=$(awk -v b="$bytes" -v r="$link" 'BEGIN { printf "%.3f", b / r }')
echo "loopback bandwidth (curl, one stream): $(mib "$link") MiB/s -> physical limit for the image: ${limit}s"

pull() {  # $1 = source registry, $2 = output name; prints seconds
  rm -rf "$work/out-$2"
  local a b; a=$(now)
  skopeo --insecure-policy copy --src-tls-verify=false -q "docker://$1/bench/big:v1" "oci:$work/out-$2:v1"
  b=$(now); rm -rf "$work/out-$2"; awk -v a="$a" -v z="$b" 'BEGIN { printf "%.3f", z - a }'
}
start_agent() {
  rm -rf "$work/agent"
  "$bin" agent --listen 127.0.0.1 --port "$agent_port" --origin "$registry" --plain-http-origin "$registry" \
    --data-dir "$work/agent" --ratelimit "${RATELIMIT:-512M}" --log-level warning >"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$agent_port/healthz" && return; sleep 0.1; done
  echo "agent did not start: $(cat "$work/agent.log")"; exit 1
}
agent_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

report() {  # name seconds direct_seconds
  awk -v n="$1" -v s="$2" -v d="$3" -v b="$bytes" -v l="$limit" \
    'BEGIN { printf "  %-22s %7.2fs %8.0f MiB/s   x%.2f of direct   x%.2f of the physical limit\n", n, s, b / s / 1048576, d / s, l / s }'
}
best() { printf '%s\n' "$@" | sort -n | head -1; }

direct=(); cold=(); warm=()
for i in $(seq "$runs"); do direct+=("$(pull "$registry" direct)"); done
for i in $(seq "$runs"); do
  start_agent
  cold+=("$(pull "127.0.0.1:$agent_port" cold)")
  warm+=("$(pull "127.0.0.1:$agent_port" warm)")
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$agent_pid/status")
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
done
d=$(best "${direct[@]}")
echo "results (best of $runs; all runs: direct ${direct[*]}; cold ${cold[*]}; warm ${warm[*]}):"
report "direct from registry" "$d" "$d"
report "agent, cold cache" "$(best "${cold[@]}")" "$d"
report "agent, warm cache" "$(best "${warm[@]}")" "$d"
echo "  agent peak RSS (VmHWM, last run): $((rss / 1024)) MiB; ratelimit ${RATELIMIT:-512M}"

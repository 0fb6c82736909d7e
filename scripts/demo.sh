#!/usr/bin/env bash
# The demo: a real registry on loopback, a generated two-platform image pushed with
# skopeo; `peerpull pull` fetches it into an OCI layout with every digest checked; then
# the node agent serves it to skopeo twice, the second time from its verified cache.
# (The multi-node peer-to-peer demo arrives with the swarm issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product peerpull 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]|unhandled; explicitly declare|CMakeLists.txt$' || true
bin="$(swift build --show-bin-path)/peerpull"

work=$(mktemp -d /tmp/peerpull-demo-XXXXXX)
registry_pid=""; agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:0, secret: demo}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/registry.log" && break; sleep 0.1; done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/registry.log" | grep -o '[0-9]*$')
echo "registry (CNCF distribution) on 127.0.0.1:$port"

"$bin" make-test-image --output "$work/src" --tag v1 --layers 8M,32M,4M --platforms linux/amd64,linux/arm64/v8
skopeo --insecure-policy copy --all --dest-tls-verify=false -q "oci:$work/src:v1" "docker://127.0.0.1:$port/demo/app:v1"
echo "pushed 127.0.0.1:$port/demo/app:v1 (index with linux/amd64 and linux/arm64/v8)"

time "$bin" pull --plain-http "127.0.0.1:$port/demo/app:v1" --output "$work/pulled"
echo "layout written:"; find "$work/pulled" -type f | sed "s|$work/||" | sort

agent_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" agent --listen 127.0.0.1 --port "$agent_port" --plain-http-origin "127.0.0.1:$port" \
  --data-dir "$work/agent" --cache-size 1Gi --log-level warning &
agent_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$agent_port/healthz" && break; sleep 0.1; done
echo "agent on 127.0.0.1:$agent_port (origin 127.0.0.1:$port, cache 1Gi)"
for round in cold warm; do
  start=$(date +%s.%N)
  skopeo --insecure-policy copy --src-tls-verify=false -q "docker://127.0.0.1:$agent_port/demo/app:v1" "oci:$work/through-agent-$round:v1"
  echo "skopeo through the agent ($round cache): $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')s"
done
echo "agent metrics:"
curl -s "http://127.0.0.1:$agent_port/metrics" | grep -E '^peerpull_agent_(bytes_total|cache_requests_total|cache_hit_ratio|cache_size_bytes)' | grep -v ' 0$' | sed 's/^/  /'

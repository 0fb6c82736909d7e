#!/usr/bin/env bash
# Soak: the agent binary under 200 concurrent clients for minutes (bench/soak_load.py):
# cache hits, misses of the same blob (a cache smaller than the image keeps evicting),
# ranges, HEADs, manifests, bad requests, readers that stop mid-body, connections that never
# send a request. The origin is Debian's docker-registry on loopback with Basic auth, so
# every request also passes the agent's authorization gate.
# Reports requests per second, p99 latency, the agent's peak RSS (VmHWM) and its open
# descriptors when idle before and after; fails (exit 1) unless: no wrong answer, peak RSS
# under 128 MiB, descriptors back to the idle count within 90 s, the agent still up.
#   [DURATION=180] [CLIENTS=200] [RSS_LIMIT_MIB=128] [BIN=path/to/peerpull] [OUT=dir] bench/soak.sh
# Without BIN it builds the release binary (as shipped). make test runs a 30 s version
# against the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab-lib.sh
export PATH=/opt/swift/usr/bin:$PATH
duration=${DURATION:-180}
clients=${CLIENTS:-200}
rss_limit_mib=${RSS_LIMIT_MIB:-128}
idle_timeout=10
if [ -n "${BIN:-}" ]; then bin=$(realpath "$BIN"); else build_release; fi
OUT=${OUT:-bench/results/soak-$(date +%Y%m%d-%H%M)}
mkdir -p "$OUT"

work=$(mktemp -d /tmp/peerpull-soak-XXXXXX)
registry_pid=""; agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

user=soak; password=soak-$RANDOM$RANDOM
htpasswd -Bbn "$user" "$password" >"$work/htpasswd" 2>/dev/null
start_registry "$work/registry" 127.0.0.1:0 "$work/htpasswd"  # sets $registry, $registry_pid

# 24 layers, 48 MiB; the agent's cache holds 24 MiB of it.
layers="8M,6M,4M,4M,4M,3M,3M,2M,2M,2M,2M,1M,1M,1M,1M,1M,1M,512K,512K,512K,512K,256K,128K,64K"
"$bin" make-test-image --output "$work/image" --tag v1 --layers "$layers" --seed 7 >/dev/null
skopeo --insecure-policy copy --dest-tls-verify=false --dest-creds "$user:$password" -q \
  "oci:$work/image:v1" "docker://$registry/soak/app:v1"
python3 - "$work" "$registry" "$user" "$password" <<'PY'
import base64, hashlib, json, sys, urllib.request
work, registry, user, password = sys.argv[1:]
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
index = json.load(open(f"{work}/image/index.json"))
m = index["manifests"][0]
body = open(f"{work}/image/blobs/sha256/{m['digest'][7:]}", "rb").read()
req = urllib.request.Request(f"http://{registry}/v2/soak/app/manifests/v1",
                             headers={"Authorization": auth, "Accept": m["mediaType"]})
served = urllib.request.urlopen(req).read()
assert served == body, "the registry serves a different manifest than the layout's"
manifest = json.loads(body)
blobs = [manifest["config"]] + manifest["layers"]
json.dump({"manifest": {"tag": "v1", "digest": m["digest"], "mediaType": m["mediaType"]},
           "blobs": [{"digest": b["digest"], "size": b["size"],
                      "path": f"{work}/image/blobs/sha256/{b['digest'][7:]}"}
                     for b in sorted(blobs, key=lambda b: b["digest"])]},
          open(f"{work}/blobs.json", "w"))
PY

cat >"$work/agent.yaml" <<YAML
idleTimeoutSeconds: $idle_timeout
YAML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" agent --config "$work/agent.yaml" --listen 127.0.0.1 --port "$port" --origin "$registry" \
  --plain-http-origin "$registry" --data-dir "$work/agent" --cache-size 24Mi --log-level warning \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" || { echo "the agent did not start: $(cat "$work/agent.log")"; exit 1; }

fds() { ls "/proc/$agent_pid/fd" | wc -l; }
# Warm: one pull of the manifest and a blob, so the origin connection pool exists; then
# the idle count, once the warm-up's connections are closed.
curl -sS -o "$work/warm" -w "%{http_code}" -H "Accept: application/vnd.oci.image.manifest.v1+json" -u "$user:$password" "http://127.0.0.1:$port/v2/soak/app/manifests/v1" >"$work/warm.code" || true
[ "$(cat "$work/warm.code")" = 200 ] || { echo "the warm-up manifest pull failed: HTTP $(cat "$work/warm.code"): $(head -c 300 "$work/warm"); agent log: $(tail -5 "$work/agent.log")"; exit 1; }
sleep 1
idle_fds=$(fds); idle_rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$agent_pid/status")
cpu0=$(cpu "$agent_pid")
echo "soak: $clients clients for ${duration}s against the agent (PID $agent_pid, idle: $idle_fds descriptors, $idle_rss MiB RSS)"

python3 bench/soak_load.py --agent "127.0.0.1:$port" --pid "$agent_pid" --repository soak/app \
  --user "$user" --password "$password" --blobs "$work/blobs.json" --clients "$clients" \
  --duration "$duration" --idle-timeout "$idle_timeout" --out "$OUT/load.json"
cpu1=$(cpu "$agent_pid")

# Descriptors back to idle: the clients are gone; pooled origin connections may linger.
after_fds=$(fds); waited=0
while [ "$after_fds" -gt "$idle_fds" ] && [ "$waited" -lt 90 ]; do sleep 1; waited=$((waited + 1)); after_fds=$(fds); done
alive=1; kill -0 "$agent_pid" 2>/dev/null || alive=0
peak=$(peak_rss_mib "$agent_pid")
status=0
python3 - "$OUT/load.json" "$OUT/result.json" "$idle_fds" "$after_fds" "$waited" "$peak" "$idle_rss" "$alive" \
  "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" "$rss_limit_mib" <<'PY' || status=$?
import json, sys
load, out, idle, after, waited, peak, idle_rss, alive, cpu, limit = sys.argv[1:]
r = json.load(open(load))
r.update({"agent_idle_fds": int(idle), "agent_fds_after": int(after), "fds_settled_after_s": int(waited),
          "agent_peak_rss_mib": int(peak), "agent_idle_rss_mib": int(idle_rss), "agent_alive": alive == "1",
          "agent_cpu_s": float(cpu)})
failures = []
if r["wrong"]: failures.append(f"{r['wrong']} wrong answers")
if r["agent_peak_rss_mib"] >= int(limit): failures.append(f"peak RSS {peak} MiB >= {limit} MiB")
if r["agent_fds_after"] > r["agent_idle_fds"]: failures.append(f"{after} descriptors open after 90 s, {idle} when idle")
if not r["agent_alive"]: failures.append("the agent exited")
if r["requests"] == 0: failures.append("no request was answered")
r["failures"] = failures
json.dump(r, open(out, "w"), indent=1)
print(f"soak: {r['requests']} requests in {r['seconds']} s = {r['requests_per_second']} req/s, p50 {r['p50_ms']} ms, "
      f"p99 {r['p99_ms']} ms, {r['mib_checked']} MiB checked, {r['wrong']} wrong; agent: peak RSS {peak} MiB "
      f"(idle {idle_rss}), descriptors {idle} idle -> max {r['fds_max']} -> {after} ({waited} s after), "
      f"CPU {float(cpu):.1f} s; connection errors {r['connection_errors']}")
if failures:
    print("soak FAILED: " + "; ".join(failures)); sys.exit(1)
print("soak passed")
PY
if grep -qiE 'fatal|crash|panic' "$work/agent.log"; then echo "the agent's log:"; tail -20 "$work/agent.log"; exit 1; fi
exit $status

# Shared by the multi-node demo (scripts/demo.sh) and the benchmarks (bench/): the release
# build, the origin registry (in its namespace, or on loopback), link rates and the lower
# bound. Sourced, not run.

export PATH="/opt/swift/usr/bin:$PATH"

# Builds the release binary as shipped (static Swift stdlib) into .build-release; sets $bin.
build_release() {
  echo "building the release binary (static stdlib; a first build takes several minutes)..."
  mkdir -p .build-release/tmp
  # TMPDIR: the compiler's scratch directories and SwiftPM's lock files stay in the build.
  TMPDIR=$PWD/.build-release/tmp swift build -c release --static-swift-stdlib --scratch-path .build-release --product peerpull >.build-release/build.log 2>&1 \
    || { tail -30 .build-release/build.log; return 1; }
  bin=$PWD/.build-release/release/peerpull
}

now() { date +%s.%N; }

# A process's CPU seconds (user + system).
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
# The CPU seconds of processes, summed (one that has ended counts 0).
cpu_of() { local sum=0 p; for p in "$@"; do sum=$(awk -v a="$sum" -v b="$(cpu "$p" 2>/dev/null || echo 0)" 'BEGIN { print a + b }'); done; echo "$sum"; }
# The largest peak RSS (VmHWM) of processes, in MiB.
peak_rss_mib() { local max=0 p r; for p in "$@"; do r=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$p/status"); [ "$r" -gt "$max" ] && max=$r; done; echo "$max"; }
# CPU seconds per GiB: CPU before, after, bytes per node, nodes.
cpu_per_gib() { awk -v a="$1" -v b="$2" -v s="$3" -v n="$4" 'BEGIN { printf "%.2f", (b - a) / (n * s / 1073741824) }'; }
# The machine's busy and idle jiffies; busy_percent "$(busy)-before" "$(busy)-after" -> the busy share in between.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
busy_percent() { echo "$1 $2" | awk '{ printf "%d", 100 * ($3 - $1) / (($3 - $1) + ($4 - $2)) }'; }

# tc rate (kbit, mbit, gbit) -> bytes of TCP goodput per second (95.5% of the rate, measured here).
rate_bps() {
  awk -v r="$1" 'BEGIN { n = r + 0; u = tolower(r); gsub(/[0-9.]/, "", u)
    m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : 1; print n * m / 8 * 0.955 }'
}

# The time no schedule beats: size S bytes to N nodes, R bytes/s each way per node, origin R0.
# T* = max(S/R0, S/R, N*S/(R0 + N*R)).
lower_bound() {  # S R R0 N
  awk -v s="$1" -v r="$2" -v r0="$3" -v n="$4" 'BEGIN { a = s / r0; b = s / r; c = n * s / (r0 + n * r)
    m = a; if (b > m) m = b; if (c > m) m = c; printf "%.2f", m }'
}

# Debian's docker-registry configuration, $1/config.yml: storage under $1/storage, listening
# on $2, logging at level $3, Basic auth with htpasswd file $4 when given.
registry_config() {  # dir addr level [htpasswd]
  local auth=""
  mkdir -p "$1"
  [ -n "${4:-}" ] && auth="auth: {htpasswd: {realm: peerpull-lab, path: $4}}"
  cat > "$1/config.yml" <<EOF
version: 0.1
log: {level: $3, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $1/storage}}
http: {addr: "$2", secret: peerpull-lab}
$auth
EOF
}

# Starts Debian's docker-registry in namespace $1 on 198.18.0.1:5000 with storage under $2;
# $3 (optional) an htpasswd file for Basic auth. Prints the registry's PID. It logs errors
# only: at info it would log every request, and the lab's benchmarks count its CPU.
start_origin_registry() {  # namespace dir [htpasswd]
  local ns=$1 dir=$2
  registry_config "$dir" 198.18.0.1:5000 error "${3:-}"
  ip netns exec "$ns" docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    code=$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' http://198.18.0.1:5000/v2/ || true)
    [ "$code" = 200 ] || [ "$code" = 401 ] && break
    sleep 0.1
  done
  echo "$pid"
}

# Starts Debian's docker-registry with storage under $1, on $2 (default 127.0.0.1:0: a
# port of loopback the kernel picks), with Basic auth from htpasswd file $3 when given, in
# network namespace $4 when given. Waits until it listens, then sets $registry to the
# address it listens on and $registry_pid, which the caller's cleanup kills. Call it
# directly, not in $(...): a subshell's variables never reach the caller. With port 0
# only the registry's log tells the port, in its "listening on HOST:PORT" line (logged
# at info, as is every request).
start_registry() {  # dir [host:port] [htpasswd] [namespace]
  local dir=$1 run=()
  [ -n "${4:-}" ] && run=(ip netns exec "$4")
  registry_config "$dir" "${2:-127.0.0.1:0}" info "${3:-}"
  "${run[@]}" docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$dir/registry.log" || ! kill -0 "$registry_pid" 2>/dev/null && break
    sleep 0.1
  done
  registry=$(grep -o 'listening on [0-9.]*:[0-9]*' "$dir/registry.log" | awk '{print $3}')
  [ -n "$registry" ] || { echo "the registry did not start: $(cat "$dir/registry.log")" >&2; return 1; }
}

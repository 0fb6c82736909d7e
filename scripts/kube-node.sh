#!/usr/bin/env bash
# One real Kubernetes node on this machine, for the real-node test: a kubelet v1.20.2
# (scripts/build-kube-apiserver.sh) with its own containerd, runc and CNI bridge, in a
# network namespace of its own, joined to this one by a veth:
#
#   this namespace  198.18.64.1/24  (the control plane and the registries bind here)
#   the node        198.18.64.2/24  (kubelet, containerd, host-network pods such as the agent)
#   pods            198.19.64.0/24  (CNI bridge in the node; routed from here)
#   services        198.19.65.0/24  (only the `kubernetes` ClusterIP 198.19.65.1:443, sent to
#                                    198.18.64.1:6443 by an nft rule in the node: kube-proxy's job)
#
# The node sees the machine's files through a mount namespace of its own, so nothing it
# writes lands outside DIR: /var/lib is an overlay whose upper layer is in DIR (kubelet's
# hard-coded /var/lib/kubelet, libcni's /var/lib/cni, hostPath volumes), /var/log and
# /etc/containerd/certs.d are DIR's, /run is a tmpfs, and /etc/hosts and the CA bundle are
# the test's (DIR/hosts, DIR/ca-certificates.crt) as an operator's node would have them.
# Pods' cgroups live under /DIR-id in every hierarchy (kubelet --cgroup-root); the kernel
# tunables the kubelet sets are recorded and restored.
#
#   kube-node.sh net DIR                            the network (before the control plane binds 198.18.64.1)
#   kube-node.sh up DIR KUBECONFIG SANDBOX_IMAGE    the node's containerd and kubelet (DIR/certs.d, DIR/hosts
#                                                   and DIR/ca-certificates.crt are used when present)
#   kube-node.sh down DIR                           stops everything, removes the namespace, cgroups, mounts
#   kube-node.sh exec DIR COMMAND...                runs COMMAND on the node (its network and files)
#
# One node at a time (fixed addresses). Needs root, nftables, containerd, runc and Debian's
# containernetworking-plugins.
set -euo pipefail
# The long-running processes started here must not keep the caller's pipes or sockets open.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] && eval "exec $fd>&-" 2>/dev/null; done

host_addr=198.18.64.1 node_addr=198.18.64.2 pod_cidr=198.19.64.0/24 pod_gw=198.19.64.1
service_ip=198.19.65.1 service_cidr=198.19.65.0/24 node_name=peerpull-node
kube_dir="${PEERPULL_KUBE_DIR:-/var/cache/peerpull/kube-1.20.2}"

[ $# -ge 2 ] || { sed -n '2,25p' "$0" >&2; exit 2; }
cmd=$1 dir=$(realpath -m "$2"); shift 2
id=$(basename "$dir" | tr -cd 'a-z0-9' | tail -c 6)
ns="ppkn$id"            # also the host-side link's name and the cgroup root
cgroup_root="/$ns"
sysctls="vm.overcommit_memory kernel.panic kernel.panic_on_oops"

holder_pid() { cat "$dir/holder.pid" 2>/dev/null || true; }
on_node() { nsenter -t "$(holder_pid)" -m -n -- "$@"; }

net() {
  mkdir -p "$dir"
  ip netns add "$ns"
  ip link add "$ns" type veth peer name eth0 netns "$ns"
  ip addr add "$host_addr/24" dev "$ns"
  ip link set "$ns" up
  ip netns exec "$ns" ip addr add "$node_addr/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  # No default route: the node reaches this namespace and nothing beyond it.
  ip netns exec "$ns" ip route add "$service_cidr" via "$host_addr"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  ip route add "$pod_cidr" via "$node_addr" dev "$ns"
  ip netns exec "$ns" nft -f - <<EOF
table ip peerpull {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr $service_ip tcp dport 443 dnat to $host_addr:6443
  }
  chain output {
    type nat hook output priority -100;
    ip daddr $service_ip tcp dport 443 dnat to $host_addr:6443
  }
}
EOF
}

cgroups() {  # create | kill | remove
  for h in /sys/fs/cgroup/*/; do
    [ -L "${h%/}" ] && continue
    local c="$h${cgroup_root#/}"
    case $1 in
      create)
        mkdir -p "$c"
        # A new cpuset cgroup has no CPUs or memory nodes; nothing could join it.
        if [ -f "$h/cpuset.cpus" ]; then cat "$h/cpuset.cpus" > "$c/cpuset.cpus"; cat "$h/cpuset.mems" > "$c/cpuset.mems"; fi ;;
      kill)
        [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true ;;
      remove)
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true ;;
    esac
  done
}

up() {
  local kubeconfig=$1 sandbox=$2
  [ -x "$kube_dir/kubelet" ] || { echo "kube-node: $kube_dir/kubelet missing: run scripts/build-kube-apiserver.sh" >&2; exit 1; }
  mkdir -p "$dir"/{containerd,cni/net.d,cni/ipam,kubelet,log,varlib/upper,varlib/work,certs.d}
  [ -f "$dir/hosts" ] || cp /etc/hosts "$dir/hosts"
  [ -f "$dir/ca-certificates.crt" ] || cp /etc/ssl/certs/ca-certificates.crt "$dir/ca-certificates.crt"
  [ -f "$dir/sysctls" ] || for s in $sysctls; do echo "$s=$(sysctl -n "$s")"; done > "$dir/sysctls"
  cgroups create

  # containerd's config is also the node's /etc/containerd/config.toml, where the chart's
  # agent reads it: the file exists now for the bind mount, written in place below.
  : > "$dir/containerd/config.toml"
  # The node's files: a process that holds the node's network and mount namespaces.
  # nsenter rather than `ip netns exec`, which would mount a fresh /sys without the cgroups.
  nsenter --net="/run/netns/$ns" unshare -m --propagation private sh -c '
    set -e
    d=$0
    mount --bind "$d/hosts" /etc/hosts
    mount --bind "$d/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt
    mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$d/varlib/upper,workdir=$d/varlib/work" /var/lib
    mount --bind "$d/log" /var/log
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /etc/containerd
    mkdir /etc/containerd/certs.d
    mount --bind "$d/certs.d" /etc/containerd/certs.d
    touch /etc/containerd/config.toml
    mount --bind "$d/containerd/config.toml" /etc/containerd/config.toml
    touch "$d/holder.ready"
    exec sleep infinity' "$dir" </dev/null >"$dir/holder.log" 2>&1 &
  echo $! > "$dir/holder.pid"
  for _ in $(seq 100); do [ -f "$dir/holder.ready" ] && break; sleep 0.05; done
  [ -f "$dir/holder.ready" ] || { echo "kube-node: the node's mounts failed: $(cat "$dir/holder.log")" >&2; exit 1; }

  cat > "$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox"
  stream_server_address = "127.0.0.1"
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  # Root here lacks CAP_SYS_RESOURCE, so runc may not lower oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
EOF
  cat > "$dir/cni/net.d/10-peerpull.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "peerpull",
 "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gw"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$dir/cni/ipam"}}]}
EOF
  # Started directly (not through a function), so that $! is containerd's own PID.
  nsenter -t "$(holder_pid)" -m -n -- containerd --config "$dir/containerd/config.toml" </dev/null >"$dir/containerd.log" 2>&1 &
  echo $! > "$dir/containerd.pid"
  for _ in $(seq 200); do [ -S "$dir/containerd/containerd.sock" ] && break; sleep 0.05; done
  [ -S "$dir/containerd/containerd.sock" ] || { echo "kube-node: containerd did not start: $(tail -20 "$dir/containerd.log")" >&2; exit 1; }

  nsenter -t "$(holder_pid)" -m -n -- "$kube_dir/kubelet" \
    --kubeconfig="$kubeconfig" \
    --container-runtime=remote --container-runtime-endpoint="unix://$dir/containerd/containerd.sock" \
    --cgroup-driver=cgroupfs --cgroup-root="$cgroup_root" --fail-swap-on=false \
    --root-dir=/var/lib/kubelet --volume-plugin-dir=/var/lib/kubelet/volume-plugins \
    --hostname-override="$node_name" --node-ip="$node_addr" \
    --address="$node_addr" --port=10250 --read-only-port=0 \
    --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
    --make-iptables-util-chains=false --resolv-conf="" \
    --v=2 </dev/null >"$dir/kubelet.log" 2>&1 &
  echo $! > "$dir/kubelet.pid"
  for _ in $(seq 300); do
    on_node curl -sf http://127.0.0.1:10248/healthz >/dev/null 2>&1 && { echo "$node_name"; return 0; }
    kill -0 "$(cat "$dir/kubelet.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "kube-node: kubelet did not become healthy: $(tail -30 "$dir/kubelet.log")" >&2
  exit 1
}

stop_pid() {  # file
  local pid; pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

down() {
  stop_pid "$dir/kubelet.pid"
  # Pods: every process in the node's cgroups (containers outlive their shims).
  for _ in 1 2 3; do cgroups kill; sleep 0.2; done
  stop_pid "$dir/containerd.pid"
  # Shims, the holder and whatever else still runs in the node's network namespace.
  if ip netns list | grep -qw "^$ns"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  fi
  [ -n "$(holder_pid)" ] && kill -9 "$(holder_pid)" 2>/dev/null || true
  sleep 0.3
  cgroups kill
  cgroups remove
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$ns" 2>/dev/null || true
  if [ -f "$dir/sysctls" ]; then
    while IFS= read -r kv; do sysctl -qw "$kv" || true; done < "$dir/sysctls"
  fi
  # The overlay's upper layer holds files owned by pods' users; rm -rf handles it.
  rm -rf "$dir"
}

case $cmd in
  net) net ;;
  up) [ $# -eq 2 ] || { echo "usage: kube-node.sh up DIR KUBECONFIG SANDBOX_IMAGE" >&2; exit 2; }; up "$1" "$2" ;;
  down) down ;;
  exec) on_node "$@" ;;
  *) sed -n '2,25p' "$0" >&2; exit 2 ;;
esac

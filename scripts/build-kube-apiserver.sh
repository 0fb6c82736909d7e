#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubelet v1.20.2 from
# Debian bookworm's `kubernetes` source package (the full upstream tree with vendor/) with
# Debian's Go (~13 min on 2 cores the first time), installs etcd-server, and unpacks
# Debian's kubectl (kubernetes-client) next to it: not into /usr/bin, where another
# kubectl (e.g. Google Cloud SDK's) may live. Cached outside the repository, so this
# runs once per machine. Prints the directory holding kube-apiserver and kubectl.
#
# Why the swap: the vendored modern-go/reflect2 1.0.1 crashes under Go >= 1.18; Debian's
# golang-github-modern-go-reflect2-dev 1.0.2 and json-iterator 1.1.12 replace it.
set -euo pipefail
out="${PEERPULL_KUBE_DIR:-/var/cache/peerpull/kube-1.20.2}"
binaries="kube-apiserver kube-controller-manager kube-scheduler kubelet"
built() { for b in $binaries; do [ -x "$out/$b" ] || return 1; done; }
if built && [ -x "$out/kubectl" ] && command -v etcd >/dev/null; then echo "$out"; exit 0; fi

export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs "^[[:space:]]*\(deb-src\|Types:.*deb-src\)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # The source package comes from the machine's own Debian archive: copy the URIs (and
  # key) of its configured bookworm entry, so no host is named here and a local mirror
  # works as well as any other.
  { { read -r mirror; read -r key; } < <("$(dirname "$0")/debian-mirror.py")
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\n' "$mirror"
    if [ -n "$key" ]; then printf 'Signed-By: %s\n' "$key"; fi; } > /tmp/peerpull-deb-src.sources
  mv /tmp/peerpull-deb-src.sources /etc/apt/sources.list.d/peerpull-deb-src.sources
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends golang-go rsync dpkg-dev make \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev etcd-server >/dev/null
mkdir -p "$out"
if [ ! -x "$out/kubectl" ]; then
  (cd /tmp && rm -f kubernetes-client_*.deb && apt-get download -qq kubernetes-client >/dev/null)
  rm -rf "$out/kubernetes-client"
  dpkg-deb -x /tmp/kubernetes-client_*.deb "$out/kubernetes-client"
  ln -sf "$out/kubernetes-client/usr/bin/kubectl" "$out/kubectl"
  rm -f /tmp/kubernetes-client_*.deb
fi
built && { echo "$out"; exit 0; }

work=$(mktemp -d /var/tmp/peerpull-kube-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -qq kubernetes >/dev/null 2>&1 || apt-get source kubernetes
src=$(find . -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
cd "$src"
for pkg in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  rm -rf "vendor/$pkg"
  mkdir -p "vendor/$pkg"
  cp -r "/usr/share/gocode/src/$pkg/." "vendor/$pkg/"
done
export CGO_ENABLED=0 GOFLAGS="-tags=providerless" GO111MODULE=on GOCACHE="$work/gocache"
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
for b in $binaries; do
  [ -x "$out/$b" ] && continue
  make WHAT="cmd/$b"
  cp "_output/bin/$b" "$out/$b.tmp"
  mv "$out/$b.tmp" "$out/$b"
done
echo "$out"

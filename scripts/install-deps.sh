#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine (run as root).
# Idempotent: does nothing when everything is already there.
#   --bench: also what the benchmarks compare against (BitTorrent: opentracker, aria2c, mktorrent)
set -euo pipefail

# The real-node test: runc, CNI plugins, nftables (the node's service rule), busybox-static (its pods' program).
packages=(docker-registry skopeo apache2-utils ca-certificates containerd curl util-linux iproute2
          runc containernetworking-plugins nftables busybox-static binutils)
[ "${1:-}" = --bench ] && packages+=(opentracker aria2 mktorrent)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package may start a system registry on :5000; the tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
# Helm's Go SDK for the chart tests, from PyPI (no helm binary).
python3 -c "import helm_python" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore helm-python-sdk==0.2.2
# The benchmarks' plots (bench/report.py).
if [ "${1:-}" = --bench ]; then
  python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore matplotlib==3.11.2
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain (/opt/swift/usr/bin)" >&2; exit 1; }

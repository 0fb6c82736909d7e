#!/usr/bin/env bash
# PeerPull's container image without a base image: the binary, exactly the shared
# libraries it loads (ldd), the machine's CA roots, and a non-root user, written as an
# OCI layout by scripts/oci-image.py (reproducible: same files, same digests).
#
#   build-image.sh rootfs BINARY DIR         assemble the image's files in DIR (the Containerfile uses this)
#   build-image.sh peerpull BINARY LAYOUT TAG  the image, as LAYOUT:TAG
#   build-image.sh busybox LAYOUT            two small images for tests and the demo, from
#                                            Debian's busybox-static: LAYOUT:pause (a pod sandbox
#                                            that exits on TERM) and LAYOUT:app (the same, another
#                                            layer, printing "started")
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

rootfs() {  # BINARY DIR
  local binary=$1 dir=$2
  rm -rf "$dir"
  mkdir -p "$dir/usr/bin" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/var/lib/peerpull"
  chmod 1777 "$dir/tmp"
  # Symbols are not needed to run; they are most of a debug build's size.
  objcopy --strip-debug "$binary" "$dir/usr/bin/peerpull"
  chmod 0755 "$dir/usr/bin/peerpull"
  # Every library the loader resolves, at the path it resolved it from, plus the loader.
  ldd "$binary" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/usr/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/etc/group"
  printf 'hosts: files dns\n' > "$dir/etc/nsswitch.conf"
}

case "${1:-}" in
  rootfs) rootfs "$2" "$3" ;;
  peerpull)
    binary=$2 layout=$3 tag=$4
    work=$(mktemp -d /tmp/peerpull-image-XXXXXX)
    trap 'rm -rf "$work"' EXIT
    rootfs "$binary" "$work/rootfs"
    version=$(sed -n 's/.*current = "\(.*\)".*/\1/p' "$here/../Sources/OCI/Version.swift")
    python3 "$here/oci-image.py" "$work/rootfs" "$layout" "$tag" --user 65532:65532 \
      --entrypoint '["/usr/bin/peerpull"]' --env PATH=/usr/bin \
      --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
      --label "org.opencontainers.image.title=peerpull" --label "org.opencontainers.image.version=$version"
    ;;
  busybox)
    layout=$2
    work=$(mktemp -d /tmp/peerpull-image-XXXXXX)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
    cp /bin/busybox "$work/rootfs/bin/busybox"
    for a in sh sleep ls cat echo wget ps id hostname; do ln -s busybox "$work/rootfs/bin/$a"; done
    forever='trap \"exit 0\" TERM INT; while :; do sleep 86400 & wait $!; done'
    python3 "$here/oci-image.py" "$work/rootfs" "$layout" pause --env PATH=/bin \
      --entrypoint "[\"/bin/sh\", \"-c\", \"$forever\"]" >/dev/null
    # The app's layer differs from the sandbox's (containerd would not fetch a layer it holds).
    echo "peerpull test app" > "$work/rootfs/etc/app-release"
    python3 "$here/oci-image.py" "$work/rootfs" "$layout" app --env PATH=/bin \
      --cmd "[\"/bin/sh\", \"-c\", \"echo started; $forever\"]" >/dev/null
    ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac

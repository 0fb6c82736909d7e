#!/usr/bin/env bash
# Unpacks Debian's containerd of other suites beside bookworm's (trixie: 1.7, sid: 2.x),
# fetched with apt from the machine's own Debian mirror (scripts/debian-mirror.py) into a
# private apt state, so the machine's apt configuration and installed packages are not
# touched. Cached outside the repository; prints one directory per version, each holding
# usr/bin/containerd and usr/bin/ctr (they run with bookworm's runc).
#   scripts/containerd-versions.sh [suite ...]   (default: trixie sid)
set -euo pipefail
here=$(dirname "$0")
cache=${PEERPULL_CONTAINERD_CACHE:-/var/cache/peerpull/containerd}
suites=("$@")
[ $# -gt 0 ] || suites=(trixie sid)
{ read -r mirror; read -r key; } < <("$here/debian-mirror.py")
for suite in "${suites[@]}"; do
  done_file="$cache/$suite.dir"
  if [ -f "$done_file" ] && [ -x "$(cat "$done_file")/usr/bin/containerd" ]; then cat "$done_file"; continue; fi
  apt_dir="$cache/apt-$suite"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  echo "deb [${key:+signed-by=$key}] $mirror $suite main" > "$apt_dir/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq >/dev/null
  version=$(apt-cache "${apt_opts[@]}" show containerd | awk '/^Version:/ { print $2; exit }')
  out="$cache/containerd-$version"
  rm -rf "$out"
  (cd "$apt_dir/archives" && rm -f containerd_*.deb && apt-get "${apt_opts[@]}" download -qq "containerd=$version" >/dev/null)
  dpkg-deb -x "$apt_dir"/archives/containerd_*.deb "$out"
  rm -f "$apt_dir"/archives/containerd_*.deb
  "$out/usr/bin/containerd" --version >/dev/null
  echo "$out" > "$done_file"
  echo "$out"
done

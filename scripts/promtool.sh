#!/usr/bin/env bash
# Unpacks promtool from Debian's prometheus package (without installing the server, which
# would start a service), cached outside the repository; prints its path. The chart's
# PrometheusRule is checked with it (ChartMonitoringTests).
set -euo pipefail
out=${PEERPULL_PROMETHEUS_DIR:-/var/cache/peerpull/prometheus}
if [ -x "$out/usr/bin/promtool" ]; then echo "$out/usr/bin/promtool"; exit 0; fi
work=$(mktemp -d /var/tmp/peerpull-promtool-XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root prometheus >/dev/null)
rm -rf "$out"
dpkg-deb -x "$work"/prometheus_*.deb "$out"
"$out/usr/bin/promtool" --version >/dev/null
echo "$out/usr/bin/promtool"

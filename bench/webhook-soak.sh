#!/usr/bin/env bash
# Webhook soak (issue 13): the release controller binary against a real kube-apiserver,
# AdmissionReviews at 500/s for a minute from bench/webhook_load.py, every patch checked.
# Prints reviews/s, p50/p99/max latency (counted from when each review was due), wrong
# patches and the controller's peak RSS. The harness is the WebhookSoakTests suite (make
# test runs it for 10 s against the debug binary).
#   [SECONDS_=60] [RATE=500] bench/webhook-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lab-lib.sh
export PATH=/opt/swift/usr/bin:$PATH
scripts/install-deps.sh >/dev/null
scripts/build-kube-apiserver.sh >/dev/null
build_release
swift build --build-tests >/dev/null
PEERPULL_BINARY=$bin PEERPULL_WEBHOOK_SOAK_SECONDS=${SECONDS_:-60} PEERPULL_WEBHOOK_SOAK_RATE=${RATE:-500} \
  swift test --skip-build --filter WebhookSoakTests 2>&1 | grep -E 'webhook soak|✘|passed|failed|error'

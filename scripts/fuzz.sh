#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets (the Fuzz/ package, with AddressSanitizer, in
# .build-fuzz) and runs each for FUZZ_SECONDS (default 60) on a copy of its seed corpus
# in Fuzz/Corpus/<target> (with the format's tokens from Fuzz/Dictionaries/<target>.dict),
# so the repository's corpus never changes. Prints executions
# per target; exits 1 if any target crashed, broke a property, timed out or ran out of
# memory, naming the input that did (kept in .build-fuzz/artifacts).
#
#   scripts/fuzz.sh                      every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh range reference
#   FUZZ_TARGETS="admission" make fuzz
#
# Replay one input: FUZZ_TARGET=<target> .build-fuzz/debug/PeerPullFuzz <file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
scratch=.build-fuzz
artifacts=$scratch/artifacts
if [ $# -gt 0 ]; then targets=("$@"); else read -r -a targets <<<"${FUZZ_TARGETS:-}"; fi
if [ ${#targets[@]} -eq 0 ]; then
  targets=()
  for d in Fuzz/Corpus/*/; do targets+=("$(basename "$d")"); done
fi

# The main build's dependency versions, when it has resolved them (both files stay untracked).
if [ ! -f Fuzz/Package.resolved ] && [ -f Package.resolved ]; then cp Package.resolved Fuzz/Package.resolved; fi
# -sanitize=fuzzer,address instruments every Swift module (ours and the dependencies') for
# coverage and ASan; the C and C++ dependencies (BoringSSL, libyaml) are built as usual.
start=$SECONDS
# SwiftPM reloads a path dependency's file list only with the manifest that names it: without
# this, a source file added to the main package since the last fuzz build is not compiled
# ("cannot find 'X' in scope").
touch Fuzz/Package.swift
set +e
mkdir -p "$scratch/tmp"
# TMPDIR: the compiler's scratch directories and SwiftPM's lock files stay in the build.
TMPDIR=$PWD/$scratch/tmp swift build --package-path Fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address 2>&1 \
  | grep -vE "^\[[0-9]+/[0-9]+\]|Cannot export local symbol|unhandled; explicitly declare|CMakeLists.txt$"
build_status=${PIPESTATUS[0]}
set -e
if [ "$build_status" -ne 0 ]; then echo "fuzz: build failed" >&2; exit "$build_status"; fi
echo "fuzz: built in $((SECONDS - start)) s"
binary=$scratch/debug/PeerPullFuzz

work=$(mktemp -d /tmp/peerpull-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
failed=()
printf '%-15s %12s %10s %8s\n' target executions "exec/s" corpus
for target in "${targets[@]}"; do
  [ -d "Fuzz/Corpus/$target" ] || { echo "fuzz: no target $target (Fuzz/Corpus/$target)" >&2; exit 2; }
  corpus=$work/$target
  mkdir -p "$corpus"
  cp Fuzz/Corpus/"$target"/* "$corpus"/
  seeds=$(ls "$corpus" | wc -l)
  log=$work/$target.log
  dict=()
  [ -f "Fuzz/Dictionaries/$target.dict" ] && dict=(-dict="Fuzz/Dictionaries/$target.dict")
  set +e
  # -rss_limit_mb: ASan's shadow memory counts; -timeout: one input taking 10 s is a finding.
  # Swift's backtracer reads the crashed process's memory, which ASan reports as a second error.
  SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$target "$binary" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" >"$log" 2>&1
  status=$?
  set -e
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-15s %12s %10s %8s\n' "$target" "${executions:-?}" "${rate:-?}" "$seeds→$(ls "$corpus" | wc -l)"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    echo "---- $target failed (libFuzzer exited $status):"
    grep -E "property violated|Fatal error|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY|Test unit written to|^artifact_prefix" "$log" | head -20
    echo "---- replay: FUZZ_TARGET=$target $binary <the file above>"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; inputs kept in $artifacts"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crash"

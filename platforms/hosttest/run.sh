#!/usr/bin/env bash
# Builds libopenrtmp_ffi.so, generates the Kotlin bindings with uniffi-bindgen, compiles them
# with Main.kt and runs the smoke test on the JVM (JNA loads the .so). Prints timings.
#
# Needs: cargo, kotlinc (KOTLIN_HOME, default: the npm package kotlin-compiler), JNA
# (JNA_JAR, default: Debian libjna-java), java, ffmpeg (FFMPEG, default: ffmpeg on PATH).
# Exit 0: passed. Exit 77: a prerequisite is missing (the message says which). Else: failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/hosttest"
FFMPEG="${FFMPEG:-ffmpeg}"
export FFMPEG

# shellcheck source=platforms/hosttest/kotlin-common.sh
. "$here/kotlin-common.sh"
require_kotlin_jvm
command -v "$FFMPEG" >/dev/null || missing "ffmpeg ($FFMPEG)"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
timings=()
step() {
    local name="$1"; shift
    local t; t="$(now)"
    echo "== $name" >&2
    "$@"
    timings+=("$name: $(took "$t")")
}

cd "$root"
mkdir -p "$out"
step "cargo build + uniffi-bindgen generate kotlin" kotlin_bindings "$out"
mapfile -t kt < <(find "$out/bindings" -name '*.kt')
step "kotlinc" "$K/bin/kotlinc" -nowarn "${kt[@]}" "$here/Main.kt" -cp "$KOTLIN_CP_COMPILE" -d "$out/kt.jar" 2>&1
cp_run="$out/kt.jar:$KOTLIN_CP_RUN"
step "java MainKt" java -Djna.library.path="$target/debug" -cp "$cp_run" MainKt

echo "== timings"
printf '  %s\n' "${timings[@]}"

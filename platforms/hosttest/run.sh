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
K="${KOTLIN_HOME:-$(npm root -g 2>/dev/null || true)/kotlin-compiler}"
JNA="${JNA_JAR:-$(dpkg -L libjna-java 2>/dev/null | grep '/jna\.jar$' | head -1 || true)}"
FFMPEG="${FFMPEG:-ffmpeg}"
export FFMPEG

missing() { echo "MISSING: $*" >&2; exit 77; }
[ -x "$K/bin/kotlinc" ] || missing "kotlinc ($K/bin/kotlinc; npm install -g kotlin-compiler@2.4.20, or set KOTLIN_HOME)"
[ -n "$JNA" ] && [ -f "$JNA" ] || missing "JNA jar (apt-get install libjna-java, or set JNA_JAR)"
command -v java >/dev/null || missing "java"
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
# The bindgen binary first (its build enables uniffi's cli feature and so rebuilds the
# library with it), then the library alone, so the .so loaded below is the plain one.
step "cargo build uniffi-bindgen (cli)" cargo build -q -p openrtmp-ffi --features cli --bin uniffi-bindgen
step "cargo build openrtmp-ffi (.so)" cargo build -q -p openrtmp-ffi --lib
so="$target/debug/libopenrtmp_ffi.so"
rm -rf "$out/bindings"
step "uniffi-bindgen generate kotlin" "$target/debug/uniffi-bindgen" generate --library "$so" \
    --language kotlin --out-dir "$out/bindings" --no-format
kt="$(find "$out/bindings" -name '*.kt' | head -1)"
[ -n "$kt" ] || { echo "no Kotlin generated" >&2; exit 1; }
cp_compile="$JNA:$K/lib/kotlinx-coroutines-core-jvm.jar"
step "kotlinc" "$K/bin/kotlinc" -nowarn "$kt" "$here/Main.kt" -cp "$cp_compile" -d "$out/kt.jar" 2>&1
cp_run="$out/kt.jar:$JNA:$K/lib/kotlin-stdlib.jar:$K/lib/kotlinx-coroutines-core-jvm.jar"
step "java MainKt" java -Djna.library.path="$target/debug" -cp "$cp_run" MainKt

echo "== timings"
printf '  %s\n' "${timings[@]}"

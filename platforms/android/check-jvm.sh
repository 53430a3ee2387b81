#!/usr/bin/env bash
# Compiles the Android module's pure logic (src/main/kotlin/org/openrtmp/android/ServiceLogic.kt,
# no android.* imports) with the UniFFI Kotlin bindings and jvm-check/ServiceLogicCheck.kt,
# and runs the check on the desktop JVM against the host libopenrtmp_ffi.so (JNA). This is
# what can be verified of the Android module without the Android SDK: the service, network
# and power monitors need android.jar (Google Maven) and are not compiled here.
#
# Needs: cargo, kotlinc (KOTLIN_HOME, default: the npm package kotlin-compiler), JNA
# (JNA_JAR, default: Debian libjna-java), java.
# Exit 0: passed. Exit 77: a prerequisite is missing (the message says which). Else: failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/android-jvm-check"
K="${KOTLIN_HOME:-$(npm root -g 2>/dev/null || true)/kotlin-compiler}"
JNA="${JNA_JAR:-$(dpkg -L libjna-java 2>/dev/null | grep '/jna\.jar$' | head -1 || true)}"
logic="$here/src/main/kotlin/org/openrtmp/android/ServiceLogic.kt"

missing() { echo "MISSING: $*" >&2; exit 77; }
command -v cargo >/dev/null || missing "cargo"
[ -x "$K/bin/kotlinc" ] || missing "kotlinc ($K/bin/kotlinc; npm install -g kotlin-compiler, or set KOTLIN_HOME)"
[ -n "$JNA" ] && [ -f "$JNA" ] || missing "JNA jar (apt-get install libjna-java, or set JNA_JAR)"
command -v java >/dev/null || missing "java"

# The point of the split: this file must stay free of Android APIs.
if grep -nE '^import (android|androidx)\.' "$logic"; then
    echo "FAIL: $logic imports Android APIs; move that code out of ServiceLogic.kt" >&2
    exit 1
fi

cd "$root"
mkdir -p "$out"
echo "== cargo build uniffi-bindgen (cli), then libopenrtmp_ffi.so" >&2
cargo build -q -p openrtmp-ffi --features cli --bin uniffi-bindgen
cargo build -q -p openrtmp-ffi --lib
rm -rf "$out/bindings"
echo "== uniffi-bindgen generate kotlin" >&2
"$target/debug/uniffi-bindgen" generate --library "$target/debug/libopenrtmp_ffi.so" \
    --language kotlin --out-dir "$out/bindings" --no-format
mapfile -t kt < <(find "$out/bindings" -name '*.kt')
[ "${#kt[@]}" -gt 0 ] || { echo "no Kotlin generated" >&2; exit 1; }
echo "== kotlinc (bindings + ServiceLogic.kt + ServiceLogicCheck.kt)" >&2
"$K/bin/kotlinc" -nowarn "${kt[@]}" "$logic" "$here/jvm-check/ServiceLogicCheck.kt" \
    -cp "$JNA:$K/lib/kotlinx-coroutines-core-jvm.jar" -d "$out/check.jar" 2>&1
echo "== java ServiceLogicCheckKt" >&2
java -Djna.library.path="$target/debug" \
    -cp "$out/check.jar:$JNA:$K/lib/kotlin-stdlib.jar:$K/lib/kotlinx-coroutines-core-jvm.jar" \
    ServiceLogicCheckKt

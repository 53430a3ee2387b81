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
logic="$here/src/main/kotlin/org/openrtmp/android/ServiceLogic.kt"

# shellcheck source=platforms/hosttest/kotlin-common.sh
. "$root/platforms/hosttest/kotlin-common.sh"
require_kotlin_jvm

# The point of the split: this file must stay free of Android APIs.
if grep -nE '^import (android|androidx)\.' "$logic"; then
    echo "FAIL: $logic imports Android APIs; move that code out of ServiceLogic.kt" >&2
    exit 1
fi

cd "$root"
mkdir -p "$out"
echo "== cargo build, uniffi-bindgen generate kotlin" >&2
kotlin_bindings "$out"
mapfile -t kt < <(find "$out/bindings" -name '*.kt')
echo "== kotlinc (bindings + ServiceLogic.kt + ServiceLogicCheck.kt)" >&2
"$K/bin/kotlinc" -nowarn "${kt[@]}" "$logic" "$here/jvm-check/ServiceLogicCheck.kt" \
    -cp "$KOTLIN_CP_COMPILE" -d "$out/check.jar" 2>&1
echo "== java ServiceLogicCheckKt" >&2
java -Djna.library.path="$target/debug" \
    -cp "$out/check.jar:$KOTLIN_CP_RUN" \
    ServiceLogicCheckKt

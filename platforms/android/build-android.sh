#!/usr/bin/env bash
# Builds what the Android library module needs from the Rust workspace:
#   src/main/jniLibs/<abi>/libopenrtmp_ffi.so   for arm64-v8a, armeabi-v7a, x86_64 (API 26+),
#                                               release profile, feature `logcat`
#   build/generated/uniffi/kotlin/...           the UniFFI Kotlin bindings (package org.openrtmp.ffi)
# Then `gradle assembleRelease` (or the app's build) packages them.
#
# Needs: cargo + rustup, cargo-ndk (`cargo install cargo-ndk`), the Android NDK (r26 or newer;
# ANDROID_NDK_HOME, or an ndk/<version> under ANDROID_HOME / ANDROID_SDK_ROOT), and the rustup
# targets aarch64-linux-android, armv7-linux-androideabi, x86_64-linux-android.
# Env: ABIS="arm64-v8a x86_64" to build fewer ABIs; PROFILE=dev for a debug build.
# Exit 0: built. Exit 77: a prerequisite is missing (the message says which). Else: failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
abis=(${ABIS:-arm64-v8a armeabi-v7a x86_64})
profile="${PROFILE:-release}"
min_sdk=26
jnilibs="$here/src/main/jniLibs"
generated="$here/build/generated/uniffi/kotlin"

missing() { echo "MISSING: $*" >&2; exit 77; }

command -v cargo >/dev/null || missing "cargo (https://rustup.rs)"
command -v rustup >/dev/null || missing "rustup (the Android std libraries come from rustup targets)"
cargo ndk --version >/dev/null 2>&1 || missing "cargo-ndk (cargo install cargo-ndk)"

ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-${ANDROID_NDK:-}}}"
if [ -z "$ndk" ]; then
    for sdk in "${ANDROID_HOME:-}" "${ANDROID_SDK_ROOT:-}"; do
        [ -n "$sdk" ] && [ -d "$sdk/ndk" ] || continue
        ndk="$(find "$sdk/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -1)"
        [ -n "$ndk" ] && break
    done
fi
[ -n "$ndk" ] && [ -f "$ndk/source.properties" ] || missing "the Android NDK: set ANDROID_NDK_HOME to it, or install one under \$ANDROID_HOME/ndk/ (sdkmanager 'ndk;27.2.12479018'); looked at '${ndk:-nothing}'"
export ANDROID_NDK_HOME="$ndk"

declare -A triple=([arm64-v8a]=aarch64-linux-android [armeabi-v7a]=armv7-linux-androideabi [x86_64]=x86_64-linux-android [x86]=i686-linux-android)
installed="$(rustup target list --installed)"
need=()
for abi in "${abis[@]}"; do
    t="${triple[$abi]:-}"
    [ -n "$t" ] || { echo "unknown ABI: $abi" >&2; exit 2; }
    grep -qx "$t" <<<"$installed" || need+=("$t")
done
[ "${#need[@]}" -eq 0 ] || missing "rustup targets: rustup target add ${need[*]}"

cd "$root"
ndk_args=()
for abi in "${abis[@]}"; do ndk_args+=(-t "$abi"); done
profile_args=(--release)
[ "$profile" = release ] || profile_args=(--profile "$profile")

echo "== cargo ndk (${abis[*]}, API $min_sdk, $profile, feature logcat; NDK $ndk)" >&2
cargo ndk "${ndk_args[@]}" --platform "$min_sdk" --output-dir "$jnilibs" \
    build "${profile_args[@]}" --locked -p openrtmp-ffi --lib --features logcat

# The bindings come from a host build of the same sources: the FFI's public API is the same on
# every target (crates/openrtmp-ffi/src/logging.rs keeps cfg off public items), and a host
# debug library keeps the UNIFFI_META symbols that library mode reads, which the release
# profile's `strip = "symbols"` may remove from the Android .so.
echo "== uniffi-bindgen generate kotlin" >&2
cargo build -q --locked -p openrtmp-ffi --features cli --bin uniffi-bindgen
cargo build -q --locked -p openrtmp-ffi --lib
host_lib="$target/debug/libopenrtmp_ffi.so"
[ -f "$host_lib" ] || host_lib="$target/debug/libopenrtmp_ffi.dylib"
rm -rf "$generated"
"$target/debug/uniffi-bindgen" generate --library "$host_lib" --language kotlin \
    --out-dir "$generated" --no-format

echo "== done" >&2
find "$jnilibs" -name '*.so' -exec ls -l {} + >&2
find "$generated" -name '*.kt' >&2

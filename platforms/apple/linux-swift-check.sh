#!/usr/bin/env bash
# Compiles the Swift package's sources on Linux (the generated UniFFI bindings + the host glue;
# the Apple-only parts are behind #if canImport/os guards) against libopenrtmp_ffi.so, then
# builds and runs LinuxSmoke/main.swift, which starts a server through OpenRTMPHost.
#
# Run ./build-xcframework.sh --bindings-only first (it builds the .so and writes
# Sources/OpenRTMP/Generated/ and build/include/).
#
# Environment: SWIFTC (default: swiftc on PATH), LIB_DIR (the directory holding
# libopenrtmp_ffi.so; default: $CARGO_TARGET_DIR/debug, else <repo>/target/debug),
# FFMPEG (optional: an ffmpeg binary for the publish step), OUT (default: build/linux).
#
# Exit 0: passed. Exit 77: a prerequisite is missing (the message says which). Else: failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
swiftc="${SWIFTC:-swiftc}"
lib_dir="${LIB_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}"
out="${OUT:-$here/build/linux}"
include="$here/build/include"

missing() { echo "MISSING: $*" >&2; exit 77; }
command -v "$swiftc" >/dev/null || missing "swiftc (Swift 5.9+ for Linux; see README.md for the Debian trixie route)"
[ -f "$lib_dir/libopenrtmp_ffi.so" ] || missing "$lib_dir/libopenrtmp_ffi.so (run ./build-xcframework.sh --bindings-only, or set LIB_DIR)"
[ -f "$include/module.modulemap" ] && [ -f "$here/Sources/OpenRTMP/Generated/OpenRTMPFFI.swift" ] \
    || missing "generated bindings (run ./build-xcframework.sh --bindings-only)"

"$swiftc" --version 2>&1 | head -1
mkdir -p "$out"
sources=("$here"/Sources/OpenRTMP/*.swift "$here"/Sources/OpenRTMP/Generated/*.swift)

echo "== swiftc: module OpenRTMP (${#sources[@]} files) -> libOpenRTMP.so" >&2
"$swiftc" -module-name OpenRTMP -emit-library -emit-module -swift-version 5 \
    -emit-module-path "$out/OpenRTMP.swiftmodule" \
    -Xcc -fmodule-map-file="$include/module.modulemap" -I "$include" \
    -L "$lib_dir" -lopenrtmp_ffi \
    "${sources[@]}" -o "$out/libOpenRTMP.so"

echo "== swiftc -typecheck, Swift 6 language mode (strict concurrency)" >&2
"$swiftc" -module-name OpenRTMP -typecheck -swift-version 6 \
    -Xcc -fmodule-map-file="$include/module.modulemap" -I "$include" "${sources[@]}"

echo "== swiftc: LinuxSmoke" >&2
"$swiftc" -swift-version 5 -I "$out" -L "$out" -lOpenRTMP -L "$lib_dir" -lopenrtmp_ffi \
    -Xcc -fmodule-map-file="$include/module.modulemap" -I "$include" \
    "$here/LinuxSmoke/main.swift" -o "$out/linux-smoke"

echo "== run LinuxSmoke" >&2
LD_LIBRARY_PATH="$out:$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$out/linux-smoke"

#!/usr/bin/env bash
# Builds OpenRTMPFFI.xcframework (the Rust core as static libraries) and the UniFFI Swift
# bindings for the Swift package in this directory.
#
#   ./build-xcframework.sh                  # macOS + Xcode: iOS device + universal macOS
#   ./build-xcframework.sh --simulator      # also an iOS Simulator slice (arm64 + x86_64)
#   ./build-xcframework.sh --debug          # debug instead of release Rust builds
#   ./build-xcframework.sh --bindings-only  # any host with cargo (Linux too): Swift bindings,
#                                           # header and modulemap only, no xcframework
#
# Output (all ignored by git, see .gitignore):
#   Sources/OpenRTMP/Generated/OpenRTMPFFI.swift   the generated Swift bindings
#   build/include/{OpenRTMPFFIFFI.h,module.modulemap}   the C header of the FFI and the
#                                                  clang module `OpenRTMPFFIFFI`
#   OpenRTMPFFI.xcframework                        ios-arm64, macos-arm64_x86_64
#                                                  (+ ios-arm64_x86_64-simulator)
#
# Environment: CARGO_TARGET_DIR (default: <repo>/target), CARGO (default: cargo),
# FFI_FEATURES (default: `oslog` when openrtmp-ffi declares that feature; set it to an empty
# string to leave os_log out).
#
# Exit 0: built. Exit 77: a prerequisite is missing (the message says which). Else: failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo="${CARGO:-cargo}"
build="$here/build"
generated="$here/Sources/OpenRTMP/Generated"
xcframework="$here/OpenRTMPFFI.xcframework"
crate=openrtmp-ffi
lib=libopenrtmp_ffi

bindings_only=0 simulator=0 profile=release
for arg in "$@"; do
    case "$arg" in
        --bindings-only) bindings_only=1 ;;
        --simulator) simulator=1 ;;
        --debug) profile=debug ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

missing() { echo "MISSING: $*" >&2; exit 77; }
step() { echo "== $*" >&2; }

# ---- prerequisites ------------------------------------------------------------------------
command -v "$cargo" >/dev/null || missing "cargo (install Rust with rustup: https://rustup.rs)"
if [ "$bindings_only" = 0 ]; then
    [ "$(uname -s)" = Darwin ] || missing "macOS: the xcframework needs Xcode, which only runs on macOS \
(this is $(uname -s)). On this host, --bindings-only generates the Swift bindings."
    command -v xcodebuild >/dev/null || missing "xcodebuild (install Xcode, then: sudo xcode-select -s /Applications/Xcode.app)"
    xcodebuild -version >/dev/null 2>&1 || missing "a full Xcode (xcodebuild fails; the Command Line Tools alone cannot create an xcframework)"
    xcrun --sdk iphoneos --show-sdk-path >/dev/null 2>&1 || missing "the iOS SDK (xcrun --sdk iphoneos; install the iOS platform in Xcode > Settings > Platforms)"
    xcrun --sdk macosx --show-sdk-path >/dev/null 2>&1 || missing "the macOS SDK (xcrun --sdk macosx)"
    command -v lipo >/dev/null || missing "lipo (part of Xcode)"
    command -v rustup >/dev/null || missing "rustup (to add the Apple targets)"
fi

ffi_manifest="$root/crates/$crate/Cargo.toml"
if [ -z "${FFI_FEATURES+set}" ]; then
    if grep -Eq '^oslog[[:space:]]*=' "$ffi_manifest"; then
        FFI_FEATURES=oslog
    else
        FFI_FEATURES=
        echo "note: $crate has no \`oslog\` feature yet; building without os_log" >&2
    fi
fi
features=()
[ -n "$FFI_FEATURES" ] && features=(--features "$FFI_FEATURES")

cd "$root"

# ---- Swift bindings (from the host's library) ---------------------------------------------
# UniFFI reads the interface from the metadata in the compiled library, so the host's cdylib
# describes exactly what the Apple static libraries export (same source, same features minus
# the logging back end, which adds no FFI items).
step "cargo build uniffi-bindgen (feature cli)"
"$cargo" build -q --locked -p "$crate" --features cli --bin uniffi-bindgen
step "cargo build $crate (host library)"
"$cargo" build -q --locked -p "$crate" --lib
case "$(uname -s)" in
    Darwin) host_lib="$target_dir/debug/$lib.dylib" ;;
    MINGW*|MSYS*|CYGWIN*) host_lib="$target_dir/debug/openrtmp_ffi.dll" ;;
    *) host_lib="$target_dir/debug/$lib.so" ;;
esac
[ -f "$host_lib" ] || { echo "host library not found: $host_lib" >&2; exit 1; }

step "uniffi-bindgen generate --language swift"
out="$build/bindings"
rm -rf "$out"
"$target_dir/debug/uniffi-bindgen" generate --library "$host_lib" --language swift \
    --out-dir "$out" --no-format
swift_src="$(find "$out" -maxdepth 1 -name '*.swift' | head -1)"
header="$(find "$out" -maxdepth 1 -name '*.h' | head -1)"
modulemap="$(find "$out" -maxdepth 1 -name '*.modulemap' | head -1)"
[ -n "$swift_src" ] && [ -n "$header" ] && [ -n "$modulemap" ] \
    || { echo "uniffi-bindgen did not write a .swift, .h and .modulemap into $out" >&2; exit 1; }
mkdir -p "$generated" "$build/include"
rm -f "$generated"/*.swift "$build/include"/*
cp "$swift_src" "$generated/OpenRTMPFFI.swift"
cp "$header" "$build/include/"
# An xcframework's Headers directory (and -fmodule-map-file users) expect module.modulemap.
cp "$modulemap" "$build/include/module.modulemap"
echo "bindings: $generated/OpenRTMPFFI.swift" >&2
echo "header + modulemap: $build/include/" >&2
if [ "$bindings_only" = 1 ]; then
    exit 0
fi

# ---- static libraries for the Apple targets -----------------------------------------------
# Deployment targets match Package.swift (iOS 15, macOS 12), so the objects do not claim a
# newer OS than the package supports (the linker warns otherwise).
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
targets=(aarch64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
[ "$simulator" = 1 ] && targets+=(aarch64-apple-ios-sim x86_64-apple-ios)
step "rustup target add ${targets[*]}"
rustup target add "${targets[@]}" >/dev/null

profile_flag=()
[ "$profile" = release ] && profile_flag=(--release)
for t in "${targets[@]}"; do
    step "cargo rustc $crate staticlib --target $t ($profile${FFI_FEATURES:+, features $FFI_FEATURES})"
    # Only the staticlib: the crate also declares cdylib, which is of no use here.
    # ${a[@]+"${a[@]}"}: an empty array under `set -u` in macOS's bash 3.2.
    "$cargo" rustc -q --locked -p "$crate" --lib --crate-type staticlib --target "$t" \
        ${profile_flag[@]+"${profile_flag[@]}"} ${features[@]+"${features[@]}"}
done
a() { echo "$target_dir/$1/$profile/$lib.a"; }

step "lipo: universal macOS library"
mkdir -p "$build/macos" "$build/ios"
lipo -create "$(a aarch64-apple-darwin)" "$(a x86_64-apple-darwin)" -output "$build/macos/$lib.a"
cp "$(a aarch64-apple-ios)" "$build/ios/$lib.a"
slices=(-library "$build/ios/$lib.a" -headers "$build/include"
        -library "$build/macos/$lib.a" -headers "$build/include")
if [ "$simulator" = 1 ]; then
    mkdir -p "$build/ios-sim"
    lipo -create "$(a aarch64-apple-ios-sim)" "$(a x86_64-apple-ios)" -output "$build/ios-sim/$lib.a"
    slices+=(-library "$build/ios-sim/$lib.a" -headers "$build/include")
fi

step "xcodebuild -create-xcframework"
rm -rf "$xcframework"
xcodebuild -create-xcframework "${slices[@]}" -output "$xcframework" >/dev/null
echo "built: $xcframework" >&2
find "$xcframework" -maxdepth 2 -mindepth 1 | sed "s|$here/||" >&2

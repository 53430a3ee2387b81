# shellcheck shell=bash
# Environment for building C code (ring, other cc-rs build steps) for targets whose SDK is
# not on this machine: clang + llvm-ar with no system headers (ring's RING_CORE_NOSTDLIBINC
# mode), and a stub Apple SDK (ci/apple-stub-sdk). Check-only: objects built this way must
# never ship (docs/platforms.md).
#
# Sourced (by .ci/cross):
#   cross_env_vars TARGET     prints the NAME=VALUE lines for TARGET (CC_*, AR_*, CFLAGS_*)
#   cross_env_export TARGET.. exports them
#   cross_sdkroot TARGET      prints SDKROOT=... for Apple targets (nothing otherwise). Set
#                             it per command: a global SDKROOT would reach host build steps.
# Executed (by ci/api-surface.py): `bash ci/cross-env.sh TARGET` prints every NAME=VALUE
# line TARGET needs, SDKROOT included.

CROSS_ENV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CROSS_APPLE_SDK="$CROSS_ENV_ROOT/ci/apple-stub-sdk"

cross_env_vars() {
  local t="$1" u="${1//-/_}" flags
  case "$t" in
    *-linux-android)
      printf '%s\n' "CC_$u=clang" "AR_$u=llvm-ar" "CFLAGS_$u=-nostdlibinc -DRING_CORE_NOSTDLIBINC=1" ;;
    *-apple-*)
      flags="-nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -isystem $CROSS_APPLE_SDK/usr/include"
      # x86_64: ring's curve25519_64_adx.c includes <immintrin.h>, whose mm_malloc.h wants the
      # SDK's <stdlib.h>. Pre-defining its include guard drops _mm_malloc (ring doesn't use it).
      case "$t" in x86_64-*) flags="$flags -D__MM_MALLOC_H" ;; esac
      printf '%s\n' "CC_$u=clang" "AR_$u=llvm-ar" "CFLAGS_$u=$flags" ;;
  esac
}

cross_env_export() {
  local t line
  for t in "$@"; do
    while IFS= read -r line; do
      if [ -n "$line" ]; then export "${line?}"; fi
    done < <(cross_env_vars "$t")
  done
}

cross_sdkroot() {
  case "$1" in *-apple-*) echo "SDKROOT=$CROSS_APPLE_SDK" ;; esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for t in "$@"; do
    cross_env_vars "$t"
    cross_sdkroot "$t"
  done
fi

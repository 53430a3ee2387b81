/* CHECK-ONLY stub of the Apple SDK's TargetConditionals.h, used by .ci/cross so that ring's C
 * code compiles for `cargo check --target *-apple-*` on Linux (no Apple SDK here). Objects built
 * against it must never ship: real builds happen on macOS with Xcode's SDK. */
#ifndef OPENRTMP_STUB_TARGETCONDITIONALS_H
#define OPENRTMP_STUB_TARGETCONDITIONALS_H
#define TARGET_OS_MAC 1
#define TARGET_OS_SIMULATOR 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_VISION 0
#define TARGET_OS_EMBEDDED 0
#if defined(__ENVIRONMENT_IPHONE_OS_VERSION_MIN_REQUIRED__) || defined(__ENVIRONMENT_IOS__)
#define TARGET_OS_IPHONE 1
#define TARGET_OS_IOS 1
#define TARGET_OS_OSX 0
#else
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_OSX 1
#endif
#endif

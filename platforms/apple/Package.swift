// swift-tools-version:5.9
// The OpenRTMP server for iOS/iPadOS 15+ and macOS 12+ apps: the Rust core (as
// OpenRTMPFFI.xcframework), its generated UniFFI bindings and the host glue (network monitor,
// local network permission, background tasks, Bonjour, power).
//
// Run ./build-xcframework.sh first (on a Mac with Xcode): it builds the xcframework and writes
// the bindings into Sources/OpenRTMP/Generated/. See README.md.
import PackageDescription

let package = Package(
    name: "OpenRTMP",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "OpenRTMP", targets: ["OpenRTMP"]),
    ],
    targets: [
        // Static libraries (libopenrtmp_ffi.a) + Headers/{OpenRTMPFFIFFI.h, module.modulemap}.
        // The clang module inside is `OpenRTMPFFIFFI`; only the generated Swift imports it.
        .binaryTarget(name: "OpenRTMPFFI", path: "OpenRTMPFFI.xcframework"),
        .target(
            name: "OpenRTMP",
            dependencies: ["OpenRTMPFFI"],
            path: "Sources/OpenRTMP",
            linkerSettings: [
                // What the Rust dependency graph links on Apple targets:
                // rustls-platform-verifier -> Security, core-foundation -> CoreFoundation,
                // if-watch (macOS only) -> SystemConfiguration.
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
                .linkedFramework("SystemConfiguration", .when(platforms: [.macOS])),
            ]
        ),
    ]
)

// Logging of the Swift glue: os.Logger on Apple platforms (subsystem set by OpenRTMPHost, the
// same one the Rust core's os_log layer should use), stderr elsewhere (Linux tests).
//
// Messages are logged as public: they hold interface names, addresses and states, never
// stream keys.

import Foundation
#if canImport(os)
import os
#endif

public enum HostLog {
    /// The os_log subsystem (default `org.openrtmp`). Set before the first message: the
    /// logger is created once.
    public static var subsystem: String {
        get { storage.get() }
        set { storage.set(newValue) }
    }

    private static let storage = LockedString("org.openrtmp")

    #if canImport(os)
    @available(iOS 14.0, macOS 11.0, *)
    private static let logger = Logger(subsystem: subsystem, category: "host")
    #endif

    static func info(_ message: @autoclosure () -> String) { write(message(), error: false) }
    static func error(_ message: @autoclosure () -> String) { write(message(), error: true) }

    private static func write(_ message: String, error: Bool) {
        #if canImport(os)
        if #available(iOS 14.0, macOS 11.0, *) {
            if error {
                logger.error("\(message, privacy: .public)")
            } else {
                logger.info("\(message, privacy: .public)")
            }
            return
        }
        #endif
        FileHandle.standardError.write(Data("openrtmp-host: \(message)\n".utf8))
    }
}

/// A string behind a lock (a static var would be shared mutable state in Swift 6 mode).
private final class LockedString: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String

    init(_ value: String) { self.value = value }

    func get() -> String {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set(_ newValue: String) {
        lock.lock()
        value = newValue
        lock.unlock()
    }
}

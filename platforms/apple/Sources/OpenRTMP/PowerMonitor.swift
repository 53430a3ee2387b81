// Power conditions for the Rust core (OpenRtmpServer.setPower): Low Power Mode, thermal
// pressure and battery. While `lowPower` is set the core batches its wake-ups (about 10 per
// second per player instead of one per frame, at most 100 ms of extra latency).
//
// Mapping:
//   lowPower   = ProcessInfo.isLowPowerModeEnabled, or thermal state .serious/.critical
//                (the core has one power-saving mode; thermal pressure is a reason to use it)
//   onBattery  = iOS: UIDevice.batteryState == .unplugged; macOS: IOKit's providing power
//                source is the battery. (The core does nothing with it alone; it is reported.)
//   deviceIdle = false (an Android Doze notion; iOS suspends the app instead).

import Foundation
#if canImport(UIKit)
import UIKit
#endif
#if os(macOS) && canImport(IOKit)
import IOKit.ps
#endif

public extension FfiPowerState {
    /// The power state from its inputs (pure, for tests).
    static func from(lowPowerMode: Bool, thermalSerious: Bool, onBattery: Bool) -> FfiPowerState {
        FfiPowerState(onBattery: onBattery, lowPower: lowPowerMode || thermalSerious,
                      deviceIdle: false)
    }
}

/// Reports the power state now and on every change (Low Power Mode, thermal state, battery
/// state notifications). The sink is called on the main queue and must be cheap.
/// Sendable by hand: `last` is behind `lock`; observers are touched in start/stop only.
public final class PowerMonitor: @unchecked Sendable {
    public typealias Sink = (FfiPowerState) -> Void

    private let sink: Sink
    private var observers: [NSObjectProtocol] = []
    private var last: FfiPowerState?
    private let lock = NSLock()

    public init(sink: @escaping Sink) {
        self.sink = sink
    }

    public convenience init(server: OpenRtmpServer) {
        self.init { server.setPower(power: $0) }
    }

    /// The current power state of this device. Call on the main thread (UIDevice is
    /// main-actor isolated on iOS).
    public static func current() -> FfiPowerState {
        #if canImport(Darwin)
        let info = ProcessInfo.processInfo
        let thermal = info.thermalState == .serious || info.thermalState == .critical
        return .from(lowPowerMode: info.isLowPowerModeEnabled, thermalSerious: thermal,
                     onBattery: onBattery())
        #else
        return .from(lowPowerMode: false, thermalSerious: false, onBattery: false)
        #endif
    }

    public func start() {
        let center = NotificationCenter.default
        var names: [Notification.Name] = []
        #if canImport(Darwin)
        names.append(ProcessInfo.thermalStateDidChangeNotification)
        names.append(.NSProcessInfoPowerStateDidChange)
        #endif
        #if os(iOS)
        names.append(UIDevice.batteryStateDidChangeNotification)
        #endif
        observers = names.map {
            center.addObserver(forName: $0, object: nil, queue: .main) { [weak self] _ in
                self?.report()
            }
        }
        DispatchQueue.main.async { [weak self] in
            #if os(iOS)
            MainActor.assumeIsolated { UIDevice.current.isBatteryMonitoringEnabled = true }
            #endif
            self?.report()
        }
    }

    public func stop() {
        observers.forEach(NotificationCenter.default.removeObserver)
        observers = []
    }

    private func report() {
        let now = Self.current()
        lock.lock()
        let changed = now != last
        last = now
        lock.unlock()
        guard changed else { return }
        HostLog.info("power: lowPower=\(now.lowPower) onBattery=\(now.onBattery)")
        sink(now)
    }

    private static func onBattery() -> Bool {
        #if os(iOS)
        // Needs isBatteryMonitoringEnabled (set in start()); .unknown until then.
        return MainActor.assumeIsolated { UIDevice.current.batteryState == .unplugged }
        #elseif os(macOS) && canImport(IOKit)
        guard let blob = IOPSCopyPowerSourcesInfo()?.takeRetainedValue(),
              let type = IOPSGetProvidingPowerSourceType(blob)?.takeUnretainedValue()
        else { return false }
        return (type as String) == kIOPMBatteryPowerKey
        #else
        return false
        #endif
    }
}

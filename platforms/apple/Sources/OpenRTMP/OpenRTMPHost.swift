// The facade an app uses: one OpenRtmpServer (the Rust core) plus the host pieces around it
// (network monitor, power, local network permission, Bonjour, background lifecycle), and the
// server's events delivered on the main queue (closure, NotificationCenter, Combine).
//
//     let host = try OpenRTMPHost(config: OpenRTMPHost.defaultConfig())
//     host.onEvent = { event in ... }                       // main queue
//     DispatchQueue.global().async { let addrs = try? host.start() }   // blocks briefly
//     ...
//     host.stop()                                           // blocks up to the grace period
//
// Threading: start and stop block the calling thread (bind; wait for connections to close),
// so call them off the main thread. Events arrive from the core on its `openrtmp-events`
// thread; the host reacts there (Bonjour re-publish) and then hops to the main queue.

import Foundation
#if canImport(Combine)
import Combine
#endif

// An NSObject so that NotificationCenter's `object:` filter matches it on every platform
// (swift-corelibs-foundation boxes plain Swift objects, which then never compare identical).
// Sendable by hand: its mutable state is behind `lock`, except `onEvent`, which is read on
// the main queue and must be set there (or before start).
public final class OpenRTMPHost: NSObject, @unchecked Sendable {
    public struct Options {
        /// Rust log filter (`info`, `openrtmp_server=debug,info`); nil: don't install one.
        public var logLevel: String? = "info"
        /// os_log subsystem of the core (feature `oslog`) and of the glue; usually the app's
        /// bundle identifier.
        public var logSubsystem = "org.openrtmp"
        /// Push NWPathMonitor snapshots to the core. Default: on iOS (where the core cannot
        /// watch the network itself), off on macOS (the core's own watcher runs).
        public var monitorNetwork: Bool
        /// Report Low Power Mode / thermal state / battery.
        public var monitorPower = true
        /// Run the local network permission probe on start (iOS 14+, macOS 15+). Without it
        /// the prompt appears on the first Bonjour publish anyway.
        public var requestLocalNetwork = true
        /// Advertise `_rtmp._tcp` with Bonjour.
        public var bonjour = true
        /// Bonjour instance name (empty: the device name) and TXT entries.
        public var bonjourName = ""
        public var bonjourTXT: [String: String] = [:]
        /// Follow the app lifecycle (iOS): background task, suspension.
        public var manageLifecycle = true

        public init() {
            #if os(iOS) || os(visionOS)
            monitorNetwork = true
            #else
            monitorNetwork = false
            #endif
        }
    }

    /// Name of the NotificationCenter notification posted (main queue) for every event;
    /// `userInfo[OpenRTMPHost.eventKey]` is the FfiEvent, `object` the host.
    public static let eventNotification = Notification.Name("org.openrtmp.event")
    public static let eventKey = "event"

    /// The core. Its seam calls (setNetworkPolicy, energy, ...) may be used directly.
    public let server: OpenRtmpServer
    public let options: Options
    /// Called on the main queue for every event. Set it on the main queue or before start.
    public var onEvent: ((FfiEvent) -> Void)?

    #if canImport(Combine)
    private let subject = PassthroughSubject<FfiEvent, Never>()
    /// Every event, delivered on the main queue.
    public var events: AnyPublisher<FfiEvent, Never> { subject.eraseToAnyPublisher() }
    #endif

    private let lock = NSLock()
    private var policy: FfiNetworkPolicy
    private let bonjour: Bonjour
    private var power: PowerMonitor?
    #if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))
    private var network: AnyObject?      // NetworkMonitor (iOS 15 / macOS 12)
    private var permission: AnyObject?   // LocalNetworkPermission
    #endif
    #if os(iOS) && canImport(UIKit)
    private var lifecycle: AnyObject?    // BackgroundLifecycle (main actor)
    #endif

    /// The defaults for an app: `defaultConfig()`, with the network watched by the host on
    /// iOS (`watchNetwork` false there).
    public static func defaultConfig() -> FfiConfig {
        var config = OpenRTMP.defaultConfig()
        config.watchNetwork = !Options().monitorNetwork
        return config
    }

    /// A host for `config`. With `options.monitorNetwork`, `config.watchNetwork` is turned
    /// off (one source of network snapshots only).
    public convenience init(config: FfiConfig, options: Options = Options()) throws {
        var config = config
        if options.monitorNetwork { config.watchNetwork = false }
        Self.installLogging(options)
        try self.init(server: OpenRtmpServer(config: config), policy: config.networkPolicy,
                      options: options)
    }

    /// A host for an openrtmp.yaml document (set `platform.watch_network: false` in it when
    /// `options.monitorNetwork` is on).
    public convenience init(yaml: String, options: Options = Options()) throws {
        Self.installLogging(options)
        try self.init(server: OpenRtmpServer.fromYaml(yaml: yaml), policy: nil, options: options)
    }

    private init(server: OpenRtmpServer, policy: FfiNetworkPolicy?, options: Options) {
        self.server = server
        self.options = options
        self.policy = policy ?? .any
        bonjour = Bonjour(name: options.bonjourName, txt: options.bonjourTXT)
        super.init()
        server.setListener(listener: EventBridge(host: self))
        if let policy { server.setNetworkPolicy(policy: policy) }
    }

    deinit {
        server.clearListener()
    }

    private static func installLogging(_ options: Options) {
        HostLog.subsystem = options.logSubsystem
        guard let level = options.logLevel else { return }
        do {
            // Same subsystem for the core's os_log output (feature `oslog`) and the glue.
            try initLoggingWithSubsystem(level: level, subsystem: options.logSubsystem)
        } catch {
            HostLog.error("log level \(level): \(error)")
        }
    }

    // MARK: - Start and stop

    /// Starts the monitors, then the server; returns the bound addresses. Blocks briefly:
    /// call it off the main thread.
    @discardableResult
    public func start() throws -> [String] {
        try start(lifecycle: options.manageLifecycle)
    }

    func start(lifecycle manageLifecycle: Bool) throws -> [String] {
        startMonitors()
        let addrs: [String]
        do {
            addrs = try server.start()
        } catch {
            stopMonitors()
            throw error
        }
        HostLog.info("server started: \(addrs)")
        #if os(iOS) && canImport(UIKit)
        if manageLifecycle {
            let server = self.server
            DispatchQueue.main.async { [weak self] in
                MainActor.assumeIsolated {
                    let lifecycle = BackgroundLifecycle(server: server)
                    lifecycle.start()
                    self?.lock.lock()
                    self?.lifecycle = lifecycle
                    self?.lock.unlock()
                }
            }
        }
        #endif
        if options.bonjour && currentPolicy != .cellularOnly {
            bonjour.publish(addrs: addrs)
        }
        return addrs
    }

    /// Stops the server (graceful unless `force`) and the monitors. Blocks up to the grace
    /// period: call it off the main thread.
    public func stop(force: Bool = false) {
        bonjour.unpublish()
        server.stop(force: force)
        stopMonitors()
        HostLog.info("server stopped")
    }

    /// Which networks the server serves on (and whether Bonjour advertises).
    public var networkPolicy: FfiNetworkPolicy {
        get { currentPolicy }
        set {
            lock.lock()
            policy = newValue
            lock.unlock()
            server.setNetworkPolicy(policy: newValue)
            if newValue == .cellularOnly {
                bonjour.unpublish()
            } else if options.bonjour, server.isRunning() {
                bonjour.publish(addrs: server.localAddrs())
            }
        }
    }

    /// Shows the local network prompt now (for example from an onboarding screen) instead
    /// of on start.
    public func requestLocalNetworkPermission() {
        #if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))
        if #available(iOS 15.0, macOS 12.0, *) {
            lock.lock()
            defer { lock.unlock() }
            let probe = (permission as? LocalNetworkPermission) ?? LocalNetworkPermission(server: server)
            permission = probe
            probe.request()
        }
        #endif
    }

    private var currentPolicy: FfiNetworkPolicy {
        lock.lock()
        defer { lock.unlock() }
        return policy
    }

    private func startMonitors() {
        if options.monitorPower {
            let power = PowerMonitor(server: server)
            power.start()
            lock.lock()
            self.power = power
            lock.unlock()
        }
        #if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))
        if #available(iOS 15.0, macOS 12.0, *) {
            if options.monitorNetwork {
                let monitor = NetworkMonitor(server: server)
                monitor.start()
                lock.lock()
                network = monitor
                lock.unlock()
            }
            if options.requestLocalNetwork { requestLocalNetworkPermission() }
        }
        #endif
    }

    private func stopMonitors() {
        lock.lock()
        let power = self.power
        self.power = nil
        #if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))
        let network = self.network
        let permission = self.permission
        self.network = nil
        self.permission = nil
        #endif
        #if os(iOS) && canImport(UIKit)
        let lifecycle = self.lifecycle
        self.lifecycle = nil
        #endif
        lock.unlock()
        power?.stop()
        #if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))
        if #available(iOS 15.0, macOS 12.0, *) {
            (network as? NetworkMonitor)?.stop()
            (permission as? LocalNetworkPermission)?.cancel()
        }
        #endif
        #if os(iOS) && canImport(UIKit)
        if let lifecycle {
            DispatchQueue.main.async {
                MainActor.assumeIsolated { (lifecycle as? BackgroundLifecycle)?.stop() }
            }
        }
        #endif
    }

    // MARK: - Events

    /// On the core's event thread.
    fileprivate func handle(_ event: FfiEvent) {
        if case .rebound(let addrs) = event, options.bonjour, currentPolicy != .cellularOnly {
            bonjour.publish(addrs: addrs)
        }
        DispatchQueue.main.async { [weak self] in
            guard let self else { return }
            self.onEvent?(event)
            NotificationCenter.default.post(name: Self.eventNotification, object: self,
                                            userInfo: [Self.eventKey: event])
            #if canImport(Combine)
            self.subject.send(event)
            #endif
        }
    }
}

/// The core's EventListener; holds the host weakly (the server holds this bridge).
private final class EventBridge: EventListener, @unchecked Sendable {
    weak var host: OpenRTMPHost?

    init(host: OpenRTMPHost) {
        self.host = host
    }

    func onEvent(event: FfiEvent) {
        host?.handle(event)
    }
}

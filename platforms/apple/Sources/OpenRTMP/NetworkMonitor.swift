// Network state for the Rust core: NWPathMonitor (Apple) -> FfiNetworkSnapshot ->
// OpenRtmpServer.networkChanged. The core then marks connections on cellular, applies the
// network policy and re-binds listeners (FfiEvent.rebound) when the allowed addresses change.
//
// The address and snapshot helpers (getifaddrs, if_nametoindex) are plain POSIX and build on
// Linux too; only NetworkMonitor itself needs the Network framework.

import Foundation
#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif
#if canImport(Network)
import Network
#endif

// MARK: - Interfaces and addresses (POSIX)

/// The IP addresses of the machine's interfaces that are up, by interface name (`en0`,
/// `pdp_ip0`, `lo0`), as numeric strings. IPv6 link-local addresses keep their scope
/// (`fe80::1%en0`); the core drops it.
public enum InterfaceAddresses {
    public static func current() -> [String: [String]] {
        var result: [String: [String]] = [:]
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return result }
        defer { freeifaddrs(head) }
        var cursor = head
        while let ifa = cursor {
            cursor = ifa.pointee.ifa_next
            guard let sa = ifa.pointee.ifa_addr, ifa.pointee.ifa_flags & UInt32(IFF_UP) != 0 else {
                continue
            }
            let family = Int32(sa.pointee.sa_family)
            let length: Int
            switch family {
            case AF_INET: length = MemoryLayout<sockaddr_in>.size
            case AF_INET6: length = MemoryLayout<sockaddr_in6>.size
            default: continue
            }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let rc = getnameinfo(sa, socklen_t(length), &host, socklen_t(host.count), nil, 0,
                                 NI_NUMERICHOST)
            guard rc == 0 else { continue }
            let name = String(cString: ifa.pointee.ifa_name)
            let addr = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                              as: UTF8.self)
            if !result[name, default: []].contains(addr) {
                result[name, default: []].append(addr)
            }
        }
        return result
    }

    /// The kernel's index of interface `name` (0 if there is none). Stable while the
    /// interface exists, which is what FfiNetworkInfo.id asks for.
    public static func index(of name: String) -> UInt32 {
        if_nametoindex(name)
    }
}

/// One interface as the host sees it, before addresses are attached.
public struct InterfaceDescriptor: Equatable {
    public var name: String
    public var index: UInt32
    public var kind: FfiNetKind
    public var expensive: Bool

    public init(name: String, index: UInt32, kind: FfiNetKind, expensive: Bool) {
        self.name = name
        self.index = index
        self.kind = kind
        self.expensive = expensive
    }
}

public enum NetworkSnapshots {
    /// The snapshot for `interfaces` (ids are the interface indexes), with the addresses
    /// `addresses` lists for each name. Interfaces without an address are kept: the core
    /// then knows the network exists but offers nothing on it.
    public static func make(
        interfaces: [InterfaceDescriptor],
        defaultIndex: UInt32?,
        addresses: [String: [String]] = InterfaceAddresses.current()
    ) -> FfiNetworkSnapshot {
        var seen = Set<UInt32>()
        var networks: [FfiNetworkInfo] = []
        for iface in interfaces where seen.insert(iface.index).inserted {
            networks.append(FfiNetworkInfo(
                id: UInt64(iface.index),
                name: iface.name,
                kind: iface.kind,
                addrs: addresses[iface.name] ?? [],
                expensive: iface.expensive || iface.kind == .cellular
            ))
        }
        let defaultId = defaultIndex.flatMap { seen.contains($0) ? UInt64($0) : nil }
        return FfiNetworkSnapshot(networks: networks, defaultId: defaultId)
    }

    /// Every interface with an address, classified by name only (loopback, else `.other`).
    /// For hosts without NWPathMonitor (Linux tests, command-line tools); on Apple apps,
    /// NetworkMonitor knows the real kinds.
    public static func fromAllInterfaces() -> FfiNetworkSnapshot {
        let addresses = InterfaceAddresses.current()
        let interfaces = addresses.keys.sorted().map { name -> InterfaceDescriptor in
            let loopback = name == "lo" || name.hasPrefix("lo0")
            return InterfaceDescriptor(name: name, index: InterfaceAddresses.index(of: name),
                                       kind: loopback ? .loopback : .other, expensive: false)
        }
        return make(interfaces: interfaces, defaultIndex: nil, addresses: addresses)
    }
}

// MARK: - Policy helpers

public extension FfiNetworkPolicy {
    /// The policy for a `platform.network_policy` value of openrtmp.yaml (`any`, `wifi-only`,
    /// `cellular-only`), e.g. from the app's settings.
    init?(configValue: String) {
        switch configValue.lowercased() {
        case "any": self = .any
        case "wifi-only": self = .wifiOnly
        case "cellular-only": self = .cellularOnly
        default: return nil
        }
    }

    /// The openrtmp.yaml spelling.
    var configValue: String {
        switch self {
        case .any: return "any"
        case .wifiOnly: return "wifi-only"
        case .cellularOnly: return "cellular-only"
        }
    }

    /// Whether the server serves on a network of `kind` under this policy (the core's rule:
    /// Wi-Fi-only also allows wired and loopback; cellular-only allows loopback).
    func allows(_ kind: FfiNetKind) -> Bool {
        switch self {
        case .any: return true
        case .wifiOnly: return kind == .wifi || kind == .ethernet || kind == .loopback
        case .cellularOnly: return kind == .cellular || kind == .loopback
        }
    }
}

#if canImport(Network)

public extension FfiNetKind {
    /// The kind of an NWInterface.
    init(_ type: NWInterface.InterfaceType) {
        switch type {
        case .wifi: self = .wifi
        case .cellular: self = .cellular
        case .wiredEthernet: self = .ethernet
        case .loopback: self = .loopback
        case .other: self = .other
        @unknown default: self = .other
        }
    }
}

public extension FfiNetworkPolicy {
    /// Interface types to put in NWParameters.prohibitedInterfaceTypes so that Network
    /// framework objects the host creates (the Bonjour listener, probes) follow the policy.
    var prohibitedInterfaceTypes: [NWInterface.InterfaceType] {
        switch self {
        case .any: return []
        case .wifiOnly: return [.cellular]
        case .cellularOnly: return [.wifi, .wiredEthernet]
        }
    }
}

/// Watches the device's networks with NWPathMonitor and pushes a snapshot to the server on
/// every change (deduplicated). Start it before or after the server: the server remembers
/// the last snapshot and re-applies it on `start`.
///
/// Per interface: `id` is the interface index, `kind` its NWInterface type, `expensive` is
/// true for cellular, and for the path's preferred interface when the path is expensive
/// (personal hotspot) or constrained (Low Data Mode). Addresses come from getifaddrs.
/// Loopback (`lo0`) is added so the core always knows the loopback addresses.
///
/// NWPathMonitor reports interface changes; an address change on an interface that stays
/// (DHCP renewal with a new lease) may come without a path update. Call `refresh()` when the
/// app has another hint (for example when it returns to the foreground).
/// Sendable by hand: its state is only touched on `queue`.
@available(iOS 15.0, macOS 12.0, *)
public final class NetworkMonitor: @unchecked Sendable {
    public typealias Sink = (FfiNetworkSnapshot) -> Void

    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "org.openrtmp.network-monitor")
    private let sink: Sink
    private var lastPath: NWPath?
    private var lastSnapshot: FfiNetworkSnapshot?

    /// `sink` receives each new snapshot on the monitor's queue.
    public init(sink: @escaping Sink) {
        self.sink = sink
    }

    /// Pushes snapshots to `server.networkChanged` (errors are logged: they mean an address
    /// the core could not parse, which getifaddrs does not produce).
    public convenience init(server: OpenRtmpServer) {
        self.init { snapshot in
            do {
                try server.networkChanged(snapshot: snapshot)
            } catch {
                HostLog.error("network snapshot refused: \(error)")
            }
        }
    }

    public func start() {
        monitor.pathUpdateHandler = { [weak self] path in self?.handle(path) }
        monitor.start(queue: queue)
    }

    public func stop() {
        monitor.cancel()
    }

    /// Re-reads the addresses of the last path and pushes a snapshot if anything changed.
    public func refresh() {
        queue.async { [weak self] in
            guard let self, let path = self.lastPath else { return }
            self.handle(path)
        }
    }

    /// The snapshot for `path` (on any thread).
    public static func snapshot(for path: NWPath) -> FfiNetworkSnapshot {
        let preferred = path.status == .satisfied ? path.availableInterfaces.first : nil
        var interfaces = path.availableInterfaces.map { iface in
            InterfaceDescriptor(
                name: iface.name,
                index: UInt32(truncatingIfNeeded: iface.index),
                kind: FfiNetKind(iface.type),
                expensive: iface == preferred && (path.isExpensive || path.isConstrained)
            )
        }
        let addresses = InterfaceAddresses.current()
        if !interfaces.contains(where: { $0.kind == .loopback }),
           let lo = addresses.keys.first(where: { $0.hasPrefix("lo") }) {
            interfaces.append(InterfaceDescriptor(name: lo, index: InterfaceAddresses.index(of: lo),
                                                  kind: .loopback, expensive: false))
        }
        let defaultIndex = preferred.map { UInt32(truncatingIfNeeded: $0.index) }
        return NetworkSnapshots.make(interfaces: interfaces, defaultIndex: defaultIndex,
                                     addresses: addresses)
    }

    private func handle(_ path: NWPath) {
        lastPath = path
        let snapshot = Self.snapshot(for: path)
        guard snapshot != lastSnapshot else { return }
        lastSnapshot = snapshot
        HostLog.info("network: \(snapshot.networks.map { "\($0.name)(\($0.kind))" }.joined(separator: ", ")), default \(snapshot.defaultId.map(String.init) ?? "none")")
        sink(snapshot)
    }
}

#endif

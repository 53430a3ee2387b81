// Bonjour (DNS-SD over mDNS) advertisement of the RTMP server as `_rtmp._tcp`.
//
// Who advertises on Apple platforms: the HOST, with NetService, not the Rust core.
//   * iOS: mDNSResponder owns UDP 5353, and an app that sends or receives multicast itself
//     needs the restricted com.apple.developer.networking.multicast entitlement. Bonjour
//     through the system (NetService, NWListener, dns_sd) needs neither, only local network
//     permission and NSBonjourServices in Info.plist.
//   * macOS: mDNSResponder runs there too; publishing through it avoids a second responder
//     on 5353 and follows interface changes by itself.
// So an in-process mDNS responder in the core (mdns-sd) must stay off on Apple platforms.
//
// mDNSResponder re-announces the host's address records when interfaces change; the host
// re-publishes on FfiEvent.rebound anyway, because a re-bind can change the port.
// Cellular interfaces carry no multicast, so under the `cellular-only` policy nothing is
// published.
//
// NetService is soft-deprecated in recent SDKs (the Network framework replaces it) but still
// works. NWListener cannot be used: it advertises only its own socket, and the socket is the
// Rust core's.

import Foundation

/// Sendable by hand: the NetService is only touched on the main queue.
public final class Bonjour: NSObject, @unchecked Sendable {
    /// The service type (also in Info.plist NSBonjourServices).
    public static let serviceType = "_rtmp._tcp"

    #if canImport(Darwin)
    private var service: NetService?
    #endif
    private let name: String
    private let txt: [String: String]
    private(set) public var port: Int32?

    /// `name` empty: the system uses the device name. `txt`: TXT record entries (for example
    /// `["app": "live"]`); values must be short (255 bytes per entry).
    public init(name: String = "", txt: [String: String] = [:]) {
        self.name = name
        self.txt = txt
    }

    /// The port of the first listener in `addrs` (`0.0.0.0:1935`, `[::]:1935`).
    public static func port(from addrs: [String]) -> Int32? {
        for addr in addrs {
            if let colon = addr.lastIndex(of: ":"), let port = Int32(addr[addr.index(after: colon)...]),
               port > 0, port < 65536 {
                return port
            }
        }
        return nil
    }

    /// Publishes (or re-publishes) for the listeners `addrs`. Safe to call from any thread:
    /// NetService work happens on the main run loop.
    public func publish(addrs: [String]) {
        guard let port = Self.port(from: addrs) else {
            HostLog.error("bonjour: no port in \(addrs); not published")
            return unpublish()
        }
        self.port = port
        #if canImport(Darwin)
        DispatchQueue.main.async { [self] in
            service?.stop()
            let service = NetService(domain: "local.", type: Self.serviceType + ".", name: name,
                                     port: port)
            if !txt.isEmpty {
                service.setTXTRecord(NetService.data(fromTXTRecord: txt.mapValues { Data($0.utf8) }))
            }
            service.delegate = self
            service.publish()
            self.service = service
        }
        #else
        HostLog.info("bonjour: \(Self.serviceType) on port \(port) (no NetService on this platform)")
        #endif
    }

    public func unpublish() {
        port = nil
        #if canImport(Darwin)
        DispatchQueue.main.async { [self] in
            service?.stop()
            service = nil
        }
        #endif
    }
}

#if canImport(Darwin)
extension Bonjour: NetServiceDelegate {
    public func netServiceDidPublish(_ sender: NetService) {
        HostLog.info("bonjour: published \(sender.name).\(sender.type) port \(sender.port)")
    }

    public func netService(_ sender: NetService, didNotPublish errorDict: [String: NSNumber]) {
        // -72008 (NSNetServicesMissingRequiredConfigurationError): NSBonjourServices lacks
        // the type; a policy-denied error: local network access is denied.
        HostLog.error("bonjour: not published: \(errorDict)")
    }
}
#endif

// iOS local network privacy (iOS 14+, macOS 15+): triggers the system prompt and reports
// the answer to the core (OpenRtmpServer.setLocalNetworkAccess).
//
// What needs the permission (Apple TN3179 / the Local Network Privacy FAQ):
//   * listening for and accepting incoming TCP connections: NO. Publishers and players on the
//     LAN reach the RTMP port without it.
//   * Bonjour advertisement and browsing (Bonjour.swift), outgoing connections to LAN
//     addresses (relays, HTTP callbacks to a LAN host): YES.
// The core reports `Denied` in its readiness reasons; it does not stop serving.
//
// There is no API to read the permission. The probe (the technique TN3179 describes):
// advertise a throw-away Bonjour service with NWListener and browse for the same type with
// NWBrowser. Finding our own service means Granted; the browser waiting with
// kDNSServiceErr_PolicyDenied means Denied; neither yet means Pending (the prompt is up).
// The browser stays running after a denial, so a later change in Settings is seen while the
// probe lives.

import Foundation
#if canImport(Network)
import Network
#endif

#if canImport(Network) && (os(iOS) || os(macOS) || os(visionOS))

/// Sendable by hand: its state is only touched on `queue`.
@available(iOS 15.0, macOS 12.0, *)
public final class LocalNetworkPermission: @unchecked Sendable {
    public typealias Sink = (FfiLocalNetworkAccess) -> Void

    /// Whether this OS has local network privacy at all (iOS 14+, macOS 15+).
    public static var isEnforced: Bool {
        #if os(macOS)
        if #available(macOS 15.0, *) { return true }
        return false
        #else
        return true
        #endif
    }

    private let serviceType: String
    private let sink: Sink
    private let queue = DispatchQueue(label: "org.openrtmp.local-network-permission")
    private var listener: NWListener?
    private var browser: NWBrowser?
    private var probeName = ""
    private var state: FfiLocalNetworkAccess?

    /// `serviceType` must be listed in Info.plist NSBonjourServices (`_rtmp._tcp`). The sink
    /// is called on a private queue, once per change.
    public init(serviceType: String = Bonjour.serviceType, sink: @escaping Sink) {
        self.serviceType = serviceType
        self.sink = sink
    }

    public convenience init(server: OpenRtmpServer, serviceType: String = Bonjour.serviceType) {
        self.init(serviceType: serviceType) { server.setLocalNetworkAccess(access: $0) }
    }

    /// Starts the probe (shows the prompt the first time). Reports `.notRequired` at once on
    /// systems without local network privacy.
    public func request() {
        queue.async { self.startProbe() }
    }

    /// Stops probing (the last answer stays reported).
    public func cancel() {
        queue.async { self.stopProbe() }
    }

    private func startProbe() {
        guard Self.isEnforced else { return report(.notRequired) }
        guard browser == nil else { return }
        report(.pending)
        probeName = "openrtmp-probe-\(UUID().uuidString.prefix(8))"
        do {
            let listener = try NWListener(using: .tcp)
            listener.service = NWListener.Service(name: probeName, type: serviceType)
            // The probe accepts nothing.
            listener.newConnectionHandler = { $0.cancel() }
            listener.stateUpdateHandler = { [weak self] state in
                if case .failed(let error) = state { self?.failed(error) }
            }
            listener.start(queue: queue)
            self.listener = listener
        } catch {
            HostLog.error("local network probe: NWListener: \(error)")
        }
        let parameters = NWParameters()
        parameters.includePeerToPeer = false
        let browser = NWBrowser(for: .bonjour(type: serviceType, domain: nil), using: parameters)
        browser.stateUpdateHandler = { [weak self] state in
            switch state {
            case .waiting(let error), .failed(let error):
                self?.failed(error)
            default:
                break
            }
        }
        browser.browseResultsChangedHandler = { [weak self] results, _ in
            guard let self else { return }
            let found = results.contains { result in
                if case .service(let name, _, _, _) = result.endpoint { return name == self.probeName }
                return false
            }
            if found {
                self.report(.granted)
                self.stopProbe()
            }
        }
        browser.start(queue: queue)
        self.browser = browser
    }

    /// kDNSServiceErr_PolicyDenied (dns_sd.h): local network access is denied.
    private static let policyDenied: Int32 = -65570

    private func failed(_ error: NWError) {
        if case .dns(let code) = error, code == Self.policyDenied {
            report(.denied)
        } else {
            HostLog.error("local network probe: \(error)")
        }
    }

    private func stopProbe() {
        listener?.cancel()
        browser?.cancel()
        listener = nil
        browser = nil
    }

    private func report(_ access: FfiLocalNetworkAccess) {
        guard access != state else { return }
        state = access
        HostLog.info("local network access: \(access)")
        sink(access)
    }
}

#endif

// Smoke test of the OpenRTMP Swift package's platform-independent parts on Linux: the
// generated UniFFI bindings and the host glue (OpenRTMPHost, NetworkSnapshots, policy and
// power helpers, Bonjour port parsing) against libopenrtmp_ffi.so. Run by linux-swift-check.sh.
//
// Starts a host on 127.0.0.1 (port 0), pushes a getifaddrs snapshot, checks the events that
// reach the main queue (closure and NotificationCenter), opens a TCP connection and, when
// FFMPEG names an FFmpeg binary, publishes for 3 s and reads the stream back from streams().
// Exit 0: passed; 1: failed.

import Foundation
import OpenRTMP
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("FAIL: \(message)\n".utf8))
    exit(1)
}

func check(_ condition: Bool, _ message: String) {
    if !condition { fail(message) }
    print("ok: \(message)")
}

/// Runs the main run loop (so main-queue deliveries happen) until `done` or `timeout`.
func spin(timeout: TimeInterval, until done: () -> Bool) -> Bool {
    let end = Date(timeIntervalSinceNow: timeout)
    while !done() && Date() < end {
        _ = RunLoop.main.run(mode: .default, before: Date(timeIntervalSinceNow: 0.05))
    }
    return done()
}

// Pure helpers.
check(FfiNetworkPolicy(configValue: "wifi-only") == .wifiOnly, "policy from config value")
check(FfiNetworkPolicy.cellularOnly.configValue == "cellular-only", "policy config value")
check(FfiNetworkPolicy.wifiOnly.allows(.ethernet) && !FfiNetworkPolicy.wifiOnly.allows(.cellular),
      "wifi-only allows ethernet, not cellular")
check(Bonjour.port(from: ["[::]:1935", "0.0.0.0:1936"]) == 1935, "bonjour port from [::]:1935")
check(FfiPowerState.from(lowPowerMode: false, thermalSerious: true, onBattery: true).lowPower,
      "thermal pressure means low power")

var options = OpenRTMPHost.Options()
options.logLevel = ProcessInfo.processInfo.environment["SMOKE_LOG"] ?? "warn"
options.monitorNetwork = false

// An invalid configuration is a typed error listing every problem.
do {
    var bad = defaultConfig()
    bad.listen = ["nonsense"]
    bad.chunkSize = 1
    _ = try OpenRTMPHost(config: bad, options: options)
    fail("an invalid configuration was accepted")
} catch FfiError.InvalidConfig(let problems) {
    check(problems.count >= 2, "invalid config refused: \(problems)")
}

var config = OpenRTMPHost.defaultConfig()
config.listen = ["127.0.0.1:0"]
config.shutdownGraceMs = 1000
config.watchNetwork = false  // as on iOS: only the host pushes snapshots
let host = try OpenRTMPHost(config: config, options: options)

var events: [FfiEvent] = []
var notified = 0
host.onEvent = { events.append($0) }
let observer = NotificationCenter.default.addObserver(
    forName: OpenRTMPHost.eventNotification, object: host, queue: nil
) { note in
    if note.userInfo?[OpenRTMPHost.eventKey] is FfiEvent { notified += 1 }
}

// The seam, before start (remembered and replayed on start).
let snapshot = NetworkSnapshots.fromAllInterfaces()
check(snapshot.networks.contains { $0.kind == .loopback && $0.addrs.contains("127.0.0.1") },
      "getifaddrs snapshot has loopback 127.0.0.1: \(snapshot.networks.map { "\($0.name)#\($0.id)=\($0.addrs)" })")
try host.server.networkChanged(snapshot: snapshot)
host.server.setPower(power: PowerMonitor.current())
host.networkPolicy = .wifiOnly

let addrs = try host.start()
check(addrs.count == 1 && addrs[0].hasPrefix("127.0.0.1:"), "started on \(addrs)")
let port = Bonjour.port(from: addrs) ?? 0
check(host.server.isRunning() && host.server.stats().running, "running")

check(spin(timeout: 5) { events.contains { if case .statsChanged = $0 { return true }; return false } },
      "StatsChanged reached the main queue (closure)")
check(notified >= 1, "and NotificationCenter (\(notified) notifications)")
try host.server.networkChanged(snapshot: snapshot)
check(spin(timeout: 5) { events.contains(.networkChanged) }, "NetworkChanged after a pushed snapshot")

// A plain TCP connection counts as a connection.
let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var sin = sockaddr_in()
sin.sin_family = sa_family_t(AF_INET)
sin.sin_port = in_port_t(UInt16(port).bigEndian)
sin.sin_addr.s_addr = inet_addr("127.0.0.1")
let rc = withUnsafePointer(to: &sin) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
}
check(rc == 0, "TCP connect to port \(port)")
check(spin(timeout: 5) { host.server.stats().connections == 1 }, "stats().connections == 1")
close(fd)
check(spin(timeout: 5) { host.server.stats().connections == 0 }, "connection gone after close")

if let ffmpeg = ProcessInfo.processInfo.environment["FFMPEG"], !ffmpeg.isEmpty {
    let publisher = Process()
    publisher.executableURL = URL(fileURLWithPath: ffmpeg)
    publisher.arguments = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                           "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                           "-t", "3", "-c:v", "libx264", "-g", "25",
                           "-f", "flv", "rtmp://127.0.0.1:\(port)/live/swift"]
    try publisher.run()
    check(spin(timeout: 10) { host.server.streams().contains { $0.name == "swift" && $0.publishing } },
          "FFmpeg publishes live/swift")
    check(spin(timeout: 5) { host.server.streams().contains { $0.name == "swift" && $0.framesIn > 0 } },
          "frames arrive")
    let stream = host.server.streams().first { $0.name == "swift" }
    print("stream: \(String(describing: stream))")
    check(stream?.width == 320 && stream?.height == 240, "320x240 read from the stream")
    publisher.waitUntilExit()
    check(host.server.stats().bytesIn > 0, "bytesIn > 0 (\(host.server.stats().bytesIn))")
} else {
    print("SKIP: FFmpeg publish (set FFMPEG to an ffmpeg binary)")
}

host.server.setAppState(state: .background(remainingMs: nil))
host.server.setAppState(state: .foreground)
let energy = host.server.energy()
print("energy: cpu=\(energy.cpuTimeMs.map(String.init) ?? "n/a") ms in=\(energy.bytesIn) out=\(energy.bytesOut) wakeups=\(energy.wakeups.map(String.init) ?? "n/a")")
print("stats: \(host.server.stats())")

host.stop()
check(!host.server.isRunning() && !host.server.stats().running, "stopped")
NotificationCenter.default.removeObserver(observer)
print("PASS (\(events.count) events)")

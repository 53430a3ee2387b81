// iOS app lifecycle for the Rust core: background time, suspension, and a BGTaskScheduler
// app-refresh task.
//
// What iOS allows (be realistic): an app cannot run a server in the background. When the app
// leaves the foreground it gets a finite amount of extra time through
// UIApplication.beginBackgroundTask (typically about 30 s, never guaranteed), then it is
// suspended and every socket stops. No UIBackgroundModes value changes that for an RTMP
// server (`audio`, `voip`, `location` are for other purposes and App Review rejects misuse).
//
// What the background task buys: the streams in progress keep going for those seconds, the
// server stops accepting new connections (the core's Background state), and before the
// deadline every client is told (NetConnection.Connect.AppShutdown, and the Enhanced RTMP
// reconnect request) and closed cleanly, instead of seeing a dead TCP connection.
//
// Mapping to the core:
//   didEnterBackground  -> beginBackgroundTask; setAppState(.background(remainingMs:))
//                          (the core schedules the client notice background_notice_ms before
//                          the deadline)
//   expiration handler  -> backgroundTimeExpiringMs(backgroundTimeRemaining);
//                          setAppState(.suspended); endBackgroundTask
//   willEnterForeground -> endBackgroundTask; setAppState(.foreground)
// UIApplication's notifications are posted in scene-based apps too (when the last scene
// leaves or the first returns to the foreground), which is the app-wide state the core needs.

#if os(iOS) && canImport(UIKit)
import UIKit
#if canImport(BackgroundTasks)
import BackgroundTasks
#endif

@MainActor
public final class BackgroundLifecycle {
    private let server: OpenRtmpServer
    private var task: UIBackgroundTaskIdentifier = .invalid
    private var observers: [NSObjectProtocol] = []

    public init(server: OpenRtmpServer) {
        self.server = server
    }

    /// Observes the app's lifecycle and reports the current state.
    public func start() {
        let center = NotificationCenter.default
        let on = { (name: Notification.Name, action: @escaping @MainActor (BackgroundLifecycle) -> Void) in
            center.addObserver(forName: name, object: nil, queue: .main) { [weak self] _ in
                MainActor.assumeIsolated {
                    guard let self else { return }
                    action(self)
                }
            }
        }
        observers = [
            on(UIApplication.didEnterBackgroundNotification) { $0.enteredBackground() },
            on(UIApplication.willEnterForegroundNotification) { $0.enteringForeground() },
            on(UIApplication.willTerminateNotification) { $0.terminating() },
        ]
        if UIApplication.shared.applicationState == .background {
            enteredBackground()
        } else {
            server.setAppState(state: .foreground)
        }
    }

    public func stop() {
        observers.forEach(NotificationCenter.default.removeObserver)
        observers = []
        endTask()
    }

    private func enteredBackground() {
        if task == .invalid {
            task = UIApplication.shared.beginBackgroundTask(withName: "OpenRTMP server") {
                // Called on the main thread shortly before the deadline.
                MainActor.assumeIsolated { self.expiring() }
            }
        }
        server.setAppState(state: .background(remainingMs: remainingMs()))
        HostLog.info("background: \(remainingMs().map { "\($0) ms" } ?? "unknown time") left")
    }

    private func expiring() {
        let remaining = remainingMs() ?? 0
        HostLog.info("background: time expiring (\(remaining) ms)")
        server.backgroundTimeExpiringMs(remainingMs: remaining)
        server.setAppState(state: .suspended)
        endTask()
    }

    private func enteringForeground() {
        endTask()
        server.setAppState(state: .foreground)
    }

    private func terminating() {
        endTask()
        server.stop(force: true)
    }

    private func endTask() {
        guard task != .invalid else { return }
        UIApplication.shared.endBackgroundTask(task)
        task = .invalid
    }

    /// backgroundTimeRemaining in ms; nil while it is unbounded (in the foreground).
    private func remainingMs() -> UInt64? {
        let t = UIApplication.shared.backgroundTimeRemaining
        guard t.isFinite, t < 24 * 3600, t >= 0 else { return nil }
        return UInt64(t * 1000)
    }
}

#if canImport(BackgroundTasks)
/// A BGTaskScheduler app-refresh task that runs the server for a short window.
///
/// Identifier: `org.openrtmp.refresh` by default; it must be listed in Info.plist
/// BGTaskSchedulerPermittedIdentifiers, and UIBackgroundModes must contain `fetch`.
///
/// What it is worth: iOS launches app-refresh tasks when it chooses (based on how the app is
/// used; possibly hours apart, never after the user force-quits the app), for about 30 s.
/// During that window the server accepts and serves (the core is told `foreground`, since
/// in `background` it would accept nothing), clients are told before the window ends, and
/// the server stops. It does not make the server reachable on demand; treat it as a way to
/// let a client that polls for the server (for example a camera retrying to publish) deliver
/// something now and then.
@available(iOS 15.0, *)
public enum RefreshTask {
    public static let defaultIdentifier = "org.openrtmp.refresh"

    /// Registers the launch handler. Call before the app finishes launching (in
    /// application(_:didFinishLaunchingWithOptions:)). `host` returns the app's host (it may
    /// create one). `window`: how long the server runs, seconds.
    @discardableResult
    public static func register(
        identifier: String = defaultIdentifier,
        window: TimeInterval = 25,
        host: @escaping () -> OpenRTMPHost?
    ) -> Bool {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            run(task, identifier: identifier, window: window, host: host())
        }
    }

    /// Asks for the next run, no earlier than `earliest` seconds from now.
    public static func schedule(identifier: String = defaultIdentifier,
                                earliest: TimeInterval = 15 * 60) {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = Date(timeIntervalSinceNow: earliest)
        do {
            try BGTaskScheduler.shared.submit(request)
        } catch {
            HostLog.error("refresh task: not scheduled: \(error)")
        }
    }

    // Runs on a background queue (BGTaskScheduler's, `using: nil`).
    private static func run(_ task: BGTask, identifier: String, window: TimeInterval,
                            host: OpenRTMPHost?) {
        schedule(identifier: identifier)
        guard let host, !host.server.isRunning() else {
            // Nothing to do, or the app is running the server already.
            return task.setTaskCompleted(success: true)
        }
        let done = DispatchWorkItem {
            host.server.backgroundTimeExpiringMs(remainingMs: 1000)
            host.stop(force: false)
            task.setTaskCompleted(success: true)
        }
        task.expirationHandler = {
            done.cancel()
            host.server.backgroundTimeExpiringMs(remainingMs: 0)
            host.stop(force: true)
            task.setTaskCompleted(success: false)
        }
        do {
            host.server.setAppState(state: .foreground)
            let addrs = try host.start(lifecycle: false)
            HostLog.info("refresh task: serving on \(addrs) for \(Int(window)) s")
            DispatchQueue.global().asyncAfter(deadline: .now() + window, execute: done)
        } catch {
            HostLog.error("refresh task: start failed: \(error)")
            task.setTaskCompleted(success: false)
        }
    }
}
#endif

#endif

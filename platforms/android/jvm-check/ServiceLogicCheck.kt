// JVM check of ServiceLogic.kt (the Android embedding's pure logic) against the generated
// UniFFI bindings and the real libopenrtmp_ffi.so. Run by ../check-jvm.sh; no Android SDK
// needed. Exit 0 when every check passes, 1 otherwise.

import kotlin.system.exitProcess
import org.openrtmp.android.NetworkObservation
import org.openrtmp.android.ServiceLogic
import org.openrtmp.android.Throttle
import org.openrtmp.android.Transport
import org.openrtmp.ffi.FfiAppState
import org.openrtmp.ffi.FfiNetKind
import org.openrtmp.ffi.FfiNetworkInfo
import org.openrtmp.ffi.FfiNetworkSnapshot
import org.openrtmp.ffi.FfiPowerState
import org.openrtmp.ffi.FfiStats
import org.openrtmp.ffi.FfiStream
import org.openrtmp.ffi.OpenRtmpServer
import org.openrtmp.ffi.defaultConfig

var failures = 0
var checks = 0

fun <T> eq(what: String, actual: T, expected: T) {
    checks++
    if (actual != expected) {
        failures++
        System.err.println("FAIL $what:\n  expected: $expected\n  actual:   $actual")
    }
}

fun kinds() {
    val k = ServiceLogic::kindOf
    eq("wifi", k(setOf(Transport.WIFI)), FfiNetKind.WIFI)
    eq("wifi aware", k(setOf(Transport.WIFI_AWARE)), FfiNetKind.WIFI)
    eq("cellular", k(setOf(Transport.CELLULAR)), FfiNetKind.CELLULAR)
    eq("satellite is paid like cellular", k(setOf(Transport.SATELLITE)), FfiNetKind.CELLULAR)
    eq("ethernet", k(setOf(Transport.ETHERNET)), FfiNetKind.ETHERNET)
    eq("vpn over wifi", k(setOf(Transport.VPN, Transport.WIFI)), FfiNetKind.OTHER)
    eq("cellular wins over wifi", k(setOf(Transport.CELLULAR, Transport.WIFI)), FfiNetKind.CELLULAR)
    eq("usb tethering", k(setOf(Transport.USB)), FfiNetKind.OTHER)
    eq("bluetooth", k(setOf(Transport.BLUETOOTH)), FfiNetKind.OTHER)
    eq("nothing", k(emptySet()), FfiNetKind.OTHER)
}

fun snapshots() {
    eq("scope dropped", ServiceLogic.cleanAddress("fe80::1%wlan0"), "fe80::1")
    eq("InetAddress.toString", ServiceLogic.cleanAddress("/192.168.1.20"), "192.168.1.20")
    val wifi = NetworkObservation(
        handle = 433791696906L, interfaceName = "wlan0", transports = setOf(Transport.WIFI),
        notMetered = true, addresses = listOf("192.168.1.20", "fe80::1%wlan0", "192.168.1.20"),
    )
    val cell = NetworkObservation(
        handle = 300647710730L, interfaceName = "rmnet0", transports = setOf(Transport.CELLULAR),
        notMetered = false, addresses = listOf("10.0.0.7"),
    )
    val s = ServiceLogic.snapshot(listOf(wifi, cell), defaultHandle = wifi.handle)
    val lo = FfiNetworkInfo(0uL, "lo", FfiNetKind.LOOPBACK, listOf("127.0.0.1", "::1"), false)
    eq(
        "snapshot",
        s,
        FfiNetworkSnapshot(
            listOf(
                lo,
                FfiNetworkInfo(300647710730uL, "rmnet0", FfiNetKind.CELLULAR, listOf("10.0.0.7"), true),
                FfiNetworkInfo(433791696906uL, "wlan0", FfiNetKind.WIFI, listOf("192.168.1.20", "fe80::1"), false),
            ),
            433791696906uL,
        ),
    )
    eq("unknown default dropped", ServiceLogic.snapshot(listOf(cell), 42L).defaultId, null)
    eq("no networks: loopback only", ServiceLogic.snapshot(emptyList(), null), FfiNetworkSnapshot(listOf(lo), null))
    eq(
        "urls on the default network",
        ServiceLogic.publishUrls(listOf("0.0.0.0:1935", "[::]:1935", "127.0.0.1:1936"), s),
        listOf("rtmp://192.168.1.20:1935", "rtmp://127.0.0.1:1936"),
    )
    eq("urls without a snapshot", ServiceLogic.publishUrls(listOf("0.0.0.0:1935"), null), emptyList<String>())
}

fun states() {
    eq("power", ServiceLogic.power(deviceIdle = true, powerSave = false, pluggedIn = false), FfiPowerState(true, false, true))
    eq("fgs keeps foreground", ServiceLogic.appState(uiVisible = false, foregroundServiceActive = true), FfiAppState.Foreground)
    eq("ui alone", ServiceLogic.appState(uiVisible = true, foregroundServiceActive = false), FfiAppState.Foreground)
    eq("neither", ServiceLogic.appState(uiVisible = false, foregroundServiceActive = false), FfiAppState.Background(null))
    eq("wake lock idle", ServiceLogic.wantsWakeLock(0uL), false)
    eq("wake lock busy", ServiceLogic.wantsWakeLock(2uL), true)
}

fun stats(connections: ULong, publishers: ULong, players: ULong, streams: ULong) =
    FfiStats(true, connections, publishers, players, streams, 0uL, 0uL, 0uL, 0uL, listOf("0.0.0.0:1935"))

fun stream(name: String, publishing: Boolean, viewers: ULong) = FfiStream(
    "live", name, publishing, viewers,
    if (publishing) "H.264" else null, if (publishing) 1920u else null, if (publishing) 1080u else null,
    if (publishing) 29.97 else null, if (publishing) "AAC" else null, 0uL, 0uL, null,
)

fun texts() {
    val url = listOf("rtmp://192.168.1.20:1935")
    eq("title stopped", ServiceLogic.title(FfiStats(false, 0uL, 0uL, 0uL, 0uL, 0uL, 0uL, 0uL, 0uL, emptyList())), "OpenRTMP stopped")
    eq("title idle", ServiceLogic.title(stats(0uL, 0uL, 0uL, 0uL)), "OpenRTMP waiting for streams")
    eq("title one", ServiceLogic.title(stats(1uL, 1uL, 0uL, 1uL)), "OpenRTMP: 1 live stream")
    eq("title two", ServiceLogic.title(stats(5uL, 2uL, 3uL, 2uL)), "OpenRTMP: 2 live streams")
    eq("summary", ServiceLogic.summary(stats(5uL, 2uL, 3uL, 2uL), url), "2 streams · 5 connections · 3 viewers · rtmp://192.168.1.20:1935")
    eq("summary idle", ServiceLogic.summary(stats(0uL, 0uL, 0uL, 0uL), emptyList()), "0 streams · 0 connections")
    eq("stream line", ServiceLogic.streamLine(stream("cam1", true, 1uL)), "live/cam1: H.264 1920×1080 30 fps AAC, 1 viewer")
    eq("awaited stream", ServiceLogic.streamLine(stream("later", false, 2uL)), "live/later: waiting, 2 viewers")
    val many = (1..7).map { stream("s$it", it % 2 == 1, 0uL) }
    eq(
        "details: publishing first, capped",
        ServiceLogic.details(stats(7uL, 4uL, 0uL, 7uL), many, url),
        listOf(
            "7 streams · 7 connections · rtmp://192.168.1.20:1935",
            "live/s1: H.264 1920×1080 30 fps AAC, 0 viewers",
            "live/s3: H.264 1920×1080 30 fps AAC, 0 viewers",
            "live/s5: H.264 1920×1080 30 fps AAC, 0 viewers",
            "live/s7: H.264 1920×1080 30 fps AAC, 0 viewers",
            "live/s2: waiting, 0 viewers",
            "+2 more",
        ).joinToString("\n"),
    )
}

fun throttle() {
    val t = Throttle(1_000)
    eq("first runs now", t.request(10_000), 0L)
    eq("absorbed while scheduled", t.request(10_001), null)
    t.ran(10_002)
    eq("soon after: delayed", t.request(10_300), 702L)
    eq("absorbed", t.request(10_900), null)
    t.ran(11_002)
    eq("later: now", t.request(13_000), 0L)
    t.cancel()
    eq("after cancel: schedules again", t.request(13_001), 0L)
}

/** The snapshot and states the service pushes, against the real server (JNA + .so). */
fun againstTheServer() {
    val server = OpenRtmpServer(defaultConfig().copy(listen = listOf("127.0.0.1:0"), watchNetwork = false))
    val wifi = NetworkObservation(7L shl 32 or 0xfacade, "wlan0", setOf(Transport.WIFI), true, listOf("/192.168.1.20", "fe80::1%wlan0"))
    val snapshot = ServiceLogic.snapshot(listOf(wifi), wifi.handle)
    server.networkChanged(snapshot) // throws if an address does not parse
    server.setPower(ServiceLogic.power(deviceIdle = false, powerSave = true, pluggedIn = false))
    server.setAppState(ServiceLogic.appState(uiVisible = false, foregroundServiceActive = true))
    val addrs = server.start()
    checks++
    println("server listening on $addrs")
    val st = server.stats()
    eq("running", st.running, true)
    // Loopback is in the snapshot, so the 127.0.0.1 listener survives the network policy.
    eq("listener kept", server.localAddrs().size, 1)
    println("notification: ${ServiceLogic.title(st)} | ${ServiceLogic.details(st, server.streams(), ServiceLogic.publishUrls(addrs, snapshot))}")
    server.backgroundTimeExpiringMs(ServiceLogic.TIMEOUT_NOTICE_MS.toULong())
    server.stop(true)
    eq("stopped", server.isRunning(), false)
    server.destroy()
}

fun main() {
    kinds()
    snapshots()
    states()
    texts()
    throttle()
    againstTheServer()
    if (failures > 0) {
        System.err.println("$failures of $checks checks failed")
        exitProcess(1)
    }
    println("ok: $checks checks passed")
}

// The decisions of the Android embedding that need no Android API: network kind from
// transports, the network snapshot, power and app state, notification text, and the throttle
// for notification updates. No android.* import here, so this file compiles and is tested on
// the desktop JVM together with the generated bindings (../../../../../../check-jvm.sh).

package org.openrtmp.android

import org.openrtmp.ffi.FfiAppState
import org.openrtmp.ffi.FfiNetKind
import org.openrtmp.ffi.FfiNetworkInfo
import org.openrtmp.ffi.FfiNetworkSnapshot
import org.openrtmp.ffi.FfiPowerState
import org.openrtmp.ffi.FfiStats
import org.openrtmp.ffi.FfiStream

/**
 * The transports of a network: `NetworkCapabilities.TRANSPORT_*`, named here so that this
 * file needs no Android import. [NetworkMonitor] fills it with `hasTransport`.
 */
enum class Transport { CELLULAR, WIFI, BLUETOOTH, ETHERNET, VPN, WIFI_AWARE, LOWPAN, USB, THREAD, SATELLITE }

/** One network as [NetworkMonitor] sees it (ConnectivityManager callbacks). */
data class NetworkObservation(
    /** `Network.getNetworkHandle()`: stable while the network exists, never 0 for a real network. */
    val handle: Long,
    /** `LinkProperties.getInterfaceName()`, if known. */
    val interfaceName: String?,
    val transports: Set<Transport>,
    /** `NET_CAPABILITY_NOT_METERED`. */
    val notMetered: Boolean,
    /** `LinkProperties.getLinkAddresses()[i].address.hostAddress` (may carry a `%scope`). */
    val addresses: List<String>,
)

object ServiceLogic {
    /**
     * Id of the loopback pseudo-network added to every snapshot. Android's network handles
     * are `netId << 32 | 0xfacade` (0 only for "no network"), so 0 never names a real one.
     */
    const val LOOPBACK_ID: Long = 0

    /** Time we tell clients after `Service.onTimeout` before `stopSelf` (Android allows "a few seconds"). */
    const val TIMEOUT_NOTICE_MS: Long = 2_000

    /** Least time between two notification updates. */
    const val NOTIFICATION_INTERVAL_MS: Long = 1_000

    /** Streams listed in the expanded notification. */
    const val MAX_LISTED_STREAMS = 5

    /**
     * The kind the server's network policy sees. Ordered so that doubt never ends on the
     * permissive side: a VPN is `OTHER` whatever it runs over (its addresses are not on the
     * local network), cellular and satellite (paid per byte) are `CELLULAR`, so that
     * `WIFI_ONLY` never serves on them, before Wi-Fi and Ethernet. USB and Bluetooth
     * tethering, Thread and LoWPAN are `OTHER`.
     */
    fun kindOf(transports: Set<Transport>): FfiNetKind = when {
        Transport.VPN in transports -> FfiNetKind.OTHER
        Transport.CELLULAR in transports || Transport.SATELLITE in transports -> FfiNetKind.CELLULAR
        Transport.WIFI in transports || Transport.WIFI_AWARE in transports -> FfiNetKind.WIFI
        Transport.ETHERNET in transports -> FfiNetKind.ETHERNET
        else -> FfiNetKind.OTHER
    }

    /** `1.2.3.4`, `fe80::1%wlan0` → `fe80::1`, `/1.2.3.4` (InetAddress.toString) → `1.2.3.4`. */
    fun cleanAddress(address: String): String =
        address.substringAfterLast('/').substringBefore('%')

    /**
     * The snapshot pushed to `OpenRtmpServer.networkChanged`: every network, plus loopback
     * (Android reports no loopback network, and without it the network policy would drop
     * 127.0.0.1, which apps on the same device publish to). Networks are sorted by handle so
     * that equal states give equal snapshots.
     */
    fun snapshot(networks: Collection<NetworkObservation>, defaultHandle: Long?): FfiNetworkSnapshot {
        val infos = networks.sortedBy { it.handle }.map { n ->
            FfiNetworkInfo(
                id = n.handle.toULong(),
                name = n.interfaceName ?: "",
                kind = kindOf(n.transports),
                addrs = n.addresses.map(::cleanAddress).filter { it.isNotEmpty() }.distinct(),
                expensive = !n.notMetered,
            )
        }
        val loopback = FfiNetworkInfo(LOOPBACK_ID.toULong(), "lo", FfiNetKind.LOOPBACK, listOf("127.0.0.1", "::1"), false)
        val default = defaultHandle?.takeIf { h -> networks.any { it.handle == h } }
        return FfiNetworkSnapshot(networks = listOf(loopback) + infos, defaultId = default?.toULong())
    }

    /** Power conditions from `PowerManager` and the charger state. */
    fun power(deviceIdle: Boolean, powerSave: Boolean, pluggedIn: Boolean): FfiPowerState =
        FfiPowerState(onBattery = !pluggedIn, lowPower = powerSave, deviceIdle = deviceIdle)

    /**
     * The app state the server sees. While the foreground service runs the process keeps
     * its foreground priority (network access in Doze, no freezing), so the server keeps
     * accepting with the UI hidden: that is what the service is for. Without it, a hidden UI
     * means the process may be frozen or killed at any time: `Background`, no known deadline.
     */
    fun appState(uiVisible: Boolean, foregroundServiceActive: Boolean): FfiAppState =
        if (uiVisible || foregroundServiceActive) FfiAppState.Foreground else FfiAppState.Background(null)

    /** Whether to hold the partial wake lock: only while a client is connected. */
    fun wantsWakeLock(connections: ULong): Boolean = connections > 0uL

    /** Notification title. */
    fun title(stats: FfiStats): String = when {
        !stats.running -> "OpenRTMP stopped"
        stats.publishers == 0uL -> "OpenRTMP waiting for streams"
        else -> "OpenRTMP: ${plural(stats.publishers, "live stream")}"
    }

    /** One line: counts and where to publish. */
    fun summary(stats: FfiStats, urls: List<String>): String {
        if (!stats.running) return "Server stopped"
        val parts = mutableListOf(
            plural(stats.streams, "stream"),
            plural(stats.connections, "connection"),
        )
        if (stats.players > 0uL) parts += plural(stats.players, "viewer")
        urls.firstOrNull()?.let { parts += it }
        return parts.joinToString(" · ")
    }

    /** Expanded text: the summary, then up to [MAX_LISTED_STREAMS] streams. */
    fun details(stats: FfiStats, streams: List<FfiStream>, urls: List<String>): String {
        val lines = mutableListOf(summary(stats, urls))
        val sorted = streams.sortedWith(compareByDescending<FfiStream> { it.publishing }.thenBy { "${it.app}/${it.name}" })
        sorted.take(MAX_LISTED_STREAMS).forEach { lines += streamLine(it) }
        if (sorted.size > MAX_LISTED_STREAMS) lines += "+${sorted.size - MAX_LISTED_STREAMS} more"
        return lines.joinToString("\n")
    }

    /** `live/cam1: H.264 1920×1080 30 fps, 2 viewers` (or `waiting` without a publisher). */
    fun streamLine(s: FfiStream): String {
        val what = if (!s.publishing) {
            "waiting"
        } else {
            listOfNotNull(
                s.videoCodec,
                if (s.width != null && s.height != null) "${s.width}×${s.height}" else null,
                s.fps?.let { "${Math.round(it)} fps" },
                s.audioCodec,
            ).joinToString(" ").ifEmpty { "live" }
        }
        return "${s.app}/${s.name}: $what, ${plural(s.viewers, "viewer")}"
    }

    /**
     * `rtmp://` URLs to show: one per bound address, with the wildcard replaced by each
     * non-loopback address of the snapshot's default network (what another device would
     * type), IPv4 first.
     */
    fun publishUrls(bound: List<String>, snapshot: FfiNetworkSnapshot?): List<String> {
        val defaultAddrs = snapshot?.networks
            ?.firstOrNull { it.id == snapshot.defaultId }?.addrs
            ?.filterNot { it.startsWith("fe80:", ignoreCase = true) }
            ?.sortedBy { it.contains(':') }
            .orEmpty()
        return bound.flatMap { b ->
            val port = b.substringAfterLast(':')
            val host = b.substringBeforeLast(':').removePrefix("[").removeSuffix("]")
            val hosts = if (host == "0.0.0.0" || host == "::") {
                defaultAddrs.filter { it.contains(':') == (host == "::") }
            } else {
                listOf(host)
            }
            hosts.map { h -> if (h.contains(':')) "rtmp://[$h]:$port" else "rtmp://$h:$port" }
        }.distinct()
    }

    private fun plural(n: ULong, word: String) = if (n == 1uL) "1 $word" else "$n ${word}s"
}

/**
 * At most one run per [intervalMs], never dropping the last request: a request while a
 * run is scheduled is absorbed by it; a request soon after a run is delayed until the
 * interval has passed. Time is passed in (ms), so tests need no clock.
 */
class Throttle(private val intervalMs: Long) {
    private var lastRunAt: Long? = null
    private var scheduled = false

    /** A change happened at [nowMs]: the delay (ms, 0 = now) after which to run, or null if a run is already scheduled. */
    fun request(nowMs: Long): Long? {
        if (scheduled) return null
        scheduled = true
        val last = lastRunAt ?: return 0
        return (intervalMs - (nowMs - last)).coerceAtLeast(0)
    }

    /** The scheduled run happened at [nowMs]. */
    fun ran(nowMs: Long) {
        lastRunAt = nowMs
        scheduled = false
    }

    /** Forget a scheduled run (the service stops). */
    fun cancel() {
        scheduled = false
    }
}

package org.openrtmp.android

import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.os.Handler
import android.util.Log
import org.openrtmp.ffi.FfiNetworkSnapshot

/**
 * Follows the device's networks with ConnectivityManager callbacks and hands a complete
 * [FfiNetworkSnapshot] to [onSnapshot] whenever it changes (on [handler]'s thread).
 *
 * Two callbacks: `registerNetworkCallback` for every network with internet or local
 * connectivity (Wi-Fi without internet still serves a LAN), `registerDefaultNetworkCallback`
 * for which one is the default. Capabilities and link properties arrive separately; each
 * network is kept as a [NetworkObservation] and the snapshot is rebuilt from all of them,
 * so a lost callback can never leave a half-updated state. Identical snapshots are not
 * sent twice.
 */
class NetworkMonitor(
    private val connectivity: ConnectivityManager,
    private val handler: Handler,
    private val onSnapshot: (FfiNetworkSnapshot) -> Unit,
) {
    private val networks = HashMap<Long, NetworkObservation>()
    private var defaultHandle: Long? = null
    private var last: FfiNetworkSnapshot? = null
    private var registered = false

    /** The last snapshot sent, if any. */
    val current: FfiNetworkSnapshot? get() = last

    private val all = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
            update(network, caps = caps)
        }

        override fun onLinkPropertiesChanged(network: Network, link: LinkProperties) {
            update(network, link = link)
        }

        override fun onLost(network: Network) {
            networks.remove(network.networkHandle)
            publish()
        }
    }

    private val default = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) {
            defaultHandle = network.networkHandle
            publish()
        }

        override fun onLost(network: Network) {
            if (defaultHandle == network.networkHandle) defaultHandle = null
            publish()
        }
    }

    /** Starts the callbacks; the first snapshot follows as soon as Android reports the networks. */
    fun start() {
        if (registered) return
        // No NET_CAPABILITY_INTERNET: a Wi-Fi network without internet (camera hotspot, LAN)
        // is exactly where an RTMP server is useful. The builder's default NOT_VPN stays: a
        // VPN's addresses are not on any local network (ServiceLogic.kindOf would call it OTHER).
        val request = NetworkRequest.Builder()
            .removeCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .build()
        connectivity.registerNetworkCallback(request, all, handler)
        connectivity.registerDefaultNetworkCallback(default, handler)
        registered = true
    }

    /** Stops the callbacks (safe to call twice). */
    fun stop() {
        if (!registered) return
        runCatching { connectivity.unregisterNetworkCallback(all) }
        runCatching { connectivity.unregisterNetworkCallback(default) }
        registered = false
        networks.clear()
        defaultHandle = null
        last = null
    }

    private fun update(network: Network, caps: NetworkCapabilities? = null, link: LinkProperties? = null) {
        val handle = network.networkHandle
        val old = networks[handle]
        // Since API 26 both callbacks follow onAvailable at once; no synchronous
        // ConnectivityManager getters here (they race with the callbacks).
        val c = caps
        val l = link
        networks[handle] = NetworkObservation(
            handle = handle,
            interfaceName = l?.interfaceName ?: old?.interfaceName,
            transports = c?.let(::transportsOf) ?: old?.transports.orEmpty(),
            notMetered = c?.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) ?: old?.notMetered ?: false,
            addresses = l?.linkAddresses?.mapNotNull { it.address?.hostAddress } ?: old?.addresses.orEmpty(),
        )
        publish()
    }

    private fun publish() {
        val snapshot = ServiceLogic.snapshot(networks.values, defaultHandle)
        if (snapshot == last) return
        last = snapshot
        Log.d(TAG, "networks: $snapshot")
        onSnapshot(snapshot)
    }

    private companion object {
        const val TAG = "OpenRTMP"

        /** NetworkCapabilities.TRANSPORT_* → [Transport]; the constants added after API 26 by value. */
        val TRANSPORTS: List<Pair<Int, Transport>> = listOf(
            NetworkCapabilities.TRANSPORT_CELLULAR to Transport.CELLULAR,
            NetworkCapabilities.TRANSPORT_WIFI to Transport.WIFI,
            NetworkCapabilities.TRANSPORT_BLUETOOTH to Transport.BLUETOOTH,
            NetworkCapabilities.TRANSPORT_ETHERNET to Transport.ETHERNET,
            NetworkCapabilities.TRANSPORT_VPN to Transport.VPN,
            NetworkCapabilities.TRANSPORT_WIFI_AWARE to Transport.WIFI_AWARE,
            6 to Transport.LOWPAN, // TRANSPORT_LOWPAN, API 27
            8 to Transport.USB, // TRANSPORT_USB, API 31
            9 to Transport.THREAD, // TRANSPORT_THREAD, API 35
            10 to Transport.SATELLITE, // TRANSPORT_SATELLITE, API 35
        )

        fun transportsOf(caps: NetworkCapabilities): Set<Transport> =
            TRANSPORTS.filter { (t, _) -> caps.hasTransport(t) }.mapTo(HashSet()) { it.second }
    }
}

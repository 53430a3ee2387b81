package org.openrtmp.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Handler
import android.os.PowerManager
import androidx.core.content.ContextCompat
import org.openrtmp.ffi.FfiPowerState

/**
 * Doze, battery saver and the charger, as [FfiPowerState] for `OpenRtmpServer.setPower`
 * (called on [handler]'s thread, only on change).
 *
 * Broadcasts: `ACTION_DEVICE_IDLE_MODE_CHANGED` (Doze), `ACTION_POWER_SAVE_MODE_CHANGED`
 * (battery saver), `ACTION_POWER_CONNECTED` / `ACTION_POWER_DISCONNECTED` (charger). The
 * charger is not followed through `ACTION_BATTERY_CHANGED`, which fires on every percent and
 * would wake the process for nothing; its sticky value is read once at start.
 */
class PowerMonitor(
    private val context: Context,
    private val handler: Handler,
    private val onPower: (FfiPowerState) -> Unit,
) {
    private val power = context.getSystemService(PowerManager::class.java)
    private var pluggedIn = false
    private var last: FfiPowerState? = null
    private var registered = false

    private val receiver = object : BroadcastReceiver() {
        override fun onReceive(context: Context, intent: Intent) {
            when (intent.action) {
                Intent.ACTION_POWER_CONNECTED -> pluggedIn = true
                Intent.ACTION_POWER_DISCONNECTED -> pluggedIn = false
            }
            publish()
        }
    }

    fun start() {
        if (registered) return
        val sticky = context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        pluggedIn = (sticky?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0) != 0
        val filter = IntentFilter().apply {
            addAction(PowerManager.ACTION_DEVICE_IDLE_MODE_CHANGED)
            addAction(PowerManager.ACTION_POWER_SAVE_MODE_CHANGED)
            addAction(Intent.ACTION_POWER_CONNECTED)
            addAction(Intent.ACTION_POWER_DISCONNECTED)
        }
        // System broadcasts only: not exported (Android 14 wants the flag stated).
        ContextCompat.registerReceiver(context, receiver, filter, null, handler, ContextCompat.RECEIVER_NOT_EXPORTED)
        registered = true
        publish()
    }

    fun stop() {
        if (!registered) return
        runCatching { context.unregisterReceiver(receiver) }
        registered = false
        last = null
    }

    private fun publish() {
        val state = ServiceLogic.power(
            deviceIdle = power?.isDeviceIdleMode ?: false,
            powerSave = power?.isPowerSaveMode ?: false,
            pluggedIn = pluggedIn,
        )
        if (state == last) return
        last = state
        onPower(state)
    }
}

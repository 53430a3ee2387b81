package org.openrtmp.android

import android.annotation.SuppressLint
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.Service
import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.net.ConnectivityManager
import android.net.wifi.WifiManager
import android.os.Binder
import android.os.Handler
import android.os.HandlerThread
import android.os.IBinder
import android.os.Looper
import android.os.PowerManager
import android.os.SystemClock
import android.util.Log
import androidx.core.app.NotificationCompat
import androidx.core.app.ServiceCompat
import androidx.core.content.ContextCompat
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import org.openrtmp.ffi.EventListener
import org.openrtmp.ffi.FfiEvent
import org.openrtmp.ffi.OpenRtmpServer
import org.openrtmp.ffi.defaultConfig
import org.openrtmp.ffi.initLogging

/**
 * Runs an OpenRTMP server in a foreground service (type `connectedDevice`, see the
 * manifest and README) with a persistent notification showing streams, connections and
 * the address to publish to.
 *
 * Threads: every server call (they block briefly; `stop` up to the grace period) and every
 * monitor callback run on one worker thread (`openrtmp-service`), in order. Server events
 * arrive on the Rust event thread and are posted to it. The main thread only handles the
 * Service callbacks and the process lifecycle.
 *
 * Start with [start], stop with [stop] or the notification's Stop action; bind (the binder is
 * a [LocalBinder]) to reach the server and its events from the app.
 */
class OpenRtmpService : Service() {
    companion object {
        const val ACTION_START = "org.openrtmp.android.action.START"
        const val ACTION_STOP = "org.openrtmp.android.action.STOP"

        /** Server configuration, an `openrtmp.yaml` document (default: listen on 0.0.0.0:1935). */
        const val EXTRA_CONFIG_YAML = "org.openrtmp.android.extra.CONFIG_YAML"

        /** Hold a Wi-Fi multicast lock while running: set when the configuration turns on the mDNS announcement. */
        const val EXTRA_ANNOUNCE_MDNS = "org.openrtmp.android.extra.ANNOUNCE_MDNS"

        /** `tracing` filter for logcat (default `info`). */
        const val EXTRA_LOG_LEVEL = "org.openrtmp.android.extra.LOG_LEVEL"

        private const val TAG = "OpenRTMP"
        private const val CHANNEL_ID = "openrtmp.server"
        private const val NOTIFICATION_ID = 0x0e7a
        private const val WARNING_NOTIFICATION_ID = 0x0e7b

        /** Starts (or keeps) the server. Call from a visible activity: Android 12+ refuses background FGS starts. */
        fun start(context: Context, configYaml: String? = null, announceMdns: Boolean = false, logLevel: String = "info") {
            val intent = Intent(context, OpenRtmpService::class.java).setAction(ACTION_START)
                .putExtra(EXTRA_CONFIG_YAML, configYaml)
                .putExtra(EXTRA_ANNOUNCE_MDNS, announceMdns)
                .putExtra(EXTRA_LOG_LEVEL, logLevel)
            ContextCompat.startForegroundService(context, intent)
        }

        /** Stops the server gracefully, then the service. */
        fun stop(context: Context) {
            context.startService(Intent(context, OpenRtmpService::class.java).setAction(ACTION_STOP))
        }
    }

    /** What a bound app gets: the server (null when not running) and its events (on the worker thread). */
    inner class LocalBinder : Binder() {
        fun server(): OpenRtmpServer? = server
        var onEvent: ((FfiEvent) -> Unit)?
            get() = appListener
            set(value) { appListener = value }
    }

    private val main = Handler(Looper.getMainLooper())
    private lateinit var workerThread: HandlerThread
    private lateinit var worker: Handler
    private lateinit var notifications: NotificationManager
    private lateinit var network: NetworkMonitor
    private lateinit var powerMonitor: PowerMonitor
    private lateinit var wakeLock: PowerManager.WakeLock
    private lateinit var multicastLock: WifiManager.MulticastLock

    // Worker-thread state (`server` is also read by a bound app).
    @Volatile private var server: OpenRtmpServer? = null
    private val throttle = Throttle(ServiceLogic.NOTIFICATION_INTERVAL_MS)
    private var loggingReady = false

    // Main-thread state, also read on the worker.
    @Volatile private var uiVisible = false
    @Volatile private var foregroundActive = false
    @Volatile private var appListener: ((FfiEvent) -> Unit)? = null

    private val lifecycle = object : DefaultLifecycleObserver {
        override fun onStart(owner: LifecycleOwner) { uiVisible = true; pushAppState() }
        override fun onStop(owner: LifecycleOwner) { uiVisible = false; pushAppState() }
    }

    private val events = object : EventListener {
        override fun onEvent(event: FfiEvent) {
            worker.post { handle(event) }
        }
    }

    override fun onCreate() {
        super.onCreate()
        workerThread = HandlerThread("openrtmp-service").also { it.start() }
        worker = Handler(workerThread.looper)
        notifications = getSystemService(NotificationManager::class.java)
        notifications.createNotificationChannel(
            NotificationChannel(CHANNEL_ID, "RTMP server", NotificationManager.IMPORTANCE_LOW).apply {
                description = "Shows while the RTMP server runs: streams, connections, address"
                setShowBadge(false)
            },
        )
        val connectivity = getSystemService(ConnectivityManager::class.java)
        network = NetworkMonitor(connectivity, worker) { snapshot ->
            server?.let { s -> runCatching { s.networkChanged(snapshot) }.onFailure { Log.w(TAG, "networkChanged", it) } }
            requestNotificationUpdate()
        }
        powerMonitor = PowerMonitor(this, worker) { power -> server?.setPower(power) }
        wakeLock = getSystemService(PowerManager::class.java)
            .newWakeLock(PowerManager.PARTIAL_WAKE_LOCK, "OpenRTMP:clients")
            .apply { setReferenceCounted(false) }
        multicastLock = applicationContext.getSystemService(WifiManager::class.java)
            .createMulticastLock("OpenRTMP:mdns")
            .apply { setReferenceCounted(false) }
        ProcessLifecycleOwner.get().lifecycle.addObserver(lifecycle)
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        when (intent?.action) {
            ACTION_STOP -> stopGracefully()
            else -> {
                // Within 5 s of startForegroundService, before any slow work.
                goForeground()
                // A restart by the system (null intent) uses the defaults.
                val yaml = intent?.getStringExtra(EXTRA_CONFIG_YAML)
                val mdns = intent?.getBooleanExtra(EXTRA_ANNOUNCE_MDNS, false) ?: false
                val level = intent?.getStringExtra(EXTRA_LOG_LEVEL) ?: "info"
                worker.post { startServer(yaml, mdns, level) }
            }
        }
        return START_NOT_STICKY
    }

    override fun onBind(intent: Intent?): IBinder = LocalBinder()

    /**
     * Android 15: a `dataSync`/`mediaProcessing` service used up its 6 h per 24 h and has a few
     * seconds to stop. Not called for `connectedDevice` (no time limit); kept so that a host
     * that changes the type stays correct. Clients are told and closed, then the service stops.
     */
    override fun onTimeout(startId: Int, fgsType: Int) {
        Log.w(TAG, "foreground service timeout (type $fgsType); stopping")
        foregroundActive = false
        pushAppState()
        worker.post {
            server?.backgroundTimeExpiringMs(ServiceLogic.TIMEOUT_NOTICE_MS.toULong())
            main.post { stopSelf() }
        }
        // Backstop if the worker is busy: the system throws if stopSelf does not come in time.
        main.postDelayed({ stopSelf() }, ServiceLogic.TIMEOUT_NOTICE_MS)
    }

    override fun onDestroy() {
        ProcessLifecycleOwner.get().lifecycle.removeObserver(lifecycle)
        main.removeCallbacksAndMessages(null)
        foregroundActive = false
        worker.post {
            stopServer(force = true)
            network.stop()
            powerMonitor.stop()
        }
        workerThread.quitSafely() // runs what is queued (the stop above), then ends
        super.onDestroy()
    }

    // ---- main thread ----------------------------------------------------------------------

    private fun goForeground() {
        val type = ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE
        ServiceCompat.startForeground(this, NOTIFICATION_ID, notification("Starting…", null), type)
        foregroundActive = true
        pushAppState()
    }

    private fun pushAppState() {
        val state = ServiceLogic.appState(uiVisible, foregroundActive)
        worker.post { server?.setAppState(state) }
    }

    private fun stopGracefully() {
        worker.post {
            stopServer(force = false)
            main.post {
                foregroundActive = false
                ServiceCompat.stopForeground(this, ServiceCompat.STOP_FOREGROUND_REMOVE)
                stopSelf()
            }
        }
    }

    // ---- worker thread --------------------------------------------------------------------

    private fun startServer(yaml: String?, announceMdns: Boolean, level: String) {
        if (server?.isRunning() == true) return
        if (!loggingReady) {
            runCatching { initLogging(level) }.onFailure { Log.w(TAG, "log level $level", it) }
            loggingReady = true
        }
        val created = runCatching {
            if (yaml != null) {
                OpenRtmpServer.fromYaml(yaml)
            } else {
                OpenRtmpServer(defaultConfig().copy(watchNetwork = false, mdns = announceMdns))
            }
        }.getOrElse { e ->
            fail("configuration refused: ${e.message}")
            return
        }
        created.setListener(events)
        server = created
        // Reported before start: the FFI remembers them and applies them on start.
        network.start()
        network.current?.let { runCatching { created.networkChanged(it) } }
        powerMonitor.start()
        created.setAppState(ServiceLogic.appState(uiVisible, foregroundActive))
        if (announceMdns) multicastLock.acquire()
        runCatching { created.start() }
            .onSuccess { addrs -> Log.i(TAG, "listening on $addrs"); requestNotificationUpdate() }
            .onFailure { e -> fail("cannot start: ${e.message}") }
    }

    /** Stops and forgets the server; releases the locks. */
    private fun stopServer(force: Boolean) {
        throttle.cancel()
        val s = server ?: return
        server = null
        s.clearListener()
        runCatching { s.stop(force) }
        s.destroy()
        network.stop()
        powerMonitor.stop()
        if (multicastLock.isHeld) multicastLock.release()
        if (wakeLock.isHeld) wakeLock.release()
    }

    private fun fail(reason: String) {
        Log.e(TAG, reason)
        stopServer(force = true)
        notifications.notify(WARNING_NOTIFICATION_ID, notification("OpenRTMP could not start", reason, ongoing = false))
        main.post {
            foregroundActive = false
            ServiceCompat.stopForeground(this, ServiceCompat.STOP_FOREGROUND_REMOVE)
            stopSelf()
        }
    }

    private fun handle(event: FfiEvent) {
        when (event) {
            is FfiEvent.StatsChanged -> {
                holdWakeLock(ServiceLogic.wantsWakeLock(event.connections))
                requestNotificationUpdate()
            }
            is FfiEvent.Rebound, is FfiEvent.NetworkChanged -> requestNotificationUpdate()
            is FfiEvent.CellularDataWarning -> notifications.notify(
                WARNING_NOTIFICATION_ID,
                notification("OpenRTMP: cellular data", "${event.bytes / 1_000_000uL} MB sent over cellular", ongoing = false),
            )
            is FfiEvent.BackgroundExpiring -> Log.w(TAG, "background time expiring: ${event.remainingMs} ms left")
        }
        appListener?.invoke(event)
    }

    /**
     * A partial wake lock while a client is connected: without it the CPU may suspend between
     * packets with the screen off and players stall. Released when the last client leaves.
     */
    @SuppressLint("WakelockTimeout") // held exactly while clients are connected; released on stop
    private fun holdWakeLock(hold: Boolean) {
        if (hold && !wakeLock.isHeld) wakeLock.acquire()
        if (!hold && wakeLock.isHeld) wakeLock.release()
    }

    /** Stats changes come at most every 250 ms; the notification follows at most every second. */
    private fun requestNotificationUpdate() {
        val delay = throttle.request(SystemClock.elapsedRealtime()) ?: return
        worker.postDelayed({ updateNotification() }, delay)
    }

    private fun updateNotification() {
        throttle.ran(SystemClock.elapsedRealtime())
        val s = server ?: return
        val stats = s.stats()
        val urls = ServiceLogic.publishUrls(s.localAddrs(), network.current)
        val details = ServiceLogic.details(stats, s.streams(), urls)
        notifications.notify(NOTIFICATION_ID, notification(ServiceLogic.title(stats), details))
    }

    private fun notification(title: String, text: String?, ongoing: Boolean = true): Notification {
        val open = packageManager.getLaunchIntentForPackage(packageName)?.let {
            PendingIntent.getActivity(this, 0, it, PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT)
        }
        val stop = PendingIntent.getService(
            this, 1, Intent(this, OpenRtmpService::class.java).setAction(ACTION_STOP),
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
        return NotificationCompat.Builder(this, CHANNEL_ID)
            .setSmallIcon(R.drawable.ic_openrtmp)
            .setContentTitle(title)
            .setContentText(text?.lineSequence()?.firstOrNull())
            .setStyle(NotificationCompat.BigTextStyle().bigText(text))
            .setContentIntent(open)
            .setOngoing(ongoing)
            .setOnlyAlertOnce(true)
            .setCategory(NotificationCompat.CATEGORY_SERVICE)
            .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
            .apply { if (ongoing) addAction(0, "Stop", stop) }
            .build()
    }
}

// Kotlin smoke test of the OpenRTMP FFI on the desktop JVM (the same generated Kotlin an
// Android app uses, with JNA loading libopenrtmp_ffi.so). Run by ./run.sh.
//
// Starts a server on 127.0.0.1 (port 0), registers an EventListener, publishes with a real
// FFmpeg for 4 s, asserts a StatsChanged event with streams >= 1 arrives while FFmpeg
// publishes, prints stats and streams, stops the server. Exit 0 on success, 1 on failure.

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import org.openrtmp.ffi.EventListener
import org.openrtmp.ffi.FfiConfig
import org.openrtmp.ffi.FfiEvent
import org.openrtmp.ffi.FfiException
import org.openrtmp.ffi.FfiNetKind
import org.openrtmp.ffi.FfiNetworkInfo
import org.openrtmp.ffi.FfiNetworkSnapshot
import org.openrtmp.ffi.FfiPowerState
import org.openrtmp.ffi.OpenRtmpServer
import org.openrtmp.ffi.defaultConfig
import org.openrtmp.ffi.initLogging

class Collector : EventListener {
    val events = LinkedBlockingQueue<Pair<Long, FfiEvent>>()

    override fun onEvent(event: FfiEvent) {
        events.add(Pair(System.nanoTime(), event))
    }
}

fun ms(fromNanos: Long): Long = (System.nanoTime() - fromNanos) / 1_000_000

fun fail(message: String): Nothing {
    System.err.println("FAIL: $message")
    exitProcess(1)
}

fun main() {
    val ffmpeg = System.getenv("FFMPEG") ?: "ffmpeg"
    initLogging(System.getenv("OPENRTMP_LOG") ?: "warn")

    // An invalid configuration is a typed exception listing every problem.
    try {
        OpenRtmpServer(defaultConfig().copy(listen = listOf("nonsense"), chunkSize = 1u))
        fail("an invalid configuration was accepted")
    } catch (e: FfiException.InvalidConfig) {
        println("invalid config refused: ${e.problems}")
    }

    val config: FfiConfig = defaultConfig().copy(
        listen = listOf("127.0.0.1:0"),
        shutdownGraceMs = 2000uL,
        watchNetwork = false, // as on Android/iOS: the host pushes the network state
    )
    val server = OpenRtmpServer(config)
    val collector = Collector()
    server.setListener(collector)
    // Platform seam, reported before start (remembered and replayed on start).
    server.networkChanged(
        FfiNetworkSnapshot(
            networks = listOf(FfiNetworkInfo(1uL, "lo", FfiNetKind.LOOPBACK, listOf("127.0.0.1"), false)),
            defaultId = 1uL,
        ),
    )
    server.setPower(FfiPowerState(onBattery = true, lowPower = false, deviceIdle = false))
    val addrs = server.start()
    println("listening=$addrs")
    val port = addrs.first().substringAfterLast(':')

    val t0 = System.nanoTime()
    val publisher = ProcessBuilder(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
        "-f", "lavfi", "-i", "sine",
        "-t", "4", "-c:v", "libx264", "-g", "25", "-c:a", "aac",
        "-f", "flv", "rtmp://127.0.0.1:$port/live/kt",
    ).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.INHERIT).start()

    // Wait (at most 10 s) for the listener to hear about the stream while FFmpeg publishes.
    var live: FfiEvent.StatsChanged? = null
    while (live == null && ms(t0) < 10_000) {
        val (at, event) = collector.events.poll(200, TimeUnit.MILLISECONDS) ?: continue
        println("event +${(at - t0) / 1_000_000} ms: $event")
        if (event is FfiEvent.StatsChanged && event.streams >= 1uL) live = event
    }
    if (live == null) {
        publisher.destroyForcibly()
        server.stop(true)
        fail("no StatsChanged with streams >= 1 within 10 s")
    }
    if (!publisher.isAlive) fail("the StatsChanged event came after FFmpeg had exited")
    println("stream seen after ${ms(t0)} ms while FFmpeg publishes")

    Thread.sleep(1500)
    val during = server.stats()
    println("stats (publishing)=$during")
    for (s in server.streams()) println("stream=$s")
    if (during.publishers < 1uL) fail("stats show no publisher: $during")

    if (!publisher.waitFor(20, TimeUnit.SECONDS)) {
        publisher.destroyForcibly()
        fail("FFmpeg did not finish")
    }
    val code = publisher.exitValue()
    if (code != 0) fail("FFmpeg exited with $code")
    println("ffmpeg done after ${ms(t0)} ms (exit 0)")

    // The publisher left: the listener hears that too.
    var gone = false
    val t1 = System.nanoTime()
    while (!gone && ms(t1) < 5_000) {
        val (at, event) = collector.events.poll(200, TimeUnit.MILLISECONDS) ?: continue
        println("event +${(at - t0) / 1_000_000} ms: $event")
        if (event is FfiEvent.StatsChanged && event.connections == 0uL) gone = true
    }
    val after = server.stats()
    println("stats (after)=$after")
    if (after.bytesIn < 10_000uL) fail("too few bytes received: ${after.bytesIn}")
    println("energy=${server.energy()}")
    if (!gone) fail("no StatsChanged with connections = 0 after FFmpeg left")

    val t2 = System.nanoTime()
    server.stop(false)
    println("stopped in ${ms(t2)} ms; running=${server.isRunning()}")
    if (server.isRunning()) fail("still running after stop")
    server.close()
    println("OK")
    exitProcess(0)
}

// The studio's media side, without any UI: capture (camera or screen, microphone or a
// silent track), a WHIP publish (RFC 9725) of it with H.264 forced, the sender's bitrate and
// degradation preference, and the outgoing statistics. Nothing here logs: a WHIP key is a
// publish password, it goes only into the Authorization header of the WHIP requests.

export const RESOLUTIONS = {
  '1080p': { width: 1920, height: 1080 },
  '720p': { width: 1280, height: 720 },
  '480p': { width: 854, height: 480 },
};

/** A WHIP answer that is not a 201: the status and the server's words. */
export class WhipError extends Error {
  constructor(status, text) {
    const what = {
      400: 'the server could not use the offer',
      401: 'the WHIP key is missing or wrong',
      403: 'the WHIP key was refused',
      404: 'this server has no WHIP endpoint (is WebRTC enabled?)',
      409: 'this stream is already being published',
      415: 'the server refused the offer type',
    }[status] || 'the WHIP request failed';
    super(`WHIP ${status}: ${what}${text ? ' (' + text.slice(0, 200) + ')' : ''}`);
    this.status = status;
  }
}

/**
 * The camera (or the screen) and the microphone, at `resolution` (a key of RESOLUTIONS).
 * With the microphone off, the audio track is silence from an AudioContext: the stream keeps
 * an audio track (platforms refuse streams without audio), and turning the microphone on
 * while live swaps the track in place.
 */
export async function capture({ source, mic, resolution }) {
  const size = RESOLUTIONS[resolution] || RESOLUTIONS['720p'];
  const video = { width: { ideal: size.width }, height: { ideal: size.height }, frameRate: { ideal: 30 } };
  let stream;
  if (source === 'screen') {
    stream = await navigator.mediaDevices.getDisplayMedia({ video, audio: false });
  } else {
    stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
  }
  const audio = await audioTrack(mic);
  return new MediaStream([...stream.getVideoTracks(), audio]);
}

let silence = null;
/** The microphone's track, or a silent one (one AudioContext for the page). */
export async function audioTrack(mic) {
  if (mic) {
    const s = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: false,
    });
    return s.getAudioTracks()[0];
  }
  if (!silence) {
    const ctx = new AudioContext({ sampleRate: 48000 });
    const dest = ctx.createMediaStreamDestination();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const osc = ctx.createOscillator();
    osc.connect(gain).connect(dest);
    osc.start();
    silence = { ctx, track: dest.stream.getAudioTracks()[0] };
  }
  if (silence.ctx.state === 'suspended') await silence.ctx.resume().catch(() => {});
  return silence.track.clone();
}

/** Orders the H.264 codecs first: packetization-mode=1 with 42e01f, then other mode 1, then
 * the rest of H.264; nothing else (no VP8 fallback: platforms take H.264 only). */
function h264First(codecs) {
  const h264 = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
  const rank = (c) => {
    const f = (c.sdpFmtpLine || '').toLowerCase();
    const pm1 = /packetization-mode=1/.test(f);
    const cb = /profile-level-id=42e01f/.test(f);
    return (pm1 ? 0 : 2) + (cb ? 0 : 1);
  };
  return h264.sort((a, b) => rank(a) - rank(b));
}

/** Waits for ICE gathering to complete (no STUN servers: quick), at most `ms`. */
function gathered(pc, ms = 3000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

/** The whip URL of a stream on this server. */
export function whipUrl(app, stream) {
  return `/whip/${encodeURIComponent(app)}/${encodeURIComponent(stream)}`;
}

/** `maxBitrate` (kbit/s) on the video sender, keeping the resolution when short of bits. */
export async function setBitrate(sender, kbps) {
  const p = sender.getParameters();
  if (!p.encodings || !p.encodings.length) p.encodings = [{}];
  p.encodings[0].maxBitrate = kbps * 1000;
  p.degradationPreference = 'maintain-resolution';
  try {
    await sender.setParameters(p);
  } catch {
    // An engine without degradationPreference: the bitrate cap alone.
    delete p.degradationPreference;
    await sender.setParameters(p);
  }
}

/**
 * Publishes `media` to `/whip/{app}/{stream}` with `key` as the Bearer token. Resolves to
 * the session: `{pc, location, video, audio}` once the answer is applied (the connection
 * then comes up on its own: watch `pc.connectionState`). Throws WhipError on a refusal.
 */
export async function publish({ app, stream, key, media, kbps }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  try {
    const [vt] = media.getVideoTracks();
    const [at] = media.getAudioTracks();
    const video = pc.addTransceiver(vt, { direction: 'sendonly', streams: [media] });
    const audio = pc.addTransceiver(at, { direction: 'sendonly', streams: [media] });
    const caps = RTCRtpSender.getCapabilities('video');
    const h264 = caps ? h264First(caps.codecs) : [];
    if (!h264.length) throw new Error('this browser cannot encode H.264');
    video.setCodecPreferences(h264);
    const acaps = RTCRtpSender.getCapabilities('audio');
    const opus = acaps ? acaps.codecs.filter((c) => c.mimeType.toLowerCase() === 'audio/opus') : [];
    if (opus.length) audio.setCodecPreferences(opus);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(whipUrl(app, stream), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + key },
      body: pc.localDescription.sdp,
    });
    const text = await res.text();
    if (res.status !== 201) throw new WhipError(res.status, text);
    const loc = res.headers.get('Location');
    if (!loc) throw new Error('the WHIP answer has no Location');
    const location = new URL(loc, window.location.href).href;
    const session = { pc, location, key, video: video.sender, audio: audio.sender };
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
    } catch (e) {
      end(session);
      throw e;
    }
    await setBitrate(video.sender, kbps).catch(() => {});
    return session;
  } catch (e) {
    pc.close();
    throw e;
  }
}

/** Ends the session: DELETE its WHIP resource (with `keepalive`, so it also leaves a page
 * being closed) and closes the peer connection. */
export function end(session, keepalive = false) {
  if (!session) return Promise.resolve();
  const sent = fetch(session.location, {
    method: 'DELETE',
    keepalive,
    headers: { Authorization: 'Bearer ' + session.key },
  }).catch(() => {});
  session.pc.close();
  return sent;
}

/** Reads the outgoing figures: total bit/s since `prev`, fps, resolution, encoder. */
export async function stats(pc, prev) {
  const report = await pc.getStats();
  let bytes = 0;
  const out = { at: performance.now(), bytes: 0, fps: null, width: null, height: null, encoder: null, limit: null };
  report.forEach((s) => {
    if (s.type !== 'outbound-rtp') return;
    bytes += s.bytesSent || 0;
    if (s.kind === 'video') {
      out.fps = s.framesPerSecond ?? null;
      out.width = s.frameWidth ?? null;
      out.height = s.frameHeight ?? null;
      out.encoder = s.encoderImplementation || null;
      out.limit = s.qualityLimitationReason || null;
    }
  });
  out.bytes = bytes;
  out.kbps = prev && out.at > prev.at ? ((bytes - prev.bytes) * 8) / (out.at - prev.at) : null;
  return out;
}

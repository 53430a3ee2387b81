// The studio (/studio): publish the camera or the screen to this server over WHIP and
// restream it to several platforms at once through the push targets API.
//
// Secrets: the WHIP key goes only into the Authorization header of the WHIP requests; each
// target's stream key lives in this page's memory (never in storage, never rendered back,
// never logged) and goes only into the body of `POST .../targets`. The server lists the
// targets with the key redacted. The API token, when the server has one, is the dashboard's
// (this tab's sessionStorage).
import { html, render, useState, useEffect, useRef } from './vendor/htm/preact-htm.module.js';
import { request, token, Unauthorized, kbps as fmtKbps } from './api.js';
import { RESOLUTIONS, capture, audioTrack, publish, end, setBitrate, stats } from './whip.js';

const PRESETS = {
  twitch: { label: 'Twitch', url: 'rtmp://live.twitch.tv/app/' },
  youtube: { label: 'YouTube', url: 'rtmp://a.rtmp.youtube.com/live2/' },
  facebook: { label: 'Facebook', url: 'rtmps://live-api-s.facebook.com:443/rtmp/' },
  custom: { label: 'Custom URL', url: '' },
};
const BITRATES = [6000, 4500, 3000, 1500, 800];

const enc = encodeURIComponent;
const targetsPath = (app, stream) => `/api/v1/streams/${enc(app)}/${enc(stream)}/targets`;

/** The URL to push to: the preset's (or the custom) URL followed by the key. A custom URL
 * that already carries its key may leave the key field empty. */
function pushUrl(row, key) {
  const base = row.preset === 'custom' ? row.url.trim() : PRESETS[row.preset].url;
  if (!key) return base;
  return base + (base.endsWith('/') ? '' : '/') + key;
}

/** One target's state as the relay reports it, in words. */
function describe(t) {
  if (!t) return 'waiting';
  if (t.state === 'failed') return 'failed: ' + (t.reason || t.last_error || 'no reason given');
  if (t.state === 'backoff') {
    const s = Math.ceil((t.retry_in_ms || 0) / 1000);
    return `backoff (retry in ${s} s)` + (t.last_error ? ': ' + t.last_error : '');
  }
  if (t.state === 'stalled') return 'stalled' + (t.last_error ? ': ' + t.last_error : '');
  return t.state;
}
const stateClass = (t) => (!t ? '' : t.state === 'live' ? 'good' : ['failed', 'backoff', 'stalled'].includes(t.state) ? 'bad' : '');

function TokenForm({ onDone, failed }) {
  const [value, setValue] = useState('');
  const submit = (e) => { e.preventDefault(); token.set(value.trim()); onDone(); };
  return html`<form class="signin" onSubmit=${submit}>
    <h1>OpenRTMP studio</h1>
    <p>This server's API needs its token (<code>api.token</code>) to manage push targets.</p>
    ${failed ? html`<p class="error">That token was refused.</p>` : null}
    <input type="password" id="token" autocomplete="current-password" placeholder="API token"
      value=${value} onInput=${(e) => setValue(e.target.value)} required />
    <button type="submit">Sign in</button>
  </form>`;
}

function TargetRow({ row, keys, busy, status, onChange, onRemove }) {
  const set = (k) => (e) => onChange({ ...row, [k]: e.target.value });
  return html`<tr class="target" data-row=${row.n}>
    <td><select class="preset" disabled=${busy} value=${row.preset} onChange=${set('preset')}>
      ${Object.entries(PRESETS).map(([k, p]) => html`<option value=${k}>${p.label}</option>`)}
    </select></td>
    <td>${row.preset === 'custom'
      ? html`<input class="url" placeholder="rtmp(s)://host/app/" disabled=${busy} value=${row.url} onInput=${set('url')} />`
      : html`<span class="mono">${PRESETS[row.preset].url}</span>`}</td>
    <td><input class="key" type="password" autocomplete="off" placeholder="stream key" disabled=${busy}
      onInput=${(e) => keys.set(row.n, e.target.value)} /></td>
    <td class="state ${stateClass(status)}">${row.error ? html`<span class="error">${row.error}</span>` : busy ? describe(status) : ''}</td>
    <td>${busy ? null : html`<button class="remove danger" onClick=${onRemove}>Remove</button>`}</td>
  </tr>`;
}

function Studio() {
  const [source, setSource] = useState('camera');
  const [mic, setMic] = useState(true);
  const [resolution, setResolution] = useState('720p');
  const [kbps, setKbps] = useState(3000);
  const [app, setApp] = useState('live');
  const [stream, setStream] = useState('studio');
  const [rows, setRows] = useState([{ n: 1, preset: 'twitch', url: '', id: null, error: null }]);
  const [phase, setPhase] = useState('idle'); // idle, starting, on, stopping
  const [error, setError] = useState(null);
  const [conn, setConn] = useState('new');
  const [listed, setListed] = useState(false);
  const [figures, setFigures] = useState(null);
  const [targets, setTargets] = useState(new Map());
  const [previewing, setPreviewing] = useState(false);
  const [auth, setAuth] = useState('checking');
  const keys = useRef(new Map()).current; // row -> stream key; memory only
  const whipKey = useRef('');
  const media = useRef(null);
  const session = useRef(null);
  const ids = useRef([]); // [app, stream, id] of the targets this page attached
  const video = useRef(null);
  const nextRow = useRef(2);

  useEffect(() => {
    if (auth !== 'checking') return;
    request('/api/v1/server').then(() => setAuth('ok'), (e) => setAuth(e instanceof Unauthorized ? 'needed' : 'ok'));
  }, [auth]);

  // A closed or reloaded tab still says goodbye: the DELETEs go out with keepalive. (The
  // targets are attached "until_unpublish", so they end with the publication anyway.)
  useEffect(() => {
    const bye = () => {
      const h = token.get() ? { Authorization: 'Bearer ' + token.get() } : {};
      for (const [a, s, id] of ids.current) {
        fetch(`${targetsPath(a, s)}/${id}`, { method: 'DELETE', keepalive: true, headers: h }).catch(() => {});
      }
      end(session.current, true);
    };
    addEventListener('pagehide', bye);
    return () => removeEventListener('pagehide', bye);
  }, []);

  const show = (m) => {
    media.current = m;
    if (video.current) video.current.srcObject = m;
    setPreviewing(!!m);
  };

  /** (Re)captures with the current choices; a live session's tracks are swapped in place. */
  const preview = async (opts = {}) => {
    const choice = { source, mic, resolution, ...opts };
    const old = media.current;
    const m = await capture(choice);
    if (session.current) {
      await session.current.video.replaceTrack(m.getVideoTracks()[0]);
      await session.current.audio.replaceTrack(m.getAudioTracks()[0]);
    }
    show(m);
    if (old) old.getTracks().forEach((t) => t.stop());
    return m;
  };
  const tryPreview = (opts) => preview(opts).then(() => setError(null), (e) => setError('Camera/screen: ' + e.message));

  const changeMic = async (on) => {
    setMic(on);
    if (!media.current) return;
    try {
      const track = await audioTrack(on);
      const m = new MediaStream([...media.current.getVideoTracks(), track]);
      media.current.getAudioTracks().forEach((t) => t.stop());
      if (session.current) await session.current.audio.replaceTrack(track);
      show(m);
    } catch (e) { setError('Microphone: ' + e.message); }
  };
  const changeKbps = (v) => {
    setKbps(v);
    if (session.current) setBitrate(session.current.video, v).catch((e) => setError(e.message));
  };

  const start = async () => {
    setError(null);
    setPhase('starting');
    try {
      const m = media.current || (await preview());
      const s = await publish({ app, stream, key: whipKey.current, media: m, kbps });
      session.current = s;
      setConn(s.pc.connectionState);
      s.pc.addEventListener('connectionstatechange', () => {
        setConn(s.pc.connectionState);
        if (s.pc.connectionState === 'failed') setError('The WebRTC connection to the server failed.');
      });
    } catch (e) {
      setError(e.message);
      setPhase('idle');
      return;
    }
    const added = [];
    const next = [];
    for (const row of rows) {
      let r = { ...row, id: null, error: null };
      try {
        const res = await request(targetsPath(app, stream), 'POST', { url: pushUrl(row, keys.get(row.n) || ''), until_unpublish: true });
        if (res.status === 201 && res.body && res.body.id !== undefined) {
          r.id = res.body.id;
          added.push([app, stream, r.id]);
        } else {
          r.error = (res.body && res.body.error) || 'HTTP ' + res.status;
        }
      } catch (e) {
        r.error = e instanceof Unauthorized ? 'the API token was refused' : e.message;
      }
      next.push(r);
    }
    ids.current = added;
    setRows(next);
    setPhase('on');
  };

  const stop = async () => {
    setPhase('stopping');
    const h = token.get() ? { Authorization: 'Bearer ' + token.get() } : {};
    // The targets and the WHIP resource at once: each ends the platforms' streams.
    await Promise.all([
      ...ids.current.map(([a, s, id]) =>
        fetch(`${targetsPath(a, s)}/${id}`, { method: 'DELETE', headers: h }).catch(() => {})),
      end(session.current),
    ]);
    ids.current = [];
    session.current = null;
    setRows((rs) => rs.map((r) => ({ ...r, id: null })));
    setTargets(new Map());
    setListed(false);
    setFigures(null);
    setConn('closed');
    setPhase('idle');
  };

  // While on air: the browser's figures and the relay's view, every second.
  useEffect(() => {
    if (phase !== 'on') return undefined;
    let prev = null;
    let live = true;
    const tick = async () => {
      const s = session.current;
      if (!s) return;
      try {
        const f = await stats(s.pc, prev);
        prev = f;
        if (live) setFigures(f);
      } catch { /* closed meanwhile */ }
      try {
        const t = await request(targetsPath(app, stream));
        if (live && t.status === 200) setTargets(new Map(t.body.map((x) => [x.id, x])));
        const st = await request(`/api/v1/streams/${enc(app)}/${enc(stream)}`);
        if (live) setListed(st.status === 200 && !!st.body && st.body.publishing !== false);
      } catch (e) {
        if (live && e instanceof Unauthorized) setError('the API token was refused');
      }
    };
    tick();
    const id = setInterval(tick, 1000);
    return () => { live = false; clearInterval(id); };
  }, [phase]);

  if (auth === 'needed') return html`<${TokenForm} failed=${!!token.get()} onDone=${() => setAuth('checking')} />`;
  if (auth === 'checking') return html`<p class="muted pad">Loading…</p>`;

  const busy = phase !== 'idle';
  const onAir = phase === 'on' && conn === 'connected' && listed;
  const badge = onAir ? 'LIVE' : phase === 'starting' || (phase === 'on' && !onAir) ? 'CONNECTING' : 'OFF AIR';
  const addRow = () => setRows([...rows, { n: nextRow.current++, preset: 'youtube', url: '', id: null, error: null }]);
  return html`<header>
      <a class="brand" href="/">OpenRTMP</a>
      <nav><a href="/">Dashboard</a><a href="/studio" class="active">Studio</a></nav>
      <span id="live" class=${'onair ' + (onAir ? 'on' : '')}>${badge}</span>
    </header>
    <main class="studio">
      ${error ? html`<p id="error" class="error">${error}</p>` : null}
      <div class="split">
        <section>
          <div class="preview"><video id="preview" ref=${video} autoplay muted playsinline></video></div>
          <div class="controls">
            <label>Source <select id="source" value=${source} onChange=${(e) => { setSource(e.target.value); if (media.current) tryPreview({ source: e.target.value }); }}>
              <option value="camera">Camera</option><option value="screen">Screen</option></select></label>
            <label><input type="checkbox" id="mic" checked=${mic} onChange=${(e) => changeMic(e.target.checked)} /> Microphone</label>
            <label>Resolution <select id="resolution" value=${resolution} onChange=${(e) => { setResolution(e.target.value); if (media.current) tryPreview({ resolution: e.target.value }); }}>
              ${Object.keys(RESOLUTIONS).map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
            <label>Bitrate <select id="bitrate" value=${kbps} onChange=${(e) => changeKbps(Number(e.target.value))}>
              ${BITRATES.map((b) => html`<option value=${b}>${fmtKbps(b)}</option>`)}</select></label>
            ${previewing ? null : html`<button id="preview-btn" onClick=${() => tryPreview()}>Preview</button>`}
          </div>
          <dl id="stats" class="figures">
            <div><dt>Outgoing</dt><dd id="stat-bitrate">${figures && figures.kbps !== null ? fmtKbps(figures.kbps) : '–'}</dd></div>
            <div><dt>Frames/s</dt><dd id="stat-fps">${figures && figures.fps !== null ? figures.fps : '–'}</dd></div>
            <div><dt>Resolution</dt><dd id="stat-size">${figures && figures.width ? `${figures.width}×${figures.height}` : '–'}</dd></div>
            <div><dt>Encoder</dt><dd id="stat-encoder">${(figures && figures.encoder) || '–'}${figures && figures.limit && figures.limit !== 'none' ? ` (limited by ${figures.limit})` : ''}</dd></div>
            <div><dt>Connection</dt><dd id="stat-conn">${conn}</dd></div>
          </dl>
        </section>
        <section class="detail">
          <h2>This server</h2>
          <div class="controls">
            <label>App <input id="app" value=${app} disabled=${busy} onInput=${(e) => setApp(e.target.value)} /></label>
            <label>Stream <input id="stream" value=${stream} disabled=${busy} onInput=${(e) => setStream(e.target.value)} /></label>
            <label>WHIP key <input id="whip-key" type="password" autocomplete="off" disabled=${busy}
              placeholder="publish key or token" onInput=${(e) => { whipKey.current = e.target.value; }} /></label>
          </div>
          <h2>Platforms</h2>
          <table class="list targets"><tbody>
            ${rows.map((row) => html`<${TargetRow} key=${row.n} row=${row} keys=${keys} busy=${busy}
              status=${row.id !== null ? targets.get(row.id) : null}
              onChange=${(r) => setRows(rows.map((x) => (x.n === r.n ? r : x)))}
              onRemove=${() => { keys.delete(row.n); setRows(rows.filter((x) => x.n !== row.n)); }} />`)}
          </tbody></table>
          ${busy ? null : html`<button id="add-target" onClick=${addRow}>Add a platform</button>`}
          <p class="go">
            ${busy
              ? html`<button id="stop" class="danger" disabled=${phase === 'stopping'} onClick=${stop}>Stop</button>`
              : html`<button id="start" class="primary" onClick=${start}>Start</button>`}
          </p>
          <p class="muted">Stream keys stay in this page's memory and go only to this server's
            push targets API; the server shows them redacted. Closing the tab ends the stream.</p>
        </section>
      </div>
    </main>`;
}

render(html`<${Studio} />`, document.getElementById('app'));

// A stream's page: live preview (mpegts.js on the server's HTTP-FLV URL), verdicts and
// charts, viewers, push targets (add, remove), end the stream.
import { html, useState, useEffect, useRef } from './vendor/htm/preact-htm.module.js';
import { api, request, usePoll, useStore, streamKey, ensureHistory } from './api.js';
import { StreamCharts, Verdicts } from './chart.js';
import { StreamSummary, ConnectionTable } from './pages.js';

const enc = encodeURIComponent;

/** The preview. Its <video> carries what the browser test reads: `data-first-frame-ms`
 *  (from creating the player to the first frame shown) and `data-buffer-ms` (media buffered
 *  ahead of the playhead, the player's share of the delay behind live). */
function Preview({ app, name }) {
  const video = useRef(null);
  const [status, setStatus] = useState('connecting');
  useEffect(() => {
    const el = video.current;
    const mpegts = window.mpegts;
    if (!mpegts || !mpegts.isSupported()) { setStatus('this browser cannot play HTTP-FLV (no Media Source Extensions)'); return; }
    mpegts.LoggingControl.enableVerbose = false;
    mpegts.LoggingControl.enableDebug = false;
    const url = `/live/${enc(app)}/${enc(name)}.flv`;
    const started = performance.now();
    const player = mpegts.createPlayer({ type: 'flv', isLive: true, url }, {
      enableWorker: false,
      enableStashBuffer: false,
      stashInitialSize: 128,
      lazyLoad: false,
      autoCleanupSourceBuffer: true,
      liveBufferLatencyChasing: true,
      liveBufferLatencyMaxLatency: 1.2,
      liveBufferLatencyMinRemain: 0.3,
    });
    let first = false;
    const firstFrame = () => {
      if (first) return;
      first = true;
      el.dataset.firstFrameMs = String(Math.round(performance.now() - started));
      setStatus('playing');
    };
    if (el.requestVideoFrameCallback) el.requestVideoFrameCallback(firstFrame);
    el.addEventListener('playing', firstFrame);
    player.on(mpegts.Events.ERROR, (type, detail, info) => {
      const code = info && info.code ? ' (HTTP ' + info.code + ')' : '';
      setStatus(`preview unavailable: ${detail || type}${code}`);
    });
    const meter = setInterval(() => {
      const b = el.buffered;
      if (b.length) el.dataset.bufferMs = String(Math.round((b.end(b.length - 1) - el.currentTime) * 1000));
    }, 250);
    el.muted = true;
    player.attachMediaElement(el);
    player.load();
    const p = player.play();
    if (p && p.catch) p.catch(() => {});
    return () => { clearInterval(meter); player.destroy(); };
  }, [app, name]);
  return html`<div class="preview">
    <video ref=${video} id="preview" muted playsinline controls></video>
    <div class="muted" data-preview-status>${status}</div>
  </div>`;
}

function Targets({ app, name }) {
  const base = `/api/v1/streams/${enc(app)}/${enc(name)}/targets`;
  const [list, err, refresh] = usePoll(() => api(base), 2000, [app, name]);
  const [url, setUrl] = useState('');
  const [error, setError] = useState(null);
  const add = (e) => {
    e.preventDefault();
    api(base, 'POST', { url }).then(() => { setUrl(''); setError(null); refresh(); }, (x) => setError(x.message));
  };
  const remove = (id) => api(`${base}/${id}`, 'DELETE').then(refresh, (x) => setError(x.message));
  return html`<div>
    <h2>Push targets</h2>
    ${err || error ? html`<p class="error">${error || err}</p>` : null}
    ${list && list.length ? html`<table class="list">
      <thead><tr><th>id</th><th>url</th><th>state</th><th>bitrate</th><th>origin</th><th>last error</th><th></th></tr></thead>
      <tbody>${list.map((t) => html`<tr data-target=${t.id}>
        <td>${t.id}</td><td class="mono">${t.url}</td>
        <td><span class=${'tag ' + (t.state === 'live' ? 'good' : t.state === 'failed' ? 'bad' : '')}>${t.state}</span></td>
        <td>${t.bitrate_bps ? Math.round(t.bitrate_bps / 1000) + ' kbit/s' : '–'}</td>
        <td>${t.origin}</td><td>${t.last_error || (t.reason || '')}</td>
        <td><button class="danger" onClick=${() => remove(t.id)}>Remove</button></td>
      </tr>`)}</tbody></table>` : html`<p class="muted">No push target.</p>`}
    <form class="inline" onSubmit=${add}>
      <input type="url" placeholder="rtmp://host/app/key" value=${url} required
        onInput=${(e) => setUrl(e.target.value)} aria-label="push target URL" />
      <button type="submit">Add target</button>
    </form>
  </div>`;
}

function EndStream({ app, name }) {
  const [armed, setArmed] = useState(false);
  const [msg, setMsg] = useState(null);
  const end = () => api(`/api/v1/streams/${enc(app)}/${enc(name)}`, 'DELETE')
    .then(() => setMsg('Stream ended.'), (e) => setMsg(e.message));
  if (msg) return html`<p class="muted">${msg}</p>`;
  return armed
    ? html`<span><button class="danger" data-end-confirm onClick=${end}>Really end ${app}/${name}</button>
        <button onClick=${() => setArmed(false)}>Cancel</button></span>`
    : html`<button class="danger" data-end onClick=${() => setArmed(true)}>End stream</button>`;
}

export function StreamPage({ app, name }) {
  const store = useStore();
  const [found, err] = usePoll(() => request(`/api/v1/streams/${enc(app)}/${enc(name)}`), 2000, [app, name]);
  const [conns, , refreshConns] = usePoll(() => api('/api/v1/connections'), 2000);
  useEffect(() => ensureHistory(app, name), [app, name]);
  const h = store.streams.get(streamKey(app, name));
  const s = found && found.status === 200 ? found.body : null;
  const viewers = conns ? conns.connections.filter((c) => c.role === 'player' && c.app === app && c.stream === name) : [];
  return html`<section>
    <h1>${app}/${name} ${s ? html`<${EndStream} app=${app} name=${name} />` : null}</h1>
    ${err ? html`<p class="error">${err}</p>` : null}
    ${found && !s ? html`<p class="muted">This stream is not live.</p>` : null}
    <div class="split">
      <${Preview} app=${app} name=${name} />
      <div>${s ? html`<${StreamSummary} s=${s} charts=${false} />` : null}</div>
    </div>
    ${h ? html`<${StreamCharts} h=${h} id=${streamKey(app, name)} />` : null}
    <h2>Viewers (${viewers.length})</h2>
    ${viewers.length ? html`<${ConnectionTable} list=${viewers} onKick=${refreshConns} />` : html`<p class="muted">No RTMP viewer right now.</p>`}
    <${Targets} app=${app} name=${name} />
  </section>`;
}

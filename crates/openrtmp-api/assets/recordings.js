// The Recordings page: every recording segment on disk (GET /api/v1/recordings), newest
// first, each with play, download and delete. Play and download go through signed links
// (POST {download}/link → a URL valid for a few minutes): a <video> element or a download
// cannot send the Authorization header, and the token never goes in a URL.
import { html, useState, useEffect, useRef } from './vendor/htm/preact-htm.module.js';
import { api, request, usePoll, duration, bytes } from './api.js';

async function signedUrl(r) {
  return (await api(r.download + '/link', 'POST')).url;
}

/** Plays one segment: MP4 in the <video> element itself, FLV through mpegts.js (not live). */
function Player({ r, url, onClose }) {
  const ref = useRef(null);
  const [status, setStatus] = useState('');
  useEffect(() => {
    const el = ref.current;
    el.muted = true;
    if (r.format === 'mp4') {
      el.src = url;
      const p = el.play();
      if (p && p.catch) p.catch(() => {});
      return () => { el.removeAttribute('src'); el.load(); };
    }
    const mpegts = window.mpegts;
    if (!mpegts || !mpegts.isSupported()) { setStatus('this browser cannot play FLV (no Media Source Extensions)'); return undefined; }
    const player = mpegts.createPlayer({ type: 'flv', isLive: false, url }, { enableWorker: false });
    player.on(mpegts.Events.ERROR, (type, detail) => setStatus(`cannot play: ${detail || type}`));
    player.attachMediaElement(el);
    player.load();
    const p = player.play();
    if (p && p.catch) p.catch(() => {});
    return () => player.destroy();
  }, [url]);
  return html`<div class="preview recording-player">
    <p><strong>${r.app}/${r.stream}</strong> from ${when(r.start)} <button class="link dark" onClick=${onClose}>Close</button></p>
    <video id="recording-video" ref=${ref} controls playsinline data-file=${r.file}></video>
    ${status ? html`<p class="error">${status}</p>` : null}
  </div>`;
}

const when = (rfc3339) => new Date(rfc3339).toLocaleString();

export function Recordings() {
  const [list, err, refresh] = usePoll(() => api('/api/v1/recordings'), 5000);
  const [playing, setPlaying] = useState(null);
  const [problem, setProblem] = useState(null);
  const fail = (e) => setProblem(e.message);
  const play = (r) => signedUrl(r).then((url) => setPlaying({ r, url }), fail);
  const download = (r) => signedUrl(r).then((url) => {
    const a = document.createElement('a');
    a.href = url;
    a.download = r.file;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }, fail);
  const remove = async (r) => {
    if (!confirm(`Delete ${r.file}?`)) return;
    const res = await request(r.download, 'DELETE');
    if (res.status !== 204) setProblem((res.body && res.body.error) || 'HTTP ' + res.status);
    if (playing && playing.r.file === r.file) setPlaying(null);
    refresh();
  };
  const rows = list ? list.recordings : [];
  return html`<section>
    <h1>Recordings</h1>
    ${err ? html`<p class="error">${err}</p>` : null}
    ${problem ? html`<p class="error">${problem}</p>` : null}
    ${playing ? html`<${Player} key=${playing.url} r=${playing.r} url=${playing.url} onClose=${() => setPlaying(null)} />` : null}
    ${list ? html`<p class="muted" id="recordings-total">${list.count} segment${list.count === 1 ? '' : 's'},
      ${bytes(list.total_bytes)}, ${duration(list.total_duration_ms / 1000)}${list.truncated ? ' (listing cut short: too many files)' : ''}</p>` : null}
    ${list && !rows.length ? html`<p class="muted">No recording yet.</p>` : null}
    ${rows.length ? html`<table class="list recordings">
      <thead><tr><th>app</th><th>stream</th><th>start</th><th>duration</th><th>size</th><th>format</th><th></th></tr></thead>
      <tbody>${rows.map((r) => html`<tr data-file=${r.file}>
        <td>${r.app}</td><td>${r.stream}</td><td title=${r.start}>${when(r.start)}</td>
        <td>${r.duration_ms === null ? '–' : duration(r.duration_ms / 1000)}</td>
        <td>${bytes(r.bytes)}</td><td>${r.format.toUpperCase()}</td>
        <td class="actions">
          ${r.recording ? html`<span class="tag good">recording</span> ` : null}
          <button class="play" onClick=${() => play(r)}>Play</button>
          <button class="download" onClick=${() => download(r)}>Download</button>
          ${r.recording ? null : html`<button class="danger delete" onClick=${() => remove(r)}>Delete</button>`}
        </td>
      </tr>`)}</tbody>
    </table>` : null}
  </section>`;
}

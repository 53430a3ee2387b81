// Overview, Streams and Connections pages.
import { html, useState } from './vendor/htm/preact-htm.module.js';
import { api, request, usePoll, useStore, streamKey, ensureHistory, last, kbps, ms, duration, bytes } from './api.js';
import { Chart, StreamCharts, Verdicts } from './chart.js';

function Card({ label, value, cls = '', id }) {
  return html`<div class=${'card ' + cls} data-card=${id}><div class="label">${label}</div><div class="value">${value}</div></div>`;
}

export function Overview() {
  const store = useStore();
  const [health, healthErr] = usePoll(() => api('/health'), 5000);
  const [ready] = usePoll(() => request('/ready'), 5000);
  const [server] = usePoll(() => api('/api/v1/server'), 2000);
  const h = store.server;
  const isReady = ready && ready.status === 200;
  const reasons = (ready && ready.body && ready.body.reasons) || [];
  return html`<section>
    <h1>Overview</h1>
    <div class="cards">
      <${Card} id="health" label="Health" cls=${health ? 'good' : healthErr ? 'bad' : ''}
        value=${health ? 'OK' : healthErr ? 'unreachable' : '…'} />
      <${Card} id="ready" label="Readiness" cls=${ready ? (isReady ? 'good' : 'bad') : ''}
        value=${ready ? (isReady ? 'Ready' : 'Degraded') : '…'} />
      <${Card} id="connections" label="Connections" value=${server ? server.connections : '…'} />
      <${Card} id="streams" label="Streams" value=${server ? server.streams : '…'} />
      <${Card} id="in" label="In" value=${h ? kbps(last(h.bitrate_in_kbps)) : '…'} />
      <${Card} id="out" label="Out" value=${h ? kbps(last(h.bitrate_out_kbps)) : '…'} />
    </div>
    ${reasons.length ? html`<ul class="verdicts">${reasons.map((r) => html`<li class="verdict problem">${r}</li>`)}</ul>` : null}
    ${server ? html`<p class="muted">${`OpenRTMP ${server.version}, up ${duration(server.uptime_secs)}; ` +
      `${server.publishers} publishing, ${server.players} playing; ` +
      `received ${bytes(server.bytes_in)}, sent ${bytes(server.bytes_out)}.`}</p>` : null}
    ${h ? html`<div class="charts wide">
      <${Chart} id="throughput" title="Throughput, last 15 minutes (kbit/s)" at=${h.at_ms}
        series=${[{ label: 'in', values: h.bitrate_in_kbps }, { label: 'out', values: h.bitrate_out_kbps }]} />
      <${Chart} id="counts" title="Connections and streams" at=${h.at_ms}
        series=${[{ label: 'connections', values: h.connections }, { label: 'streams', values: h.streams }]} integer />
    </div>` : html`<p class="muted">Loading history…</p>`}
  </section>`;
}

const streamHref = (app, name) => `#/stream/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;

function delay(d) { return d && d.mean !== null ? ms(d.mean) + (d.p99 !== null ? ' (p99 ≤ ' + ms(d.p99) + ')' : '') : '–'; }

/** One live stream's figures, verdicts and charts. */
export function StreamSummary({ s, charts = true }) {
  const store = useStore();
  const h = store.streams.get(streamKey(s.app, s.stream));
  if (!h) ensureHistory(s.app, s.stream);
  const cols = h && h.samples;
  const kfi = cols ? last(cols.keyframe_interval_ms) : null;
  const res = s.width && s.height ? `${s.width}×${s.height}` : '–';
  return html`<article class="stream" data-stream=${streamKey(s.app, s.stream)}>
    <h2><a href=${streamHref(s.app, s.stream)}>${s.app}/${s.stream}</a>
      ${s.source_lost ? html` <span class="tag bad">source lost</span>` : null}</h2>
    <dl class="figures">
      <div><dt>Video</dt><dd>${s.video_codec || '–'} ${res}</dd></div>
      <div><dt>Frame rate</dt><dd>${s.fps !== null ? s.fps + ' fps' : '–'}</dd></div>
      <div><dt>Keyframe every</dt><dd>${kfi ? (kfi / 1000).toFixed(1) + ' s' : '–'}</dd></div>
      <div><dt>Video bitrate</dt><dd>${cols ? kbps(last(cols.video_kbps)) : '–'}</dd></div>
      <div><dt>Audio</dt><dd>${s.audio_codec ? `${s.audio_codec} ${s.sample_rate || ''} Hz` : 'none'}</dd></div>
      <div><dt>Audio bitrate</dt><dd>${cols ? kbps(last(cols.audio_kbps)) : '–'}</dd></div>
      <div><dt>Viewers</dt><dd>${s.viewers}</dd></div>
      <div><dt>Ingest delay</dt><dd>${delay(s.ingest_delay_ms)}</dd></div>
      <div><dt>Distribution delay</dt><dd>${delay(s.distribution_delay_ms)}</dd></div>
    </dl>
    ${h ? html`<${Verdicts} list=${h.verdicts} />` : null}
    ${charts && h ? html`<${StreamCharts} h=${h} id=${streamKey(s.app, s.stream)} />` : null}
  </article>`;
}

export function Streams() {
  const [list, err] = usePoll(() => api('/api/v1/streams'), 2000);
  const streams = list ? list.streams.filter((s) => s.publishing) : [];
  return html`<section>
    <h1>Streams</h1>
    ${err ? html`<p class="error">${err}</p>` : null}
    ${list && !streams.length ? html`<p class="muted">No live stream. Publish to rtmp://this-host/app/stream.</p>` : null}
    ${streams.map((s) => html`<${StreamSummary} key=${streamKey(s.app, s.stream)} s=${s} />`)}
  </section>`;
}

/** A table of connections with a kick button each; `onKick` refreshes the caller. */
export function ConnectionTable({ list, onKick, link = true }) {
  const [error, setError] = useState(null);
  const kick = (id) => api(`/api/v1/connections/${id}`, 'DELETE').then(onKick, (e) => setError(e.message));
  return html`<div>
    ${error ? html`<p class="error">${error}</p>` : null}
    <table class="list">
      <thead><tr><th>id</th><th>peer</th><th>role</th><th>stream</th><th>for</th><th>in</th><th>out</th><th>lag</th><th></th></tr></thead>
      <tbody>${list.map((c) => html`<tr data-conn=${c.conn_id}>
        <td>${link ? html`<a href=${'#/connections/' + c.conn_id}>${c.conn_id}</a>` : c.conn_id}</td>
        <td>${c.peer}</td><td>${c.role}</td>
        <td>${c.app ? c.app + '/' + (c.stream || '') : '–'}</td>
        <td>${duration(c.connected_for_secs)}</td>
        <td>${kbps(c.bitrate_in_kbps)}</td><td>${kbps(c.bitrate_out_kbps)}</td>
        <td>${c.lag_ms} ms</td>
        <td><button class="danger" data-kick=${c.conn_id} onClick=${() => kick(c.conn_id)}>Kick</button></td>
      </tr>`)}</tbody>
    </table>
  </div>`;
}

export function Connections({ selected }) {
  const [list, err, refresh] = usePoll(() => api('/api/v1/connections'), 2000);
  const conns = list ? list.connections : [];
  const one = selected && conns.find((c) => String(c.conn_id) === selected);
  return html`<section>
    <h1>Connections</h1>
    ${err ? html`<p class="error">${err}</p>` : null}
    ${one ? html`<div class="detail" data-detail=${one.conn_id}>
      <h2>Connection ${one.conn_id}</h2>
      <dl class="figures">${Object.entries(one).map(([k, v]) =>
        html`<div><dt>${k}</dt><dd>${v === null ? '–' : String(v)}</dd></div>`)}</dl>
      ${one.app && one.stream ? html`<p><a href=${streamHref(one.app, one.stream)}>Open stream ${one.app}/${one.stream}</a></p>` : null}
    </div>` : selected && list ? html`<p class="muted">Connection ${selected} is closed.</p>` : null}
    ${list ? html`<${ConnectionTable} list=${conns} onKick=${refresh} />` : html`<p class="muted">Loading…</p>`}
    ${list && !conns.length ? html`<p class="muted">No connection.</p>` : null}
  </section>`;
}

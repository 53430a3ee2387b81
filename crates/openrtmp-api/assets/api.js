// The API client: the token (this tab's sessionStorage, sent as a Bearer header, never in a
// URL), JSON requests, the live history store fed by /api/v1/events, small formatters.
import { useState, useEffect } from './vendor/htm/preact-htm.module.js';

const KEY = 'openrtmp.api_token';
export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => (t ? sessionStorage.setItem(KEY, t) : sessionStorage.removeItem(KEY)),
};

export class Unauthorized extends Error {}
const unauthorized = new Set();
/** Calls `f` whenever the API answers 401; returns the unsubscribe function. */
export function onUnauthorized(f) {
  unauthorized.add(f);
  return () => unauthorized.delete(f);
}

function headers(json) {
  const h = {};
  const t = token.get();
  if (t) h.Authorization = 'Bearer ' + t;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

/** `{status, body}` for any answer but 401 (which signs out). */
export async function request(path, method = 'GET', body) {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    unauthorized.forEach((f) => f());
    throw new Unauthorized('sign-in needed');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { error: text }; }
  return { status: res.status, body: json };
}

/** The JSON body of a successful answer; throws with the API's error message otherwise. */
export async function api(path, method = 'GET', body) {
  const r = await request(path, method, body);
  if (r.status >= 400) throw new Error((r.body && r.body.error) || 'HTTP ' + r.status);
  return r.body;
}

/** Polls `fn` every `ms` while mounted: `[value, error, refresh]`. */
export function usePoll(fn, ms, deps = []) {
  const [state, set] = useState({ value: undefined, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () => fn().then(
      (value) => live && set({ value, error: null }),
      (e) => live && !(e instanceof Unauthorized) && set((s) => ({ value: s.value, error: e.message })));
    run();
    const id = setInterval(run, ms);
    return () => { live = false; clearInterval(id); };
  }, [...deps, tick]);
  return [state.value, state.error, () => setTick((t) => t + 1)];
}

// ---- the history store ------------------------------------------------------------------

const CAPACITY = 900;
export const store = { server: null, streams: new Map(), listeners: new Set() };
const loading = new Set();

function changed() { store.listeners.forEach((f) => f()); }

/** Re-renders the caller on every store change. */
export function useStore() {
  const [, set] = useState(0);
  useEffect(() => {
    const f = () => set((v) => v + 1);
    store.listeners.add(f);
    return () => store.listeners.delete(f);
  }, []);
  return store;
}

export const streamKey = (app, name) => app + '/' + name;

/** Appends the one-sample columns `add` to `cols`, keeping the last CAPACITY samples. */
function append(cols, add) {
  const last = cols.at_ms[cols.at_ms.length - 1];
  if (!add.at_ms.length || (last !== undefined && add.at_ms[0] <= last)) return;
  for (const k of Object.keys(add)) {
    if (!cols[k]) continue;
    cols[k].push(...add[k]);
    if (cols[k].length > CAPACITY) cols[k].splice(0, cols[k].length - CAPACITY);
  }
}

/** Loads a stream's whole history once (its charts are full at once). */
export function ensureHistory(app, name) {
  const key = streamKey(app, name);
  if (store.streams.has(key) || loading.has(key)) return;
  loading.add(key);
  api(`/api/v1/streams/${encodeURIComponent(app)}/${encodeURIComponent(name)}/history`)
    .then((h) => { store.streams.set(key, h); changed(); })
    .catch(() => {})
    .finally(() => loading.delete(key));
}

function onSample(ev) {
  if (store.server) append(store.server, ev.server);
  const seen = new Set();
  for (const s of ev.streams) {
    const key = streamKey(s.app, s.stream);
    seen.add(key);
    const have = store.streams.get(key);
    if (have) {
      append(have.samples, s.samples);
      have.verdicts = s.verdicts;
    } else {
      ensureHistory(s.app, s.stream);
    }
  }
  for (const key of [...store.streams.keys()]) if (!seen.has(key)) store.streams.delete(key);
  changed();
}

/** Parses a server-sent event stream from a fetch body (EventSource cannot send headers). */
async function readEvents(res, signal) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (data) onSample(JSON.parse(data));
    }
  }
}

/** Loads the server history and follows /api/v1/events until the returned stop is called. */
export function startEvents() {
  const ctl = new AbortController();
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const h = await api('/api/v1/history');
        store.server = h.samples;
        changed();
        const res = await fetch('/api/v1/events', { headers: headers(false), signal: ctl.signal });
        if (res.status === 401) { unauthorized.forEach((f) => f()); return; }
        if (res.ok) await readEvents(res, ctl.signal);
      } catch (e) {
        if (ctl.signal.aborted || e instanceof Unauthorized) return;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return () => ctl.abort();
}

// ---- formatting ---------------------------------------------------------------------------

export const last = (arr) => (arr && arr.length ? arr[arr.length - 1] : null);
export function kbps(v) {
  if (v === null || v === undefined) return '–';
  return v >= 1000 ? (v / 1000).toFixed(2) + ' Mbit/s' : v.toFixed(0) + ' kbit/s';
}
export function ms(v) { return v === null || v === undefined ? '–' : v.toFixed(v < 10 ? 1 : 0) + ' ms'; }
export function duration(secs) {
  if (secs === null || secs === undefined) return '–';
  const s = Math.floor(secs);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + (s % 60) + 's';
}
export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}

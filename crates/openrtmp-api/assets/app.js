// The OpenRTMP dashboard: a single-page app with hash routes (#/, #/streams,
// #/stream/{app}/{stream}, #/connections[/{id}], #/recordings) over the HTTP API. No build step: ES
// modules and htm templates.
import { html, render, useState, useEffect } from './vendor/htm/preact-htm.module.js';
import { api, token, onUnauthorized, startEvents, Unauthorized } from './api.js';
import { Overview, Streams, Connections } from './pages.js';
import { StreamPage } from './stream.js';
import { Recordings } from './recordings.js';

function useRoute() {
  const [hash, set] = useState(location.hash || '#/');
  useEffect(() => {
    const f = () => set(location.hash || '#/');
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

function SignIn({ onDone, failed }) {
  const [value, setValue] = useState('');
  const submit = (e) => { e.preventDefault(); token.set(value.trim()); onDone(); };
  return html`<form class="signin" onSubmit=${submit}>
    <h1>OpenRTMP</h1>
    <p>This server's API needs its token (<code>api.token</code> in the configuration).</p>
    ${failed ? html`<p class="error">That token was refused.</p>` : null}
    <input type="password" id="token" autocomplete="current-password" placeholder="API token"
      value=${value} onInput=${(e) => setValue(e.target.value)} required />
    <button type="submit">Sign in</button>
    <p class="muted">The token stays in this tab (session storage) until you sign out.</p>
  </form>`;
}

const PAGES = [['#/', 'Overview'], ['#/streams', 'Streams'], ['#/connections', 'Connections'], ['#/recordings', 'Recordings']];

function App() {
  const route = useRoute();
  const [auth, setAuth] = useState('checking');
  const [failed, setFailed] = useState(false);
  useEffect(() => onUnauthorized(() => { setFailed(!!token.get()); setAuth('needed'); }), []);
  useEffect(() => {
    if (auth !== 'checking') return;
    api('/api/v1/server').then(() => setAuth('ok'), (e) => setAuth(e instanceof Unauthorized ? 'needed' : 'ok'));
  }, [auth]);
  useEffect(() => (auth === 'ok' ? startEvents() : undefined), [auth]);
  if (auth === 'needed') return html`<${SignIn} failed=${failed} onDone=${() => setAuth('checking')} />`;
  if (auth === 'checking') return html`<p class="muted pad">Loading…</p>`;
  const parts = route.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let page;
  if (parts[0] === 'streams') page = html`<${Streams} />`;
  else if (parts[0] === 'stream' && parts.length >= 3) page = html`<${StreamPage} key=${route} app=${parts[1]} name=${parts.slice(2).join('/')} />`;
  else if (parts[0] === 'recordings') page = html`<${Recordings} />`;
  else if (parts[0] === 'connections') page = html`<${Connections} selected=${parts[1]} />`;
  else page = html`<${Overview} />`;
  const active = '#/' + (parts[0] === 'stream' ? 'streams' : parts[0]);
  const signOut = () => { token.set(null); setFailed(false); setAuth('needed'); };
  return html`<header>
      <a class="brand" href="#/">OpenRTMP</a>
      <nav>${PAGES.map(([href, label]) => html`<a href=${href} class=${href === active ? 'active' : ''}>${label}</a>`)}<a href="/studio">Studio</a></nav>
      ${token.get() ? html`<button class="link" onClick=${signOut}>Sign out</button>` : null}
    </header>
    <main>${page}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));

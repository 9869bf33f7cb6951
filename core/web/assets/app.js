// The Patchbay workspace: routing, sign-in, the top bar, the live event
// stream and the inbox. Ticket and admin pages are in their own modules.
import { api, get, qs, setCSRF, APIError, onReachability } from './api.js';
import { h, replace, when, toast, banner, field } from './dom.js';
import { ticketPage } from './ticket.js';
import { adminPage } from './admin.js';

/** state shared by the pages. */
export const app = {
  me: null,          // the signed-in user
  role: '',          // agent | admin
  features: { search: true, count: true, presence: true },
  onEvent: null,     // the current page's event handler
  onReconnect: null, // the current page's refresh when the stream (re)connects
  cleanup: [],       // functions to run when leaving the page
  users: new Map(),  // id -> user promise
};

const main = () => document.getElementById('main');

/** user returns (cached) the user with that id. */
export function user(id) {
  if (!id) return Promise.resolve(null);
  if (!app.users.has(id)) {
    app.users.set(id, get('/api/v1/users/' + id).catch(() => null));
  }
  return app.users.get(id);
}

/** navigate goes to a path inside the workspace without a reload. */
export function navigate(path, replaceState = false) {
  if (replaceState) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('/api/') || a.hasAttribute('download') || a.target) return;
  ev.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', () => route());

// ---- start-up and session ----

async function start() {
  onReachability((ok) => {
    if (!ok) banner('The Patchbay server cannot be reached. Your work is kept on this page; retrying…');
    else banner('');
  });
  let s;
  try {
    s = await get('/api/v1/session');
  } catch (e) {
    if (e.status === 0) {
      replace(main(), h('div', { class: 'narrow' },
        h('h1', { text: 'Patchbay is unreachable' }),
        h('p', { text: 'The workspace could not reach the Patchbay server. Check that it is running and that you are on the right network.' }),
        h('button', { type: 'button', onclick: () => location.reload(), text: 'Try again' })));
      setTimeout(start, 5000);
      return;
    }
    signInPage();
    return;
  }
  signedIn(s);
}

function signedIn(s) {
  setCSRF(s.csrf_token);
  app.me = s.user;
  app.role = s.role;
  app.users.set(s.user.id, Promise.resolve(s.user));
  topbar();
  stream.start();
  probeFeatures();
  if (location.pathname === '/signin') navigate('/', true);
  else route();
}

async function probeFeatures() {
  try { await get('/api/v1/search?q=a&limit=1'); } catch (e) { if (e.status === 404 || e.status === 405) app.features.search = false; }
  const box = document.getElementById('search-form');
  if (box) box.hidden = !app.features.search;
}

function signInPage() {
  document.getElementById('topbar').hidden = true;
  history.replaceState(null, '', '/signin');
  const err = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  err.hidden = true;
  const show = (e) => { err.textContent = e.message; err.hidden = false; };
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const submit = (body) => async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    try {
      const { data } = await api('POST', '/api/v1/session', { body: body() });
      signedIn(data);
    } catch (e) {
      show(e);
    }
  };
  replace(main(), h('div', { class: 'narrow signin' },
    h('h1', { text: 'Sign in to Patchbay' }),
    err,
    h('form', { id: 'password-form', 'aria-labelledby': 'pw-h', onsubmit: submit(() => ({ email: email.value, password: password.value })) },
      h('h2', { id: 'pw-h', text: 'With your email and password' }),
      field('Email', email), field('Password', password),
      h('button', { type: 'submit', class: 'primary', text: 'Sign in' })),
    h('form', { id: 'token-form', 'aria-labelledby': 'tk-h', onsubmit: submit(() => ({ token: token.value })) },
      h('h2', { id: 'tk-h', text: 'Sign in with an API token' }),
      field('API token', token, 'The development admin token printed by make run works here.'),
      h('button', { type: 'submit', text: 'Sign in' }))));
  email.focus();
}

async function signOut() {
  try { await api('DELETE', '/api/v1/session'); } catch (e) { if (e.status !== 401) { toast(e.message); return; } }
  stream.stop();
  stream.lastId = '';
  setCSRF('');
  app.me = null;
  app.users.clear();
  signInPage();
}

function topbar() {
  const bar = document.getElementById('topbar');
  const q = h('input', { type: 'search', name: 'q', id: 'search', placeholder: 'Search tickets (status:open tag:vpn …)', autocomplete: 'off' });
  const form = h('form', { id: 'search-form', role: 'search', class: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const v = q.value.trim();
    navigate(v ? '/' + qs({ q: v }) : '/');
  } }, h('label', { for: 'search', class: 'sr-only', text: 'Search' }), q);
  form.hidden = !app.features.search;
  replace(bar,
    h('nav', { 'aria-label': 'Main' },
      h('a', { href: '/', class: 'brand', text: 'Patchbay' }),
      h('a', { href: '/', text: 'Inbox' }),
      app.role === 'admin' ? h('a', { href: '/admin', text: 'Admin' }) : null),
    form,
    h('div', { class: 'me' },
      h('span', { id: 'live', class: 'live', title: 'Live updates', text: '●' }),
      h('span', { class: 'who', text: app.me.name || app.me.email || 'Signed in' }),
      h('button', { type: 'button', onclick: signOut, text: 'Sign out' })));
  bar.hidden = false;
}

// ---- the event stream ----

const eventTypes = ['ticket.created', 'ticket.updated', 'comment.created', 'comment.updated',
  'delivery.updated', 'user.updated', 'presence.updated'];

const stream = {
  es: null,
  retry: 0,
  lastId: '',   // the id of the last event received: where a new stream resumes
  opened: false,
  start() {
    this.stop();
    // A new EventSource resumes after the last event this page received
    // (?after=), so nothing is missed even when the browser gave up on the
    // old one; the browser's own reconnections send Last-Event-ID.
    const es = new EventSource('/api/v1/events' + (this.lastId ? '?after=' + encodeURIComponent(this.lastId) : ''));
    this.es = es;
    this.opened = false;
    const live = () => document.getElementById('live');
    es.onopen = () => {
      this.opened = true;
      live()?.classList.add('on');
      live()?.setAttribute('title', 'Live updates: connected');
      // Changes made while the stream was not connected (before the first
      // connection, or past a resume point the server no longer had) are
      // not replayed: the page reloads what it shows.
      if (app.onReconnect) app.onReconnect();
    };
    es.onerror = () => {
      live()?.classList.remove('on');
      live()?.setAttribute('title', 'Live updates: reconnecting');
      // Tell a network drop (banner) from a refused stream.
      get('/api/v1/session').catch(() => {});
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up: the server refused the stream (signed out,
        // or a resume point it no longer has), or it was unreachable. Check
        // the session, then start again; a refused resume point is dropped.
        clearTimeout(this.retry);
        this.retry = setTimeout(async () => {
          try {
            await get('/api/v1/session');
          } catch (e) {
            if (e.status === 401) { signInPage(); return; }
            if (e.status === 0) { this.start(); return; } // still unreachable: keep the resume point
          }
          // The server answers but refused this stream before it opened:
          // its resume point is gone (410), start from now (and reload).
          if (!this.opened) this.lastId = '';
          this.start();
        }, 3000);
      }
    };
    for (const t of eventTypes) {
      es.addEventListener(t, (m) => {
        if (m.lastEventId) this.lastId = m.lastEventId;
        let ev;
        try { ev = JSON.parse(m.data); } catch { return; }
        if (t === 'user.updated' && ev.data) app.users.set(ev.data.id, Promise.resolve(ev.data));
        if (app.onEvent) app.onEvent(ev);
      });
    }
  },
  stop() {
    clearTimeout(this.retry);
    if (this.es) this.es.close();
    this.es = null;
  },
};

// ---- routing ----

function route() {
  if (!app.me) return;
  for (const fn of app.cleanup.splice(0)) fn();
  app.onEvent = null;
  app.onReconnect = null;
  const p = location.pathname;
  let m;
  if ((m = p.match(/^\/tickets\/(\d+)$/))) {
    ticketPage(main(), Number(m[1]));
  } else if ((m = p.match(/^\/admin(?:\/([a-z_]+))?$/))) {
    adminPage(main(), m[1] || 'channels');
  } else {
    inboxPage(main());
  }
  document.getElementById('main').focus({ preventScroll: true });
}

// ---- the inbox ----

/** Built-in views: each lists tickets through search when the server has it, else through list filters. */
function builtinViews() {
  const me = app.me ? app.me.id : 0;
  return [
    { id: 'unassigned', title: 'Unassigned', search: 'assignee:none status<solved', lists: [{ status: 'new' }] },
    { id: 'mine', title: 'My open tickets', search: 'assignee:me status<solved', lists: [{ status: 'open', assignee_id: me }, { status: 'pending', assignee_id: me }] },
    { id: 'open', title: 'All open', search: 'status<solved', lists: [{ status: 'new' }, { status: 'open' }] },
    { id: 'pending', title: 'Pending', lists: [{ status: 'pending' }] },
    { id: 'solved', title: 'Recently solved', lists: [{ status: 'solved' }] },
  ];
}

const byUpdated = (a, b) => (b.updated_at || '').localeCompare(a.updated_at || '') || b.id - a.id;

/** fetchView returns {tickets, next} for a view; next() loads the following page or is null. */
async function fetchView(v, limit = 50) {
  if (v.rule) {
    const page = async (cursor) => {
      const d = await get(`/api/v1/views/${v.rule}/tickets` + qs({ limit, cursor }));
      return { tickets: d.tickets, next: d.next_cursor ? () => page(d.next_cursor) : null };
    };
    return page();
  }
  if (v.q !== undefined || (v.search && app.features.search)) {
    const q = v.q !== undefined ? v.q : v.search;
    const page = async (cursor) => {
      const d = await get('/api/v1/search' + qs({ q, limit, cursor, sort: v.q !== undefined ? '' : 'updated_at' }));
      return { tickets: d.tickets, next: d.next_cursor ? () => page(d.next_cursor) : null };
    };
    return page();
  }
  if (v.lists.length === 1) {
    const page = async (cursor) => {
      const d = await get('/api/v1/tickets' + qs({ ...v.lists[0], limit, cursor }));
      return { tickets: d.tickets, next: d.next_cursor ? () => page(d.next_cursor) : null };
    };
    return page();
  }
  const pages = await Promise.all(v.lists.map((l) => get('/api/v1/tickets' + qs({ ...l, limit }))));
  return { tickets: pages.flatMap((d) => d.tickets).sort(byUpdated), next: null };
}

/** countView returns a view's ticket count as text ("12", "100+"). */
async function countView(v) {
  if (!v.rule && !(v.search && app.features.search) && app.features.count) {
    try {
      const ns = await Promise.all(v.lists.map((l) => get('/api/v1/tickets/count' + qs(l))));
      return String(ns.reduce((a, d) => a + (d.count || 0), 0));
    } catch (e) {
      if (e.status !== 404 && e.status !== 405 && e.status !== 422) throw e;
      app.features.count = false;
    }
  }
  const { tickets, next } = await fetchView(v, 100);
  return tickets.length + (next ? '+' : '');
}

let inboxSel = -1;

async function inboxPage(root) {
  const params = new URLSearchParams(location.search);
  const q = params.get('q') || null;
  const views = builtinViews();
  let rules = [];
  try {
    rules = ((await get('/api/v1/views')).views || []).filter((r) => r.active)
      .map((r) => ({ id: 'view-' + r.id, title: r.title, rule: r.id }));
  } catch { /* rules disabled or not allowed: built-in views only */ }
  const all = views.concat(rules);
  let current = q !== null ? { id: 'search', title: 'Search: ' + q, q } : (all.find((v) => v.id === params.get('view')) || all[2]);
  const searchInput = document.getElementById('search');
  if (searchInput) searchInput.value = q || '';

  const counts = new Map();
  const nav = h('nav', { class: 'views', 'aria-label': 'Views' });
  const heading = h('h1', { id: 'list-h', text: current.title });
  const list = h('ul', { class: 'tickets', 'aria-labelledby': 'list-h', id: 'ticket-list' });
  const more = h('button', { type: 'button', class: 'more', hidden: true, text: 'Load more' });
  const note = h('p', { class: 'muted', role: 'status' });
  replace(root, h('div', { class: 'inbox' }, nav, h('section', { class: 'list' }, heading, note, list, more)));

  const drawNav = () => {
    replace(nav, h('h2', { class: 'sr-only', text: 'Views' }), h('ul', {}, all.map((v) => h('li', {},
      h('a', { href: '/?view=' + v.id, 'aria-current': v.id === current.id ? 'page' : false },
        h('span', { text: v.title }), h('span', { class: 'count', 'aria-label': (counts.get(v.id) || '…') + ' tickets', text: counts.get(v.id) || '…' }))))));
  };
  const refreshCounts = async () => {
    await Promise.all(all.map(async (v) => {
      try { counts.set(v.id, await countView(v)); } catch { counts.set(v.id, '?'); }
    }));
    drawNav();
  };
  drawNav();

  const requesters = async (tickets) => {
    for (const t of tickets) user(t.requester_id);
  };
  const row = (t) => {
    const who = h('span', { class: 'req' });
    user(t.requester_id).then((u) => { who.textContent = u ? (u.name || u.email || 'User ' + u.id) : ''; });
    return h('li', { class: 'row', 'data-id': t.id },
      h('span', { class: 'badge s-' + t.status, text: t.status }),
      h('a', { href: '/tickets/' + t.id, class: 'subject' }, h('span', { class: 'id', text: '#' + t.id + ' ' }), t.subject || '(no subject)'),
      t.match && t.match.snippet ? h('span', { class: 'snippet', text: t.match.snippet }) : null,
      who,
      h('span', { class: 'chan', text: t.channel || t.via }),
      t.priority ? h('span', { class: 'prio p-' + t.priority, text: t.priority }) : null,
      when(t.updated_at));
  };
  let nextPage = null;
  const load = async () => {
    try {
      const { tickets, next } = await fetchView(current);
      requesters(tickets);
      replace(list, tickets.map(row));
      note.textContent = tickets.length ? '' : 'No tickets here.';
      nextPage = next;
      more.hidden = !next;
      select(Math.min(inboxSel, tickets.length - 1));
    } catch (e) {
      note.textContent = e.message;
      if (e.status === 422 && current.q !== undefined) note.textContent = 'Search: ' + e.message;
    }
  };
  more.addEventListener('click', async () => {
    if (!nextPage) return;
    const { tickets, next } = await nextPage();
    for (const t of tickets) list.appendChild(row(t));
    nextPage = next;
    more.hidden = !next;
  });
  const select = (i) => {
    const rows = list.querySelectorAll('li.row');
    rows.forEach((r) => r.classList.remove('selected'));
    inboxSel = i;
    if (i >= 0 && rows[i]) {
      rows[i].classList.add('selected');
      rows[i].querySelector('a').focus();
    }
  };
  app.inboxMove = (d) => {
    const n = list.querySelectorAll('li.row').length;
    if (!n) return;
    select(Math.max(0, Math.min(n - 1, inboxSel + d)));
  };
  app.cleanup.push(() => { app.inboxMove = null; });

  let timer = 0;
  app.onEvent = (ev) => {
    if (!ev.type.startsWith('ticket.') && ev.type !== 'comment.created') return;
    clearTimeout(timer);
    timer = setTimeout(() => { load(); refreshCounts(); }, 250);
  };
  app.cleanup.push(() => clearTimeout(timer));
  app.onReconnect = () => { load(); refreshCounts(); };
  inboxSel = -1;
  await load();
  refreshCounts();
}

// ---- keyboard shortcuts ----

const shortcuts = [
  ['j / k', 'next / previous ticket in the list'],
  ['Enter', 'open the selected ticket'],
  ['r', 'reply to the open ticket'],
  ['n', 'write an internal note'],
  ['/', 'search'],
  ['g i', 'go to the inbox'],
  ['?', 'show these shortcuts'],
];

let gPressed = false;
document.addEventListener('keydown', (ev) => {
  if (!app.me || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t.closest && t.closest('input, textarea, select, [contenteditable]')) {
    if (ev.key === 'Escape') t.blur();
    return;
  }
  if (gPressed) {
    gPressed = false;
    if (ev.key === 'i') { ev.preventDefault(); navigate('/'); }
    return;
  }
  switch (ev.key) {
    case 'j': if (app.inboxMove) { ev.preventDefault(); app.inboxMove(1); } break;
    case 'k': if (app.inboxMove) { ev.preventDefault(); app.inboxMove(-1); } break;
    case '/': {
      const s = document.getElementById('search');
      if (s && !document.getElementById('search-form').hidden) { ev.preventDefault(); s.focus(); }
      break;
    }
    case 'r': if (app.compose) { ev.preventDefault(); app.compose(false); } break;
    case 'n': if (app.compose) { ev.preventDefault(); app.compose(true); } break;
    case 'g': gPressed = true; setTimeout(() => { gPressed = false; }, 1000); break;
    case '?': ev.preventDefault(); showShortcuts(); break;
    default:
  }
});

function showShortcuts() {
  const d = h('dialog', { class: 'shortcuts', 'aria-labelledby': 'sc-h' },
    h('h2', { id: 'sc-h', text: 'Keyboard shortcuts' }),
    h('dl', {}, shortcuts.map(([k, v]) => [h('dt', {}, h('kbd', { text: k })), h('dd', { text: v })])),
    h('form', { method: 'dialog' }, h('button', { type: 'submit', text: 'Close' })));
  d.addEventListener('close', () => d.remove());
  document.body.appendChild(d);
  d.showModal();
}

export { APIError, toast };

start();

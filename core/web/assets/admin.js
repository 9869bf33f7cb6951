// Admin pages: channels, agents and passwords, API tokens, and the business
// rules (listed, switched on and off, edited as validated JSON).
import { api, get, qs } from './api.js';
import { h, replace, when, toast, field } from './dom.js';
import { app } from './app.js';

const sections = [
  ['channels', 'Channels'], ['agents', 'Agents'], ['tokens', 'API tokens'],
  ['triggers', 'Triggers'], ['automations', 'Automations'], ['macros', 'Macros'], ['views', 'Views'], ['webhooks', 'Webhooks'],
];

/** adminPage renders the admin section into root. */
export async function adminPage(root, section) {
  if (app.role !== 'admin') {
    replace(root, h('div', { class: 'narrow' }, h('h1', { text: 'Admin' }), h('p', { text: 'Only administrators can open these pages.' })));
    return;
  }
  const body = h('section', { class: 'admin-body', 'aria-live': 'polite' });
  replace(root, h('div', { class: 'admin' },
    h('nav', { class: 'views', 'aria-label': 'Admin sections' }, h('ul', {}, sections.map(([id, title]) =>
      h('li', {}, h('a', { href: '/admin/' + id, 'aria-current': id === section ? 'page' : false, text: title }))))),
    body));
  const err = (e) => replace(body, h('p', { class: 'error', role: 'alert', text: e.message }));
  try {
    switch (section) {
      case 'channels': await channels(body); break;
      case 'agents': await agentsSection(body); break;
      case 'tokens': await tokens(body); break;
      case 'webhooks': await rulesSection(body, 'webhooks', 'Webhooks', (w) => ({ name: w.name, url: w.url, active: w.active })); break;
      default:
        if (['triggers', 'automations', 'macros', 'views'].includes(section)) {
          await rulesSection(body, section, sections.find((s) => s[0] === section)[1],
            (r) => ({ title: r.title, description: r.description || '', active: r.active, position: r.position, conditions: r.conditions, actions: r.actions }));
        } else {
          replace(body, h('p', { text: 'No such section.' }));
        }
    }
  } catch (e) { err(e); }
}

async function channels(body) {
  const draw = async () => {
    const d = await get('/api/v1/channels');
    replace(body, h('h1', { text: 'Channels' }),
      d.channels.length ? h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'Plugin', 'Process', 'Provider', 'Restarts', 'Last error'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, d.channels.map((c) => h('tr', {},
          h('th', { scope: 'row', text: c.name }), h('td', { text: c.plugin }),
          h('td', {}, h('span', { class: 'badge st-' + c.state, text: c.state })),
          h('td', { text: (c.status && (c.status.state + (c.status.message ? ': ' + c.status.message : ''))) || '—' }),
          h('td', { text: String(c.restarts || 0) }), h('td', { text: c.last_error || '' })))))
        : h('p', { text: 'No channels are configured. Add a channel block to the configuration file and restart.' }),
      h('p', { class: 'muted', text: 'Plugins are restarted by the core when they fail; this page refreshes every 10 seconds.' }));
  };
  await draw();
  const t = setInterval(() => draw().catch(() => {}), 10000);
  app.cleanup.push(() => clearInterval(t));
}

async function listUsers(role) {
  const out = [];
  let cursor = '';
  do {
    const d = await get('/api/v1/users' + qs({ role, limit: 100, cursor }));
    out.push(...d.users);
    cursor = d.next_cursor;
  } while (cursor && out.length < 1000);
  return out;
}

async function agentsSection(body) {
  const users = (await listUsers('agent')).concat(await listUsers('admin'));
  const rows = users.map((u) => {
    const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: 10, required: true });
    const form = h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('PUT', `/api/v1/users/${u.id}/password`, { body: { password: pw.value } });
        pw.value = '';
        toast(`Password set for ${u.name || u.email}`);
      } catch (e) { toast(e.message); }
    } }, field(`New password for ${u.name || u.email}`, pw), h('button', { type: 'submit', text: 'Set password' }));
    const off = h('button', { type: 'button', text: 'Deactivate', 'aria-label': `Deactivate ${u.name || u.email}`, onclick: async () => {
      if (!confirm(`Deactivate ${u.name || u.email}? Their password is removed and their API tokens are revoked: they can no longer sign in, and their sessions end now.`)) return;
      try {
        try { await api('DELETE', `/api/v1/users/${u.id}/password`); } catch (e) { if (e.status !== 404) throw e; }
        const { tokens } = await get('/api/v1/tokens');
        for (const t of tokens.filter((t) => t.user_id === u.id && !t.revoked_at)) {
          await api('DELETE', '/api/v1/tokens/' + t.id);
        }
        toast(`${u.name || u.email} deactivated`);
      } catch (e) { toast(e.message); }
    } });
    return h('tr', {}, h('th', { scope: 'row', text: u.name }), h('td', { text: u.email || '' }), h('td', { text: u.role }), h('td', {}, form, off));
  });
  const name = h('input', { type: 'text', required: true });
  const email = h('input', { type: 'email', required: true });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: 10, required: true });
  const add = h('form', { class: 'card', 'aria-labelledby': 'add-h', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      // The agent signs in with this password; no API token is made.
      await api('POST', '/api/v1/users', { body: { name: name.value, email: email.value, password: pw.value }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      toast('Agent added');
      agentsSection(body);
    } catch (e) { toast(e.message); }
  } }, h('h2', { id: 'add-h', text: 'Add an agent' }), field('Name', name), field('Email', email), field('Password', pw), h('button', { type: 'submit', text: 'Add agent' }));
  replace(body, h('h1', { text: 'Agents' }),
    h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Email', 'Role', 'Sign-in'].map((t) => h('th', { scope: 'col', text: t })))), h('tbody', {}, rows)),
    add);
}

async function tokens(body) {
  const d = await get('/api/v1/tokens');
  const shown = h('div', { class: 'secret', role: 'status' });
  const name = h('input', { type: 'text', required: true });
  const email = h('input', { type: 'email', required: true });
  const desc = h('input', { type: 'text' });
  const role = h('select', {}, h('option', { value: 'agent', text: 'agent' }), h('option', { value: 'admin', text: 'admin' }));
  const create = h('form', { class: 'card', 'aria-labelledby': 'tok-h', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/tokens', { body: { name: name.value, email: email.value, description: desc.value, role: role.value }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      await tokens(body);
      body.prepend(h('div', { class: 'secret', role: 'status' }, h('p', { text: 'The new token is shown once. Store it now:' }), h('code', { text: r.data.token })));
    } catch (e) { toast(e.message); }
  } }, h('h2', { id: 'tok-h', text: 'Create a token' }), field('Agent name', name), field('Agent email', email), field('Description', desc), field('Role', role), h('button', { type: 'submit', text: 'Create token' }));
  replace(body, shown, h('h1', { text: 'API tokens' }),
    h('table', {}, h('thead', {}, h('tr', {}, ['Id', 'User', 'Role', 'Description', 'Created', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, d.tokens.map((t) => h('tr', {}, h('th', { scope: 'row', text: String(t.id) }), h('td', { text: 'user ' + t.user_id }), h('td', { text: t.role }),
        h('td', { text: t.description || '' }), h('td', {}, when(t.created_at)),
        h('td', {}, t.revoked_at ? h('span', { class: 'muted', text: 'revoked' }) : h('button', { type: 'button', text: 'Revoke', onclick: async () => {
          if (!confirm(`Revoke token ${t.id}? Programs and sessions using it stop working at once.`)) return;
          try { await api('DELETE', '/api/v1/tokens/' + t.id); await tokens(body); } catch (e) { toast(e.message); }
        } })))))),
    create);
}

async function rulesSection(body, kind, title, editable) {
  const d = await get('/api/v1/' + kind);
  const items = d[kind] || [];
  const editor = h('div', { class: 'editor' });
  const open = (item) => {
    const ta = h('textarea', { rows: 16, spellcheck: 'false', class: 'json' });
    ta.value = JSON.stringify(item ? editable(item) : {}, null, 2);
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h('form', { 'aria-labelledby': 'ed-h', onsubmit: async (ev) => {
      ev.preventDefault();
      msg.hidden = true;
      let v;
      try { v = JSON.parse(ta.value); } catch (e) { msg.textContent = 'Not valid JSON: ' + e.message; msg.hidden = false; return; }
      try {
        if (item) await api('PUT', `/api/v1/${kind}/${item.id}`, { body: v });
        else await api('POST', '/api/v1/' + kind, { body: v, headers: { 'Idempotency-Key': crypto.randomUUID() } });
        toast('Saved');
        await rulesSection(body, kind, title, editable);
      } catch (e) { msg.textContent = (e.field ? e.field + ': ' : '') + e.message; msg.hidden = false; }
    } }, h('h2', { id: 'ed-h', text: item ? `Edit ${item.title || item.name}` : 'New' }), field('Definition (JSON)', ta), msg,
      h('button', { type: 'submit', class: 'primary', text: 'Save' }));
    replace(editor, form);
    ta.focus();
  };
  const toggle = async (item, on) => {
    // Busy until the list is drawn again from the server's answer.
    body.setAttribute('aria-busy', 'true');
    try {
      await api('PUT', `/api/v1/${kind}/${item.id}`, { body: { ...editable(item), active: on } });
      toast(on ? 'Enabled' : 'Disabled');
      await rulesSection(body, kind, title, editable);
    } catch (e) { toast(e.message); } finally { body.removeAttribute('aria-busy'); }
  };
  replace(body, h('h1', { text: title }),
    items.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Active', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, items.map((it) => {
        const cb = h('input', { type: 'checkbox', checked: it.active, 'aria-label': `${it.title || it.name} active` });
        cb.addEventListener('change', () => toggle(it, cb.checked));
        return h('tr', {}, h('th', { scope: 'row', text: it.title || it.name }), h('td', {}, cb),
          h('td', {}, h('button', { type: 'button', text: 'Edit', onclick: () => open(it) })));
      }))) : h('p', { text: 'None yet.' }),
    h('button', { type: 'button', text: 'New', onclick: () => open(null) }), editor);
}

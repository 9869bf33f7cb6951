// The ticket page: the conversation, the composer and the ticket's fields.
import { api, get, qs } from './api.js';
import { h, replace, when, fullTime, toast, field } from './dom.js';
import { app, user } from './app.js';

const statuses = ['new', 'open', 'pending', 'hold', 'solved', 'closed'];
const priorities = ['', 'low', 'normal', 'high', 'urgent'];

/** etagOf returns the ticket's version for If-Match: the "version" member, else the ETag header. */
function versionOf(res) {
  if (res.data && res.data.version !== undefined && res.data.version !== null && res.data.version !== '') return String(res.data.version);
  const tag = res.headers.get('ETag');
  return tag ? tag.replace(/^W\//, '').replace(/^"|"$/g, '') : '';
}

async function allComments(id) {
  const out = [];
  let cursor = '';
  do {
    const d = await get(`/api/v1/tickets/${id}/comments` + qs({ limit: 100, cursor }));
    out.push(...d.comments);
    cursor = d.next_cursor;
  } while (cursor);
  return out;
}

let agentsCache = null;
async function agents() {
  if (!agentsCache) {
    agentsCache = (async () => {
      const out = [];
      for (const role of ['agent', 'admin']) {
        let cursor = '';
        do {
          const d = await get('/api/v1/users' + qs({ role, limit: 100, cursor }));
          out.push(...d.users);
          cursor = d.next_cursor;
        } while (cursor && out.length < 1000);
      }
      return out.sort((a, b) => (a.name || '').localeCompare(b.name || ''));
    })().catch(() => []);
  }
  return agentsCache;
}

function deliveryBadge(d) {
  if (!d) return null;
  const label = { pending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed' }[d.status] || d.status;
  return h('span', { class: 'delivery d-' + d.status, 'data-delivery': d.status },
    label, d.status === 'failed' && d.error ? ': ' + d.error : '');
}

/** ticketPage renders ticket id into root. */
export async function ticketPage(root, id) {
  replace(root, h('p', { class: 'loading', text: 'Loading ticket #' + id + '…' }));
  let ticket;
  let version = '';
  let comments;
  try {
    const res = await api('GET', '/api/v1/tickets/' + id);
    ticket = res.data;
    version = versionOf(res);
    comments = await allComments(id);
  } catch (e) {
    replace(root, h('div', { class: 'narrow' }, h('h1', { text: e.status === 404 ? 'Ticket not found' : 'Could not load the ticket' }),
      h('p', { text: e.message }), h('a', { href: '/', text: 'Back to the inbox' })));
    return;
  }
  document.title = `#${ticket.id} ${ticket.subject} · Patchbay`;
  app.cleanup.push(() => { document.title = 'Patchbay'; app.compose = null; });

  const conflict = h('div', { class: 'conflict', role: 'alert', hidden: true });
  const title = h('h1', { class: 'ticket-title' });
  const meta = h('p', { class: 'muted ticket-meta' });
  const convo = h('ol', { class: 'conversation', 'aria-label': 'Conversation' });
  const presence = h('p', { class: 'presence', 'aria-live': 'polite' });
  const drawHeader = () => {
    replace(title, h('span', { class: 'id', text: '#' + ticket.id + ' ' }), ticket.subject || '(no subject)');
    replace(meta, h('span', { class: 'badge s-' + ticket.status, text: ticket.status }), ' via ',
      ticket.channel || ticket.via, ' · created ', fullTime(ticket.created_at), ' · updated ', when(ticket.updated_at));
  };

  // ---- the conversation ----
  const commentEl = (c) => {
    const kind = !c.public ? 'note' : (c.author_id === ticket.requester_id ? 'customer' : 'reply');
    const kindLabel = { note: 'Internal note', customer: 'Customer message', reply: 'Public reply' }[kind];
    const author = h('strong', { class: 'author' });
    user(c.author_id).then((u) => { author.textContent = u ? (u.name || u.email || 'User ' + u.id) : 'System'; });
    return h('li', { class: 'comment ' + kind, id: 'c' + c.id, 'data-comment': c.id },
      h('header', {}, author, h('span', { class: 'kind', text: kindLabel }), fullTime(c.created_at),
        kind === 'reply' ? deliveryBadge(c.delivery) : null),
      h('div', { class: 'body', text: c.body }),
      c.attachments && c.attachments.length ? h('ul', { class: 'attachments', 'aria-label': 'Attachments' },
        c.attachments.map((a) => h('li', {}, h('a', { href: '/api/v1/attachments/' + encodeURIComponent(a.id), download: a.filename, text: a.filename }),
          h('span', { class: 'muted', text: ' ' + Math.max(1, Math.round(a.size / 1024)) + ' KB' })))) : null);
  };
  const drawConversation = () => replace(convo, comments.map(commentEl));

  // ---- the composer ----
  const body = h('textarea', { name: 'body', rows: 6, required: true, placeholder: 'Write a reply to the customer…' });
  const noteToggle = h('input', { type: 'checkbox', name: 'internal', id: 'note-toggle' });
  const setStatus = h('select', { name: 'status_on_send' },
    h('option', { value: '', text: 'Keep the status' }),
    ['open', 'pending', 'hold', 'solved'].map((s) => h('option', { value: s, text: 'Set ' + s[0].toUpperCase() + s.slice(1) })));
  const files = h('input', { type: 'file', name: 'files', multiple: true });
  const sendBtn = h('button', { type: 'submit', class: 'primary', text: 'Send' });
  const composeErr = h('p', { class: 'error', role: 'alert', hidden: true });
  const composer = h('form', { class: 'composer', 'aria-label': 'Composer' },
    h('div', { class: 'field' }, h('label', { for: 'reply-body', text: 'Reply' })),
    h('label', { class: 'toggle' }, noteToggle, ' Internal note'),
    composeErr);
  body.id = 'reply-body';
  composer.querySelector('.field').appendChild(body);
  const hint = h('p', { class: 'muted note-hint', text: 'Internal note: only agents see it; nothing is sent to the customer.', hidden: true });
  composer.append(hint, h('div', { class: 'row-fields' }, field('Set status on send', setStatus), field('Attach files', files)), sendBtn);
  const setMode = () => {
    const note = noteToggle.checked;
    composer.classList.toggle('note', note);
    hint.hidden = !note;
    body.placeholder = note ? 'Write an internal note…' : 'Write a reply to the customer…';
  };
  noteToggle.addEventListener('change', setMode);
  app.compose = (note) => { noteToggle.checked = note; setMode(); body.focus(); };

  let sending = false;
  composer.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending || !body.value.trim()) return;
    sending = true;
    sendBtn.disabled = true;
    composeErr.hidden = true;
    try {
      const ids = [];
      for (const f of files.files) {
        const r = await api('POST', '/api/v1/attachments' + qs({ filename: f.name }), { raw: f, headers: { 'Content-Type': f.type || 'application/octet-stream', 'Idempotency-Key': crypto.randomUUID() } });
        ids.push(r.data.id);
      }
      const payload = { body: body.value, public: !noteToggle.checked };
      if (setStatus.value) payload.status = setStatus.value;
      if (ids.length) payload.attachment_ids = ids;
      const headers = { 'Idempotency-Key': crypto.randomUUID() };
      if (version) headers['If-Match'] = '"' + version + '"';
      const r = await api('POST', `/api/v1/tickets/${id}/comments`, { body: payload, headers });
      if (!comments.some((c) => c.id === r.data.id)) comments.push(r.data);
      drawConversation();
      body.value = '';
      files.value = '';
      setStatus.value = '';
      toast(payload.public ? 'Reply sent' : 'Note added');
      await reloadTicket();
    } catch (e) {
      if (e.status === 412) await showConflict();
      else { composeErr.textContent = e.message; composeErr.hidden = false; }
    } finally {
      sending = false;
      sendBtn.disabled = false;
    }
  });

  // ---- macros ----
  const macroBox = h('section', { class: 'macros', 'aria-labelledby': 'mac-h' });
  (async () => {
    let macros = [];
    try { macros = ((await get('/api/v1/macros')).macros || []).filter((m) => m.active); } catch { return; }
    if (!macros.length) return;
    const sel = h('select', { name: 'macro' }, h('option', { value: '', text: 'Choose a macro…' }), macros.map((m) => h('option', { value: m.id, text: m.title })));
    const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
    const apply = h('button', { type: 'button', text: 'Apply macro', disabled: true });
    sel.addEventListener('change', async () => {
      apply.disabled = !sel.value;
      replace(preview);
      if (!sel.value) return;
      try {
        const p = await get(`/api/v1/tickets/${id}/macros/${sel.value}/preview`);
        const t = p.ticket;
        replace(preview, h('p', { text: `Status ${t.status}, priority ${t.priority || 'none'}, tags ${(t.tags || []).join(', ') || 'none'}` }),
          (p.comments || []).map((c) => h('blockquote', { class: c.public ? 'reply' : 'note', text: (c.public ? 'Reply: ' : 'Note: ') + c.body })));
      } catch (e) { replace(preview, h('p', { class: 'error', text: e.message })); }
    });
    apply.addEventListener('click', async () => {
      try {
        await api('POST', `/api/v1/tickets/${id}/macros/${sel.value}`, { headers: { 'Idempotency-Key': crypto.randomUUID() } });
        sel.value = '';
        replace(preview);
        toast('Macro applied');
        comments = await allComments(id);
        drawConversation();
        await reloadTicket();
      } catch (e) { replace(preview, h('p', { class: 'error', text: e.message })); }
    });
    replace(macroBox, h('h2', { id: 'mac-h', text: 'Macros' }), field('Macro', sel), preview, apply);
  })();

  // ---- the ticket's fields ----
  const fStatus = h('select', { name: 'status' }, statuses.map((s) => h('option', { value: s, text: s })));
  const fPriority = h('select', { name: 'priority' }, priorities.map((p) => h('option', { value: p, text: p || 'none' })));
  const fAssignee = h('select', { name: 'assignee_id' }, h('option', { value: '', text: 'Unassigned' }));
  const fGroup = h('input', { type: 'text', name: 'group', autocomplete: 'off' });
  const fTags = h('input', { type: 'text', name: 'tags', autocomplete: 'off' });
  const saveBtn = h('button', { type: 'submit', text: 'Save changes' });
  const propsErr = h('p', { class: 'error', role: 'alert', hidden: true });
  const props = h('form', { class: 'props', 'aria-labelledby': 'props-h' },
    h('h2', { id: 'props-h', text: 'Ticket' }),
    field('Status', fStatus), field('Priority', fPriority), field('Assignee', fAssignee),
    field('Group', fGroup), field('Tags', fTags, 'Separated by spaces or commas'), propsErr, saveBtn);
  const tagList = (s) => s.split(/[\s,]+/).map((x) => x.trim().toLowerCase()).filter(Boolean);
  // dirty: the agent changed a field since it was filled. Live updates then
  // leave the form (and its version) alone, so that saving meets If-Match.
  let dirty = false;
  props.addEventListener('input', () => { dirty = true; });
  props.addEventListener('change', () => { dirty = true; });
  const fillProps = () => {
    dirty = false;
    fStatus.value = ticket.status;
    fStatus.disabled = ticket.status === 'closed';
    fPriority.value = ticket.priority || '';
    fAssignee.value = ticket.assignee_id ? String(ticket.assignee_id) : '';
    fGroup.value = ticket.group || '';
    fTags.value = (ticket.tags || []).join(' ');
    saveBtn.disabled = ticket.status === 'closed';
    composer.hidden = ticket.status === 'closed';
  };
  agents().then((list) => {
    for (const a of list) fAssignee.appendChild(h('option', { value: String(a.id), text: a.name || a.email }));
    if (ticket.assignee_id && !list.some((a) => a.id === ticket.assignee_id)) {
      fAssignee.appendChild(h('option', { value: String(ticket.assignee_id), text: 'User ' + ticket.assignee_id }));
    }
    fAssignee.value = ticket.assignee_id ? String(ticket.assignee_id) : '';
  });
  props.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    propsErr.hidden = true;
    const patch = {};
    if (fStatus.value !== ticket.status) patch.status = fStatus.value;
    if (fPriority.value !== (ticket.priority || '')) patch.priority = fPriority.value || null;
    const aid = fAssignee.value ? Number(fAssignee.value) : 0;
    if (aid !== (ticket.assignee_id || 0)) patch.assignee_id = aid || null;
    if (fGroup.value.trim() !== (ticket.group || '')) patch.group = fGroup.value.trim() || null;
    const tags = tagList(fTags.value);
    if (tags.join(' ') !== (ticket.tags || []).join(' ')) patch.tags = tags;
    if (!Object.keys(patch).length) { toast('Nothing to save'); return; }
    const headers = {};
    if (version) headers['If-Match'] = '"' + version + '"';
    try {
      const res = await api('PATCH', '/api/v1/tickets/' + id, { body: patch, headers });
      ticket = res.data;
      version = versionOf(res);
      conflict.hidden = true;
      drawHeader();
      fillProps();
      toast('Ticket saved');
    } catch (e) {
      if (e.status === 412) await showConflict();
      else { propsErr.textContent = e.message; propsErr.hidden = false; }
    }
  });

  // ---- the requester ----
  const reqBox = h('section', { class: 'requester', 'aria-labelledby': 'req-h' }, h('h2', { id: 'req-h', text: 'Requester' }));
  (async () => {
    const u = await user(ticket.requester_id);
    if (!u) return;
    const others = h('ul', { class: 'others' });
    reqBox.append(h('p', { class: 'req-name', text: u.name || u.email || 'User ' + u.id }),
      h('ul', { class: 'identities', 'aria-label': 'Identities' }, (u.identities || []).map((i) => h('li', { text: i.type + ': ' + i.value }))),
      h('h3', { text: 'Other tickets' }), others);
    try {
      const d = await get('/api/v1/tickets' + qs({ requester_id: u.id, limit: 10 }));
      const list = d.tickets.filter((t) => t.id !== ticket.id);
      replace(others, list.length ? list.map((t) => h('li', {}, h('a', { href: '/tickets/' + t.id, text: '#' + t.id + ' ' + t.subject }), ' ', h('span', { class: 'badge s-' + t.status, text: t.status })))
        : h('li', { class: 'muted', text: 'None' }));
    } catch { /* the list is a convenience */ }
  })();

  const reloadTicket = async () => {
    const res = await api('GET', '/api/v1/tickets/' + id);
    ticket = res.data;
    version = versionOf(res);
    drawHeader();
    fillProps();
  };
  const showConflict = async () => {
    await reloadTicket();
    comments = await allComments(id);
    drawConversation();
    replace(conflict, h('strong', { text: 'This ticket was changed by someone else. ' }),
      `Nothing of yours was saved. It is now ${ticket.status}` + (ticket.assignee_id ? `, assigned to user ${ticket.assignee_id}` : ', unassigned') +
      `, tags: ${(ticket.tags || []).join(', ') || 'none'}. Your text is kept: check the new state and send again.`);
    conflict.hidden = false;
    conflict.scrollIntoView({ block: 'nearest' });
  };

  // ---- presence ----
  const viewers = new Map();
  const drawPresence = () => {
    const names = [...viewers.values()].filter((v) => v.until > Date.now() && v.user_id !== app.me.id);
    replace(presence);
    if (!names.length) return;
    Promise.all(names.map(async (v) => {
      const u = await user(v.user_id);
      return (u ? u.name || u.email : 'User ' + v.user_id) + (v.state === 'replying' ? ' is replying' : ' is viewing');
    })).then((txt) => replace(presence, txt.join(' · ')));
  };
  let presenceState = 'viewing';
  const sendPresence = async () => {
    if (!app.features.presence) return;
    try {
      const r = await api('POST', `/api/v1/tickets/${id}/presence`, { body: { state: presenceState } });
      // The answer lists who else is on the ticket now.
      for (const p of (r.data && r.data.presence) || []) {
        viewers.set(p.user_id, { user_id: p.user_id, state: p.state, until: Date.parse(p.expires_at) || Date.now() + 30000 });
      }
      drawPresence();
    } catch (e) {
      if (e.status === 404 || e.status === 405) app.features.presence = false;
    }
  };
  sendPresence();
  const pTimer = setInterval(sendPresence, 20000);
  let typingTimer = 0;
  body.addEventListener('input', () => {
    if (presenceState !== 'replying') { presenceState = 'replying'; sendPresence(); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { presenceState = 'viewing'; sendPresence(); }, 15000);
  });
  app.cleanup.push(() => {
    clearInterval(pTimer);
    clearTimeout(typingTimer);
    if (app.features.presence) api('DELETE', `/api/v1/tickets/${id}/presence`).catch(() => {});
  });

  // ---- live updates ----
  app.onEvent = async (ev) => {
    if (ev.ticket_id !== id) return;
    switch (ev.type) {
      case 'comment.created':
      case 'comment.updated':
      case 'delivery.updated': {
        const c = ev.data;
        if (!c || !c.id) return;
        const i = comments.findIndex((x) => x.id === c.id);
        if (i >= 0) comments[i] = c; else comments.push(c);
        const old = document.getElementById('c' + c.id);
        if (old) old.replaceWith(commentEl(c)); else convo.appendChild(commentEl(c));
        break;
      }
      case 'ticket.updated': {
        if (dirty || props.contains(document.activeElement)) return; // the agent is editing: a save will meet If-Match
        try { await reloadTicket(); } catch { /* next event */ }
        break;
      }
      case 'presence.updated': {
        const d = ev.data || ev;
        const uid = d.user_id || ev.actor_id;
        if (!uid) return;
        const ttl = (d.expires_in || 30) * 1000;
        if (d.state === 'left' || d.state === 'gone') viewers.delete(uid);
        else viewers.set(uid, { user_id: uid, state: d.state, until: d.expires_at ? Date.parse(d.expires_at) : Date.now() + ttl });
        drawPresence();
        break;
      }
      default:
    }
  };

  app.onReconnect = async () => {
    try {
      comments = await allComments(id);
      drawConversation();
      if (!dirty && !props.contains(document.activeElement)) await reloadTicket();
    } catch { /* the banner tells when the server is unreachable */ }
  };

  drawHeader();
  drawConversation();
  fillProps();
  setMode();
  replace(root, h('div', { class: 'ticket' },
    h('div', { class: 'main-col' },
      h('p', {}, h('a', { href: '/', class: 'back', text: '← Inbox' })),
      title, meta, presence, conflict, convo, composer),
    h('aside', { class: 'side', 'aria-label': 'Ticket details' }, props, reqBox, macroBox)));
}

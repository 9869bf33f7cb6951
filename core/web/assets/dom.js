// DOM helpers. Text always goes in as text nodes: customer content is never
// parsed as HTML.

/**
 * h creates an element. attrs: class, text, on<event> handlers, boolean and
 * string attributes (false/null/undefined leave them out). children:
 * nodes, strings (as text), arrays, or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** when renders an ISO time in the browser's time zone, as a <time> element. */
export function when(iso) {
  if (!iso) return h('span', { text: '—' });
  const d = new Date(iso);
  const secs = Math.round((d.getTime() - Date.now()) / 1000);
  let rel;
  const a = Math.abs(secs);
  if (a < 60) rel = relFmt.format(Math.trunc(secs / 1) || 0, 'second');
  else if (a < 3600) rel = relFmt.format(Math.round(secs / 60), 'minute');
  else if (a < 86400) rel = relFmt.format(Math.round(secs / 3600), 'hour');
  else rel = dateFmt.format(d);
  return h('time', { datetime: d.toISOString(), title: dateFmt.format(d), text: rel });
}

/** fullTime renders an ISO time in full, in the browser's time zone. */
export function fullTime(iso) {
  if (!iso) return h('span', { text: '—' });
  const d = new Date(iso);
  return h('time', { datetime: d.toISOString(), text: dateFmt.format(d) });
}

let toastTimer = 0;
/** toast shows a short message in the polite live region. */
export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 4000);
}

/** banner shows (or with no message hides) the alert banner. */
export function banner(msg, kind = 'error') {
  const b = document.getElementById('banner');
  if (!msg) { b.hidden = true; b.textContent = ''; return; }
  b.className = 'banner ' + kind;
  b.textContent = msg;
  b.hidden = false;
}

/** label pairs a visible label with a control (ids are generated). */
let uid = 0;
export function field(labelText, control, hint) {
  const id = control.id || 'f' + (++uid);
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: labelText }), control, hint ? h('small', { text: hint }) : null);
}

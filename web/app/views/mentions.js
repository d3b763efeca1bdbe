// Mentions: @-autocomplete of the open conversation's members in the composer (arrows,
// Enter or Tab picks, Esc closes), the list of mentioned usernames for `send`, and
// highlighting them in a message's text (spans around text nodes, never HTML).
import { $, h } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../api.js';
import { S } from '../store.js';
import { displayName } from '../users.js';

const esc = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const at = u => new RegExp('(^|[^a-z0-9_.-])@' + esc(u) + '(?![a-z0-9_-])', 'i');

// Members of `conv` (not the caller) that `body` mentions as @username.
export function mentionsIn(conv, body) {
  const c = S.convs.get(conv);
  return ((c && c.members) || []).filter(u => u !== session.me && at(u).test(body)).slice(0, 50);
}

// Wraps @name of the message's `mentions` in spans; other parts (links) pass through.
export function highlight(parts, names) {
  if (!names || !names.length) return parts;
  const set = new Set(names), out = [];
  for (const p of parts) {
    if (typeof p !== 'string') { out.push(p); continue; }
    let last = 0;
    for (const m of p.matchAll(/@([a-z0-9_.-]+)/gi)) {
      let u = m[1].toLowerCase();
      while (u && !set.has(u) && u.endsWith('.')) u = u.slice(0, -1);
      if (!set.has(u) || (m.index > 0 && /[a-z0-9_.-]/i.test(p[m.index - 1]))) continue;
      if (m.index > last) out.push(p.slice(last, m.index));
      out.push(h('span', { class: 'mention' + (u === session.me ? ' me' : ''), title: displayName(u) }, '@' + p.substr(m.index + 1, u.length)));
      last = m.index + 1 + u.length;
    }
    if (last < p.length) out.push(p.slice(last));
  }
  return out;
}

// ===== autocomplete =====
let box = null, items = [], sel = 0, range = null;
const ta = () => $('text');
export const isOpen = () => !!box && !box.classList.contains('hidden');

export function closeMentions() {
  if (box) box.classList.add('hidden');
  items = []; range = null;
  ta().removeAttribute('aria-activedescendant');
}

function query() {
  const el = ta(), pos = el.selectionStart;
  if (pos !== el.selectionEnd) return null;
  const m = /(^|[\s(])@([a-z0-9_.-]{0,32})$/i.exec(el.value.slice(0, pos));
  return m ? { start: pos - m[2].length - 1, end: pos, q: m[2].toLowerCase() } : null;
}

function update() {
  const c = S.convs.get(S.open), r = query();
  if (!c || !r) return closeMentions();
  items = (c.members || []).filter(u => u !== session.me
    && (u.startsWith(r.q) || displayName(u).toLowerCase().startsWith(r.q))).slice(0, 8);
  if (!items.length) return closeMentions();
  range = r; sel = Math.min(sel, items.length - 1);
  box.replaceChildren(...items.map((u, i) => h('li', { id: 'mopt' + i, role: 'option', 'aria-selected': String(i === sel),
    class: i === sel ? 'sel' : '', onmousedown: e => { e.preventDefault(); pick(i); } },
  h('b', {}, displayName(u)), displayName(u) !== u ? h('span', { class: 'muted' }, ' @' + u) : null)));
  box.classList.remove('hidden');
  ta().setAttribute('aria-activedescendant', 'mopt' + sel);
}

function pick(i) {
  const u = items[i], el = ta(); if (!u || !range) return;
  const text = '@' + u + ' ';
  el.value = el.value.slice(0, range.start) + text + el.value.slice(range.end);
  const pos = range.start + text.length;
  el.setSelectionRange(pos, pos); el.focus();
  closeMentions();
}

export function initMentions() {
  const el = ta();
  box = h('ul', { id: 'mentionList', class: 'mentions hidden', role: 'listbox', 'aria-label': t('mentionList') });
  $('composer').before(box);
  el.setAttribute('aria-autocomplete', 'list'); el.setAttribute('aria-controls', 'mentionList');
  el.addEventListener('input', () => { sel = 0; update(); });
  el.addEventListener('click', update);
  el.addEventListener('blur', () => setTimeout(closeMentions, 150));
  // capture: runs before the composer's own Enter handler
  el.addEventListener('keydown', e => {
    if (!isOpen()) return;
    let used = true;
    if (e.key === 'ArrowDown') sel = (sel + 1) % items.length;
    else if (e.key === 'ArrowUp') sel = (sel - 1 + items.length) % items.length;
    else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') { pick(sel); }
    else if (e.key === 'Escape') closeMentions();
    else used = false;
    if (!used) return;
    e.preventDefault(); e.stopImmediatePropagation();
    if (isOpen()) update();
  }, true);
}

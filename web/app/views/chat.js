// The open conversation: header, messages (keyed rendering, grouped by sender, day
// separators, a "new messages" divider, an "N new" pill), own-message ticks from receipts,
// the message menu, the composer (multi-line, paste, drag and drop) and read tracking
// (only what was on screen is reported read).
import { $, h, linkify, avatar, fmtTime, dayOf, dayLabel, toast } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';
import { S, convMsgs, sortedMsgs, shownMsgs, isEvent, ownStatus, typingUsers, peer, convName, addMessage, saveCache } from '../store.js';
import { conn, frame, outbox, queueSend, saveOutbox, pumpSends, dropFromOutbox } from '../socket.js';
import { msgmenu, openMenu, closeMenu, initMsgMenu } from './msgmenu.js';
import { reactionChips } from './reactions.js';
import { quote, quoteEl, quoteSig } from './quote.js';
import { highlight, initMentions } from './mentions.js';
import { submitText, initCompose, resetCompose } from './compose.js';
import { isMediaPath } from '../media.js';
import { mediaContent, initMedia } from './mediaview.js';
import { gapsIn, loadAfter } from './jump.js';
import { renderMembers } from './members.js';
import { userAvatar, displayName, profileOf } from '../users.js';

export const app = { recallWindowMs: 120000, onRender: () => {}, onLeft: () => {} };
export const divider = new Map();   // conv -> seq the "new messages" divider stands before

const rendered = new Map(); let renderedConv = null;
const box = () => $('msgs');

export const canRecall = m => m.sender === session.me && !m.recalled && m.kind !== 'system'
  && Date.now() + S.skew - m.ts < app.recallWindowMs;
const viewing = conv => S.open === conv && document.visibilityState === 'visible';
const isUnreadFor = (c, m) => m.sender !== session.me && m.kind !== 'system' && !isEvent(m) && !m.recalled && m.seq > (c.read_seq || 0);
msgmenu.canRecall = canRecall;

// ===== message content =====
function content(m, conv) {
  if (m.recalled) return h('i', { class: 'recalled' }, t('recalled'));
  const kids = [];
  if (isMediaPath(m.media_url)) {
    kids.push(...mediaContent(m, () => sortedMsgs(conv).filter(x => x.kind === 'image' && !x.recalled && isMediaPath(x.media_url)).map(x => x.media_url)));
  } else if (m.media_url && /^https?:\/\//i.test(m.media_url)) kids.push(...linkify(m.media_url));
  if (m.body) kids.push(h('div', { class: 'text' }, highlight(linkify(m.body), m.mentions)));
  return kids;
}

function tickEl(conv, seq) {
  const [cls, n, names] = ownStatus(conv, seq);
  const c = S.convs.get(conv), others = ((c && c.members) || []).length - 1;
  let label;
  if (c && c.kind === 'group' && n > 0) label = t('readByN', { n, total: others });
  else label = t('status.' + cls);
  const el = h('span', { class: 'tick ' + cls, title: names.length ? label + ': ' + names.map(displayName).join(', ') : label },
    h('span', { 'aria-hidden': 'true' }, cls === 'sent' ? ' ✓' : ' ✓✓'), h('span', { class: 'sr' }, ' ' + label));
  el.dataset.sig = cls + n + names.join();
  return el;
}

function menuButton(m) {
  return h('button', { class: 'more-btn', 'aria-label': t('messageActions'), 'aria-haspopup': 'menu',
    'aria-expanded': 'false', onclick: e => openMenu(e.currentTarget, m) }, '⋯');
}

function msgEl(c, m, cont) {
  if (m.kind === 'system') return h('div', { class: 'sys', 'data-seq': m.seq }, m.body, ' · ', fmtTime(m.ts));
  const mine = m.sender === session.me, group = c.kind === 'group';
  return h('div', { class: 'msg ' + (mine ? 'mine' : 'theirs') + (cont ? ' cont' : ''), 'data-seq': m.seq, tabindex: '-1' },
    !mine && group ? (cont ? h('span', { class: 'avatar-gap' }) : userAvatar(m.sender)) : null,
    h('div', { class: 'bubble' },
      !mine && group && !cont ? h('div', { class: 'sender', title: m.sender }, displayName(m.sender)) : null,
      h('span', { class: 'sr' }, mine ? t('you') + ': ' : group && cont ? displayName(m.sender) + ': ' : ''),
      !m.recalled ? quoteEl(m, jumpTo) : null,
      content(m, c.conv),
      !m.recalled ? reactionChips(m) : null,
      h('div', { class: 'meta' }, m.edited_ts && !m.recalled ? h('span', { class: 'edited', title: t('editedAt', { time: fmtTime(m.edited_ts) }) }, t('edited') + ' · ') : null,
        h('time', {}, fmtTime(m.ts)),
        mine && !m.recalled ? tickEl(c.conv, m.seq) : null,
        !m.recalled ? menuButton(m) : null)));
}

function pendingEl(it) {
  return h('div', { class: 'msg mine pending' + (it.failed ? ' failed' : ''), 'data-client-id': it.client_id },
    h('div', { class: 'bubble' }, content(it, it.conv),
      h('div', { class: 'meta' }, it.failed ? t('notSent') : fmtTime(it.created),
        it.failed ? [h('button', { class: 'link', onclick: () => { delete it.failed; saveOutbox(); pumpSends(); renderChat(); } }, t('retry')),
          h('button', { class: 'link', onclick: () => { dropFromOutbox(it.client_id); renderChat(); } }, t('discard'))]
          : h('span', { class: 'tick pending', title: t('status.pending') }, h('span', { 'aria-hidden': 'true' }, ' …'), h('span', { class: 'sr' }, ' ' + t('status.pending'))))));
}

// ===== header =====
function renderHeader(c) {
  $('cTitle').textContent = convName(c);
  const ty = typingUsers(c.conv), p = peer(c), sub = $('cSub');
  sub.classList.toggle('typing', ty.length > 0);
  sub.textContent = ty.length ? (c.kind === 'group' ? t('typingNames', { names: ty.map(displayName).join(', ') }) : t('typing'))
    : c.kind === 'group' ? t('nMembers', { n: (c.members || []).length })
    : conn.state !== 'live' ? '' : (S.online.has(p) ? t('online') : t('offline'));
  $('pinBtn').textContent = c.pinned ? t('unpin') : t('pin');
  $('cAvatar').replaceChildren(c.kind === 'direct' ? userAvatar(p) : avatar('group:' + c.name, convName(c)));
  if (!$('members').classList.contains('hidden')) renderMembers(c);
}

// ===== messages =====
let atBottom = true;
function stick() { const b = box(); b.scrollTop = b.scrollHeight; }
const GROUP_MS = 5 * 60000;

export function renderChat(opts = {}) {
  const conv = S.open, c = S.convs.get(conv);
  $('empty').classList.toggle('hidden', conv != null);
  $('conv').classList.toggle('hidden', conv == null);
  if (conv == null || !c) return;
  renderHeader(c);
  const b = box();
  let first = false;
  if (renderedConv !== conv) { b.replaceChildren(); rendered.clear(); renderedConv = conv; first = true; atBottom = true; }
  const wasBottom = atBottom;
  const items = [];   // [key, signature, build]
  if (S.more.get(conv)) items.push(['more', '', () => h('button', { class: 'more secondary', onclick: loadOlder }, t('loadOlder'))]);
  let day = null, prev = null;
  // events (held, never shown) take seqs too: gaps are found on every held entry
  const div = divider.get(conv), all = sortedMsgs(conv), gaps = gapsIn(all);
  const gapButton = at => items.push(['g' + at, '', () => h('button', { class: 'more secondary', onclick: () => loadNewer(at) }, t('loadNewer'))]);
  for (const m of all) {
    if (isEvent(m)) { if (gaps.has(m.seq)) { gapButton(m.seq); prev = null; } continue; }
    if (dayOf(m.ts) !== day) { day = dayOf(m.ts); const d = day; items.push(['d' + d, dayLabel(d), () => h('div', { class: 'day', role: 'separator' }, dayLabel(d))]); prev = null; }
    if (div === m.seq) { items.push(['div', '', () => h('div', { class: 'divider', id: 'unreadDivider', role: 'separator' }, h('span', {}, t('newMessages')))]); prev = null; }
    const cont = !!prev && prev.kind !== 'system' && m.kind !== 'system' && prev.sender === m.sender && m.ts - prev.ts < GROUP_MS;
    const prof = m.sender !== session.me && c.kind === 'group' ? profileOf(m.sender) : null;
    items.push(['s' + m.seq, JSON.stringify([m.body, m.recalled, m.media_url, canRecall(m), c.kind, cont, prof, m.edited_ts, m.reactions, m.mentions, quoteSig(m)]), () => msgEl(c, m, cont), m]);
    prev = m;
    if (gaps.has(m.seq)) { gapButton(m.seq); prev = null; }
  }
  for (const it of [...outbox.values()].filter(i => i.conv === conv).sort((a, b) => a.created - b.created))
    items.push(['p' + it.client_id, it.failed || '', () => pendingEl(it)]);
  const keep = new Set(items.map(i => i[0]));
  for (const [k, r] of rendered) if (!keep.has(k)) { r.el.remove(); rendered.delete(k); }
  let prevEl = null;
  for (const [k, sig, build, m] of items) {
    let r = rendered.get(k);
    if (!r || r.sig !== sig) { const el = build(); if (r) r.el.replaceWith(el); r = { el, sig }; rendered.set(k, r); }
    else if (m && m.sender === session.me && !m.recalled) {   // ticks change in place (no re-announcement)
      const old = r.el.querySelector('.tick'), fresh = tickEl(conv, m.seq);
      if (old && old.dataset.sig !== fresh.dataset.sig) old.replaceWith(fresh);
    }
    const want = prevEl ? prevEl.nextSibling : b.firstChild;
    if (want !== r.el) b.insertBefore(r.el, want);
    prevEl = r.el;
  }
  if (first && div != null && $('unreadDivider')) $('unreadDivider').scrollIntoView({ block: 'start' });
  else if (opts.bottom || (wasBottom && !opts.keep)) stick();
  atBottom = b.scrollHeight - b.scrollTop - b.clientHeight < 40;
  updatePill();
  markSeen();
}

// "N new" when scrolled up with unread messages below.
function updatePill() {
  const c = S.convs.get(S.open), pill = $('newPill');
  if (!c) { pill.classList.add('hidden'); return; }
  const n = shownMsgs(S.open).filter(m => isUnreadFor(c, m)).length;
  const show = n > 0 && !atBottom;
  pill.classList.toggle('hidden', !show);
  if (show) pill.textContent = t('nNew', { n });
}

// `read` for the newest message that was on screen, while the window is visible.
export function markSeen() {
  const conv = S.open, c = S.convs.get(conv);
  if (!c || !conn.authed || !viewing(conv) || S.left.has(conv) || opening === conv) return;
  const b = box(), bottom = b.getBoundingClientRect().bottom;
  let seen = 0;
  const rows = b.querySelectorAll('[data-seq]');
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i].getBoundingClientRect();
    if (r.top < bottom - Math.min(24, r.height / 2) && r.height > 0) { seen = Number(rows[i].dataset.seq); break; }
  }
  if (seen > (c.read_seq || 0)) {
    frame({ type: 'read', conv, seq: seen });
    c.read_seq = seen; c.delivered_seq = Math.max(c.delivered_seq || 0, seen);
    const left = sortedMsgs(conv).filter(m => isUnreadFor(c, m)).length;
    const held = convMsgs(conv).has((S.top.get(conv) || 0)) && (c.last_seq || 0) <= (S.top.get(conv) || 0);
    c.unread = held ? left : Math.max(0, Math.min(c.unread || 0, left + ((c.last_seq || 0) - (S.top.get(conv) || 0))));
    if (!c.unread) c.mentions = 0;
    app.onRender('list');
    updatePill();
    saveCache();
  }
}

let scrollTimer = null;
export function initChat() {
  box().addEventListener('scroll', () => {
    const b = box();
    atBottom = b.scrollHeight - b.scrollTop - b.clientHeight < 40;
    if (!scrollTimer) scrollTimer = setTimeout(() => { scrollTimer = null; markSeen(); updatePill(); }, 150);
  });
  $('newPill').addEventListener('click', () => {
    const c = S.convs.get(S.open);
    const first = c && sortedMsgs(S.open).find(m => isUnreadFor(c, m));
    const el = first && box().querySelector(`[data-seq="${first.seq}"]`);
    if (el && el.getBoundingClientRect().top > box().getBoundingClientRect().bottom) el.scrollIntoView({ block: 'start' });
    else stick();
    box().focus();
  });
  // composer: Enter sends on desktop (Shift+Enter: new line); on touch screens Enter is a new line
  const ta = $('text');
  const touch = () => matchMedia('(pointer: coarse)').matches;
  $('composer').addEventListener('submit', e => { e.preventDefault(); submitText(); });
  ta.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !touch()) { e.preventDefault(); submitText(); }
  });
  ta.addEventListener('input', () => {
    ta.style.height = ''; ta.style.height = Math.min(ta.scrollHeight, 160) + 'px';
    if (S.open != null && ta.value && Date.now() - lastTyping > 3000 && !S.left.has(S.open)) { lastTyping = Date.now(); frame({ type: 'typing', conv: S.open }); }
  });
  $('attachBtn').addEventListener('click', () => $('file').click());
  $('file').addEventListener('change', e => { for (const f of e.target.files) sendFile(f); e.target.value = ''; });
  ta.addEventListener('paste', e => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); files.forEach(sendFile); }
  });
  const zone = $('conv');
  zone.addEventListener('dragover', e => { if ([...e.dataTransfer.types].includes('Files')) { e.preventDefault(); zone.classList.add('drop'); } });
  zone.addEventListener('dragleave', e => { if (e.target === zone || !zone.contains(e.relatedTarget)) zone.classList.remove('drop'); });
  zone.addEventListener('drop', e => { zone.classList.remove('drop'); if (e.dataTransfer.files.length) { e.preventDefault(); [...e.dataTransfer.files].forEach(sendFile); } });
  setInterval(() => { if (S.open != null) renderChat(); }, 15000);   // expire Recall and typing
  initMedia();
  initMsgMenu(box()); initMentions(); initCompose();
  quote.onLoaded = () => renderChat({ keep: true });
}

let lastTyping = 0;
export function resetTyping() { lastTyping = 0; }
// Uploads load on first use (views/attach.js: progress, kinds).
export function sendFile(file) { if (S.open != null && file) import('./attach.js').then(a => a.sendFile(file)); }

async function loadNewer(seq) {
  const conv = S.open;
  try { await loadAfter(conv, seq); } catch (e) { toast(errorText(e)); }
  if (S.open === conv) renderChat({ keep: true });
}

async function loadOlder() {
  const conv = S.open, b = box(), fromBottom = b.scrollHeight - b.scrollTop;
  await loadHistory(conv, true);
  renderChat({ keep: true });
  b.scrollTop = b.scrollHeight - fromBottom;   // keep the view where it was
}

// Fetches the newest page (or the page before what we hold). A newest page that does not
// join what we held (a gap after the cached copy) replaces it.
export async function loadHistory(conv, older) {
  if (S.loading.has(conv)) return;
  S.loading.add(conv);
  try {
    const held = convMsgs(conv);
    let q = '?limit=50';
    if (older && held.size) q += '&before=' + Math.min(...held.keys());
    const r = await api('GET', `/api/conversations/${conv}/messages${q}`);
    if (!older && r.messages.length && held.size) {
      const lo = r.messages[0].seq;
      if (![...held.keys()].some(s => s >= lo - 1)) held.clear();
    }
    for (const m of r.messages) addMessage(m, true);   // pages carry folded state
    S.more.set(conv, r.has_more && (!r.messages.length || r.messages[0].seq > 1));
    S.loaded.add(conv);
  } catch (e) {
    if (e.status === 404) app.onLeft(conv, t('gone')); else toast(errorText(e));
  } finally { S.loading.delete(conv); }
}

// Opens at the first unread message with a divider above it (loading back to it, bounded).
let opening = null;   // the conversation being opened: nothing is read until it shows its first unread
export function beginOpen(conv) { opening = conv; }
export async function prepareOpen(conv) {
  opening = conv;
  try { await prepare(conv); } finally { if (opening === conv) opening = null; }
}
async function prepare(conv) {
  const c = S.convs.get(conv);
  const unread = c && c.unread > 0;
  const firstUnread = (c && c.read_seq || 0) + 1;
  if (!S.loaded.has(conv)) await loadHistory(conv, false);
  if (unread) {
    for (let n = 0; n < 10 && S.open === conv && S.more.get(conv) && Math.min(...convMsgs(conv).keys()) > firstUnread; n++) await loadHistory(conv, true);
    const first = sortedMsgs(conv).find(m => m.seq >= firstUnread && isUnreadFor(c, m));
    if (first) divider.set(conv, first.seq); else divider.delete(conv);
  } else divider.delete(conv);
  renderedConv = null;
}

export function clearChat() { renderedConv = null; rendered.clear(); box().replaceChildren(); closeMenu(false); resetCompose(); }

// Scrolls to message `seq` (a reply's target), loading older pages until it is held.
export async function jumpTo(conv, seq) {
  for (let n = 0; n < 20 && S.open === conv && !convMsgs(conv).has(seq) && S.more.get(conv); n++) await loadOlder();
  const el = S.open === conv && box().querySelector(`[data-seq="${Number(seq)}"]`);
  if (!el) { toast(t('quoteMissing')); return; }
  el.scrollIntoView({ block: 'center' }); el.focus({ preventScroll: true });
  el.classList.add('flash'); setTimeout(() => el.classList.remove('flash'), 2000);
}

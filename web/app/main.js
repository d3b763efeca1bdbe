// Wiring: session start and end, frames from the node into the store and the views,
// opening conversations, the service worker.
import { $, toast } from './dom.js';
import { t, applyStrings } from './i18n.js';
import { session, api, errorText } from './api.js';
import { S, reset, mergeConv, dropConvState, addMessage, convMsgs, noteReceipt, loadCache, saveCache, peer, isEvent } from './store.js';
import { eventAcked, eventRefused } from './events.js';
import { compose } from './views/compose.js';
import { hooks, conn, connect, closeSocket, frame, outbox, loadOutbox, saveOutbox, dropFromOutbox, pumpSends, holdSends, acked, refused, queueSend } from './socket.js';
import { clearMedia } from './media.js';
import { login, initLogin } from './views/login.js';
import { list, renderList, arrowNav } from './views/list.js';
import { app, renderChat, initChat, markSeen, prepareOpen, beginOpen, clearChat, loadHistory, resetTyping, divider } from './views/chat.js';
import { members, leave } from './views/members.js';
import { newconv, initNewConv } from './views/newconv.js';
import { search, initSearch, clearSearch } from './views/search.js';
import { showConn, initConn } from './views/conn.js';
import { settings, initSettings, openSettings } from './views/settings.js';
import { users, loadUsers, setProfile, userAvatar, displayName } from './users.js';
import { setMode, setInvite } from './views/login.js';
import { notify, initNotify, onMessage as notifyHidden, updateBadge, clearNotifications, convFromHash, notifyOn } from './notify.js';

function render() { renderList(); renderChat(); saveCache(); updateBadge([...S.convs.values()].reduce((n, c) => n + (c.unread || 0), 0)); }
app.onRender = what => { if (what === 'list') renderList(); else render(); };

// ===== session =====
function logoutLocal(msg) {
  closeSocket();
  localStorage.removeItem('chatnode.token'); localStorage.removeItem('chatnode.user');
  session.token = null; session.me = null;
  reset(); outbox.clear(); clearChat(); clearMedia(); $('welcome').classList.add('hidden');
  document.body.classList.remove('in-chat');
  $('app').classList.add('hidden'); $('login').classList.remove('hidden');
  $('lerr').textContent = msg || '';
  document.title = 'chatnode';
}
session.onUnauthorized = () => { if (!settings.changingPassword) logoutLocal(t('err.session')); };

function renderMe() {
  $('meName').textContent = displayName(session.me);
  $('meAvatar').replaceChildren(userAvatar(session.me));
}
async function start() {
  $('login').classList.add('hidden'); $('app').classList.remove('hidden');
  loadUsers(); renderMe();
  loadOutbox(); loadCache();
  render();
  showConn('connecting');
  loadMe();
  try { await refreshConvs(); } catch (e) { if (e.status === 401) return; }
  connect();
  const hashConv = convFromHash(); if (hashConv != null) openConv(hashConv);
  if (notifyOn()) import('./push.js').then(p => p.ensure()).catch(() => { /* no push service: page notifications only */ });
}
// The profile and what the node offers (an older node has neither route: the client goes on).
async function loadMe() {
  api('GET', '/api/features').then(f => { settings.features = f || {}; }, () => {});
  try {
    const me = await api('GET', '/api/me');
    settings.me = me; setProfile(me); renderMe();
    $('welcome').classList.toggle('hidden', !(me.admin && S.convs.size === 0));
  } catch (e) { /* v1 node */ }
}
let usersTimer = null;
users.onChange = () => { clearTimeout(usersTimer); usersTimer = setTimeout(() => { renderMe(); render(); }, 50); };
// A new password: the node revoked every earlier token, ours included, and gave a new one.
settings.onToken = token => {
  session.token = token; localStorage.setItem('chatnode.token', token);
  closeSocket(); connect();
};
settings.onLoggedOut = () => { $('settings').close(); logoutLocal(''); };

// ===== conversations =====
let presenceTimer = null;
function merge(obj) {
  // presence frames only tell of changes: a new partner's state comes from GET /api/presence
  if (!S.convs.has(obj.conv) && conn.authed) { clearTimeout(presenceTimer); presenceTimer = setTimeout(loadPresence, 300); }
  return mergeConv(obj);
}
async function refreshConvs() {
  const l = await api('GET', '/api/conversations');
  const seen = new Set(l.map(c => merge(c).conv));
  for (const id of [...S.convs.keys()]) if (!seen.has(id) && id !== S.open) S.convs.delete(id);
  render();
}
// Fetches one conversation (new to us, or its members changed); 404 means we are out of it.
async function fetchConv(conv) {
  if (S.fetching.has(conv) || S.left.has(conv)) return;
  S.fetching.add(conv);
  try { const c = merge(await api('GET', '/api/conversations/' + conv)); c._touched = Date.now(); }
  catch (e) { if (e.status === 404) dropConv(conv, t('notInConv')); }
  finally { S.fetching.delete(conv); render(); }
}
function dropConv(conv, why) {
  dropConvState(conv); divider.delete(conv);
  if (S.open === conv) { closeConv(); if (why) toast(why); }
  render();
}
app.onLeft = dropConv; members.onLeft = dropConv; members.onRender = render;
async function loadPresence() {
  try { S.online = new Set((await api('GET', '/api/presence')).online); render(); } catch (e) { /* next presence frames will do */ }
}

// ===== messages =====
const viewing = conv => S.open === conv && document.visibilityState === 'visible';
function onIncoming(msgs) {
  const convs = new Set();
  for (const msg of msgs) {
    if (S.left.has(msg.conv)) continue;
    const c = S.convs.get(msg.conv);
    const newer = !c || msg.seq > (c.last_seq || 0);   // the list's unread count already covers older ones
    const isNew = addMessage(msg);
    if (msg.sender === session.me && msg.client_id) dropFromOutbox(msg.client_id);
    convs.add(msg.conv);
    if (!c) { fetchConv(msg.conv); continue; }
    if (isNew && newer && msg.sender !== session.me && msg.kind !== 'system' && !isEvent(msg) && !msg.recalled
        && msg.seq > (c.read_seq || 0)) {
      c.unread = (c.unread || 0) + 1;
      if ((msg.mentions || []).includes(session.me)) c.mentions = (c.mentions || 0) + 1;
      if (conn.phase === 'live') notifyHidden(msg);
    }
    if (msg.kind === 'system' && isNew) fetchConv(msg.conv);   // membership changed
    const ty = S.typing.get(msg.conv); if (ty) ty.delete(msg.sender);
  }
  for (const conv of convs) noteDelivered(conv, S.top.get(conv));
  render();
}

// `delivered` is cumulative: batch it per conversation.
const pendingDelivered = new Map(); let deliveredTimer = null;
function noteDelivered(conv, seq) {
  const c = S.convs.get(conv);
  if (!c || seq <= (c.delivered_seq || 0)) return;
  if (seq > (pendingDelivered.get(conv) || 0)) pendingDelivered.set(conv, seq);
  if (!deliveredTimer) deliveredTimer = setTimeout(flushDelivered, 150);
}
function flushDelivered() {
  deliveredTimer = null;
  for (const [conv, seq] of pendingDelivered) {
    const c = S.convs.get(conv);
    if (!c || S.left.has(conv) || seq <= (c.delivered_seq || 0)) continue;
    frame({ type: 'delivered', conv, seq });
    c.delivered_seq = seq;
  }
  pendingDelivered.clear();
}

function onAck(f) {
  if (eventAcked(f)) { render(); return; }
  acked(f.client_id);
  const item = outbox.get(f.client_id);
  if (item) {
    dropFromOutbox(f.client_id);
    if (!convMsgs(f.conv).has(f.seq)) addMessage({ conv: f.conv, seq: f.seq, sender: session.me, client_id: f.client_id,
      kind: item.kind, body: item.body, media_url: item.media_url, ts: f.ts, recalled: false,
      reply_to: item.reply_to || null, mentions: item.mentions || [], edited_ts: null, reactions: {} });
  }
  const c = S.convs.get(f.conv);
  if (c) {   // as on the node: sending moves our own position when nothing else was pending
    if ((c.read_seq || 0) === f.seq - 1) c.read_seq = f.seq;
    if ((c.delivered_seq || 0) === f.seq - 1) c.delivered_seq = f.seq;
    c._touched = Date.now();
  }
  render();
  pumpSends();
}

function handle(f) {
  switch (f.type) {
    case 'auth_ok': onAuthOk(f); break;
    case 'message': onIncoming([f.msg]); break;
    case 'sync_batch': {
      const l = f.messages || [];
      onIncoming(l);
      if (f.has_more && l.length && !S.left.has(f.conv)) frame({ type: 'sync', convs: { [f.conv]: l[l.length - 1].seq }, limit: 200 });
      break;
    }
    case 'sync_done': onSyncDone(); break;
    case 'ack': onAck(f); break;
    case 'receipt': noteReceipt(f.conv, f.user, f.seq, f.status === 'read' ? f.seq : 0); renderChat(); break;
    case 'unread': { const c = S.convs.get(f.conv); if (c) { c.unread = f.count; if (typeof f.mentions === 'number') c.mentions = f.mentions; renderList(); } break; }
    case 'recalled': {
      const m = convMsgs(f.conv).get(f.seq), c = S.convs.get(f.conv);
      if (m) Object.assign(m, { recalled: true, body: '', media_url: null });
      if (c && c.last_message && c.last_message.seq === f.seq) Object.assign(c.last_message, { recalled: true, body: '' });
      if (c && f.by !== session.me && f.seq > (c.read_seq || 0) && c.unread > 0) c.unread--;
      render(); break;
    }
    case 'presence': if (f.online) S.online.add(f.user); else S.online.delete(f.user); render(); break;
    case 'typing': {
      let m = S.typing.get(f.conv); if (!m) S.typing.set(f.conv, m = new Map());
      m.set(f.user, Date.now() + 5000);
      render(); setTimeout(render, 5100); break;
    }
    case 'conv_update': {
      const obj = f.conversation || f;
      if (obj.members && !obj.members.includes(session.me)) dropConv(obj.conv, t('notInConv'));
      else if (!S.left.has(obj.conv)) { merge(obj); render(); }
      break;
    }
    case 'user_update': setProfile(f); break;
    case 'error': onError(f); break;
    default: break;   // pong, history (pages come over HTTP), frame types a newer node adds
  }
}

function onAuthOk(f) {
  S.skew = (f.server_time || Date.now()) - Date.now();
  if (typeof f.recall_window_ms === 'number') app.recallWindowMs = f.recall_window_ms;
  if (typeof f.edit_window_ms === 'number') compose.editWindowMs = f.edit_window_ms;
  loadPresence();
  // the list may answer from before a `read` this socket sends meanwhile: read again if so
  refreshConvs().then(markSeen, () => {});
}
// First sync_done ends the offline queue; then fill gaps in conversations we hold with `sync`.
function onSyncDone() {
  if (conn.phase === 'queue') {
    const convs = {};
    for (const [conv, seq] of S.top) if (seq > 0 && S.convs.has(conv)) convs[conv] = seq;
    if (Object.keys(convs).length) { conn.phase = 'sync'; frame({ type: 'sync', convs, limit: 200 }); }
    else conn.phase = 'live';
  } else conn.phase = 'live';
  if (conn.phase === 'live') { conn.state = 'live'; showConn('live'); }
  render();
}
const QUIET = new Set(['delivered', 'read', 'typing', 'sync', 'ping', 'history']);
function onError(f) {
  if (f.code === 'unauthorized') return;   // close 4001 follows
  const item = f.ref && outbox.get(f.ref);
  if (f.ref && eventRefused(f.ref)) { toast(errorText(f)); return; }
  if (item) {
    if (f.code === 'rate_limited' || f.code === 'internal') { holdSends(); return; }
    refused(item.client_id);
    item.failed = f.code; saveOutbox(); renderChat(); pumpSends();
    toast(t('notSentWhy', { why: errorText(f) }));
    return;
  }
  if (f.code === 'rate_limited' || QUIET.has(f.ref)) return;   // harmless
  toast(errorText(f));
}

hooks.handle = handle;
hooks.onClosed = code => {
  if (code === 4001 && !settings.changingPassword) { logoutLocal(t('err.session')); return; }
  render();   // presence is unknown while we are offline: the views stop claiming anyone is offline
};
hooks.onState = state => { showConn(state); render(); };
hooks.onOutbox = () => renderChat({ bottom: true });

// ===== opening a conversation =====
async function openConv(conv, focusSeq) {
  if (!S.convs.has(conv)) await fetchConv(conv);
  if (!S.convs.has(conv)) return;
  if (S.open !== conv) clearChat();
  S.open = conv; resetTyping(); beginOpen(conv); clearNotifications(conv);
  $('members').classList.add('hidden'); $('membersBtn').setAttribute('aria-expanded', 'false');
  document.body.classList.add('in-chat');
  renderList(); renderChat();
  await prepareOpen(conv);
  if (S.open !== conv) return;
  if (focusSeq) {
    try { await (await import('./views/jump.js')).loadAround(conv, focusSeq); } catch (e) { toast(errorText(e)); }
    if (S.open !== conv) return;
    renderChat({ keep: true });
    const el = $('msgs').querySelector(`[data-seq="${Number(focusSeq)}"]`);
    if (el) { el.scrollIntoView({ block: 'center' }); el.classList.add('flash'); setTimeout(() => el.classList.remove('flash'), 2000); }
    markSeen();
  } else renderChat();
  if (matchMedia('(min-width: 721px)').matches) $('text').focus(); else $('backBtn').focus();
}
function closeConv() {
  const was = S.open;
  S.open = null; clearChat();
  document.body.classList.remove('in-chat');
  render();
  const li = was != null && $('convList').querySelector(`li[data-conv="${was}"] button`);
  if (li) li.focus();
}
list.onOpen = conv => openConv(conv);
newconv.onCreated = conv => { loadPresence(); openConv(conv); };
search.onOpen = (conv, seq) => openConv(conv, seq);
notify.onOpen = (conv, seq) => openConv(conv, seq);

async function hideConv() {
  const conv = S.open; if (conv == null) return;
  try { await api('DELETE', `/api/conversations/${conv}`); S.convs.delete(conv); closeConv(); }
  catch (e) { toast(errorText(e)); }
}
members.onHide = hideConv;

// ===== boot =====
applyStrings();
initLogin(); initChat(); initNewConv(); initSearch(); initConn(); initSettings(); initNotify();
$('welcomeInvite').addEventListener('click', openSettings);
{ // an invite link (#invite=CODE) opens on the registration form
  const m = /[#&]invite=([0-9a-fA-F]{16,128})/.exec(location.hash);
  if (m) { setInvite(m[1]); if (!session.token) setMode('register'); }
}
arrowNav($('convList'));
login.onIn = start;
$('logoutBtn').addEventListener('click', async () => {
  try { await api('POST', '/api/logout'); } catch (e) { /* the token is dropped locally anyway */ }
  logoutLocal('');
});
$('backBtn').addEventListener('click', closeConv);
$('pinBtn').addEventListener('click', async () => {
  const c = S.convs.get(S.open); if (!c) return;
  try { await api('PUT', `/api/conversations/${c.conv}/pin`, { pinned: !c.pinned }); c.pinned = !c.pinned; render(); }
  catch (e) { toast(errorText(e)); }
});
$('hideBtn').addEventListener('click', hideConv);
$('membersBtn').addEventListener('click', () => {
  const p = $('members'); p.classList.toggle('hidden');
  $('membersBtn').setAttribute('aria-expanded', String(!p.classList.contains('hidden')));
  render();
});
document.addEventListener('keydown', e => {
  if (e.key === 'Escape' && S.open != null && !document.querySelector('dialog[open]') && !e.target.closest('.menu')
      && e.target.id !== 'search' && matchMedia('(max-width: 720px)').matches) closeConv();
});
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') markSeen(); });
window.addEventListener('focus', markSeen);

if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => { /* http on a LAN address: no offline shell */ });
}

// What the e2e drives (and a developer pokes at from the console).
Object.defineProperties(S, {
  outbox: { get: () => outbox }, me: { get: () => session.me }, token: { get: () => session.token },
  phase: { get: () => conn.phase }, authed: { get: () => conn.authed },
});
Object.defineProperties(window, {
  S: { get: () => S }, ws: { get: () => conn.ws },
  recallWindowMs: { get: () => app.recallWindowMs },
  handle: { get: () => hooks.handle, set: v => { hooks.handle = v; } },
  onClosed: { get: () => hooks.onClosed, set: v => { hooks.onClosed = v; } },
});
window.queueSend = queueSend; window.leaveGroup = leave;
window.chatnode = { S, conn, hooks, session, peer };

if (session.token && session.me) start(); else logoutLocal('');

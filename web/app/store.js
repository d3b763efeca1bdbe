// The conversation store: conversations, messages keyed by (conv, seq), receipts, presence,
// and a bounded copy in localStorage so the app opens with its conversations when the node
// is down.
import { session } from './api.js';
import { displayName } from './users.js';

export const S = {
  convs: new Map(),    // conv -> conversation object (+ _touched: local activity time)
  msgs: new Map(),     // conv -> Map(seq -> message)
  top: new Map(),      // conv -> highest seq held
  more: new Map(),     // conv -> older messages remain on the node
  loaded: new Set(),   // convs whose newest page was fetched
  loading: new Set(), fetching: new Set(),
  receipts: new Map(), // conv -> Map(user -> {delivered, read})
  typing: new Map(),   // conv -> Map(user -> expiry ms)
  online: new Set(),
  left: new Set(),     // convs we left or were removed from: nothing more is sent to them
  open: null,          // open conversation id
  skew: 0,
};

export function reset() {
  for (const k of ['convs', 'msgs', 'top', 'more', 'receipts', 'typing']) S[k].clear();
  S.loaded.clear(); S.online.clear(); S.left.clear(); S.open = null;
}

export const peer = c => c.kind === 'direct' ? (c.members || []).find(m => m !== session.me) || c.name : null;
export const convName = c => c.kind === 'direct' ? displayName(peer(c) || c.name) || 'direct' : (c.name || 'group');
export const activity = c => Math.max((c.last_message && c.last_message.ts) || 0, c._touched || 0);

function receiptsOf(conv) { let m = S.receipts.get(conv); if (!m) S.receipts.set(conv, m = new Map()); return m; }
export function noteReceipt(conv, user, delivered, read) {
  const m = receiptsOf(conv), r = m.get(user) || { delivered: 0, read: 0 }; m.set(user, r);
  r.read = Math.max(r.read, read || 0);
  r.delivered = Math.max(r.delivered, delivered || 0, r.read);
}

export function mergeConv(obj) {
  const c = Object.assign(S.convs.get(obj.conv) || {}, obj);
  delete c.type; delete c.conversation;
  S.convs.set(c.conv, c); S.left.delete(c.conv);
  // v1.1: every other member's positions; v1 direct chats: the peer's
  if (c.receipts && typeof c.receipts === 'object') {
    for (const [u, r] of Object.entries(c.receipts)) noteReceipt(c.conv, u, r.delivered, r.read);
  }
  const p = c.kind === 'direct' && (c.members || []).find(u => u !== session.me);
  if (p && c.peer_read_seq != null) noteReceipt(c.conv, p, c.peer_delivered_seq, c.peer_read_seq);
  return c;
}

export function dropConvState(conv) {
  S.convs.delete(conv); S.left.add(conv);
  for (const k of ['msgs', 'top', 'more', 'receipts', 'typing']) S[k].delete(conv);
  S.loaded.delete(conv);
}

export function convMsgs(conv) { let m = S.msgs.get(conv); if (!m) S.msgs.set(conv, m = new Map()); return m; }
export const sortedMsgs = conv => [...convMsgs(conv).values()].sort((a, b) => a.seq - b.seq);
// What the chat shows: everything but the events.
export const shownMsgs = conv => sortedMsgs(conv).filter(m => !isEvent(m));

// v1.1 events (edit, reaction, recall): entries that change their `target`, never shown.
export const EVENT_KINDS = new Set(['edit', 'reaction', 'recall']);
export const isEvent = m => EVENT_KINDS.has(m.kind);

// Applies an event to its target if we hold it. Only for events newer than the target's
// state (live frames, sync, acks): a page of history already carries the folded state.
export function foldEvent(ev) {
  const m = convMsgs(ev.conv).get(ev.target); if (!m || isEvent(m)) return;
  if (ev.kind === 'edit') { if (!m.recalled) { m.body = ev.body; m.edited_ts = Math.max(m.edited_ts || 0, ev.ts || 0); } }
  else if (ev.kind === 'recall') Object.assign(m, { recalled: true, body: '', media_url: null });
  else if (ev.kind === 'reaction' && ev.body) {
    const r = m.reactions = Object.assign({}, m.reactions), who = (r[ev.body] || []).filter(u => u !== ev.sender);
    if (ev.on !== false) who.push(ev.sender);
    if (who.length) r[ev.body] = who; else delete r[ev.body];
  }
}

// Stores a message keyed by (conv, seq); returns true when it was new. A new event is folded
// into its target unless `noFold` (history pages: their targets are already current).
export function addMessage(msg, noFold) {
  const m = convMsgs(msg.conv), had = m.get(msg.seq);
  m.set(msg.seq, had ? Object.assign(had, msg) : msg);
  if (msg.seq > (S.top.get(msg.conv) || 0)) S.top.set(msg.conv, msg.seq);
  const c = S.convs.get(msg.conv);
  if (c && msg.seq >= (c.last_seq || 0)) { c.last_seq = msg.seq; if (!isEvent(msg)) c.last_message = msg; }
  if (isEvent(msg) && !had && !noFold) {
    foldEvent(msg);
    if (c && c.last_message && c.last_message.seq === msg.target) c.last_message = m.get(msg.target) || c.last_message;
  }
  return !had;
}

// Own messages: their status from the other members' positions.
// Returns [class, short text, names for a title].
export function ownStatus(conv, seq) {
  const c = S.convs.get(conv), r = S.receipts.get(conv);
  const others = ((c && c.members) || []).filter(u => u !== session.me);
  if (!r || !others.length) return ['sent', 0, []];
  const readers = others.filter(u => (r.get(u) || {}).read >= seq);
  const got = others.filter(u => (r.get(u) || {}).delivered >= seq);
  if (readers.length === others.length) return ['read', readers.length, readers];
  if (readers.length) return ['delivered', readers.length, readers];
  return got.length ? ['delivered', 0, got] : ['sent', 0, []];
}

export function typingUsers(conv) {
  const m = S.typing.get(conv); if (!m) return [];
  const now = Date.now();
  return [...m].filter(([, exp]) => exp > now).map(([u]) => u);
}

// ===== local copy for the offline shell (bounded: 200 conversations, 40 messages each) =====
const cacheKey = () => 'chatnode.cache.' + session.me;
let saveTimer = null;
export function saveCache() {
  if (saveTimer || !session.me) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    const convs = [...S.convs.values()].sort((a, b) => activity(b) - activity(a)).slice(0, 200);
    const data = { convs, msgs: {} };
    for (const c of convs) {
      const list = sortedMsgs(c.conv).slice(-40);
      if (list.length) data.msgs[c.conv] = list;
    }
    try { localStorage.setItem(cacheKey(), JSON.stringify(data)); }
    catch (e) { try { localStorage.setItem(cacheKey(), JSON.stringify({ convs, msgs: {} })); } catch (e2) { /* full */ } }
  }, 500);
}
export function loadCache() {
  let data = null;
  try { data = JSON.parse(localStorage.getItem(cacheKey()) || 'null'); } catch (e) { /* corrupt: ignore */ }
  if (!data) return false;
  for (const c of data.convs || []) mergeConv(c);
  for (const [conv, list] of Object.entries(data.msgs || {})) for (const m of list) addMessage(m, true);
  return (data.convs || []).length > 0;
}
export function clearCache(user) { localStorage.removeItem('chatnode.cache.' + user); }

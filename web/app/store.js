// The conversation store: conversations, messages keyed by (conv, seq), receipts, presence,
// and a bounded copy in localStorage so the app opens with its conversations when the node
// is down.
import { session } from './api.js';

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
export const convName = c => c.kind === 'direct' ? (c.name || peer(c) || 'direct') : (c.name || 'group');
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

// Stores a message keyed by (conv, seq); returns true when it was new.
export function addMessage(msg) {
  const m = convMsgs(msg.conv), had = m.get(msg.seq);
  m.set(msg.seq, had ? Object.assign(had, msg) : msg);
  if (msg.seq > (S.top.get(msg.conv) || 0)) S.top.set(msg.conv, msg.seq);
  const c = S.convs.get(msg.conv);
  if (c && msg.seq >= (c.last_seq || 0)) { c.last_seq = msg.seq; c.last_message = msg; }
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
  for (const [conv, list] of Object.entries(data.msgs || {})) for (const m of list) addMessage(m);
  return (data.convs || []).length > 0;
}
export function clearCache(user) { localStorage.removeItem('chatnode.cache.' + user); }

// The WebSocket and the outbox: connecting with a capped backoff, noticing a dead socket
// fast (browser offline event, an ack missing for 10 s, a silent heartbeat), pacing frames
// under the node's rate limit, and unacked sends kept in localStorage across reloads.
import { session } from './api.js';
import { uuid } from './dom.js';

// hooks.handle(frame) and hooks.onClosed(code, reason) are looked up at call time, so tests
// (and main) can wrap them.
export const hooks = { handle: () => {}, onClosed: null, onState: () => {}, onOutbox: () => {} };
export const conn = { ws: null, authed: false, phase: 'off', state: 'off', retryAt: 0, heartbeat: 30000 };

const ACK_TIMEOUT = 10000;
const BACKOFF_VISIBLE = 10000, BACKOFF_HIDDEN = 30000;
let reconnectTimer = null, hbTimer = null, watchTimer = null, backoff = 1000, lastRx = 0, pingSent = 0;

// ===== frames, paced by a token bucket (40/s, under the node's default 50/s) =====
const outQueue = []; let tokens = 40, tokenTs = Date.now(), pumpTimer = null;
export function frame(obj) { if (!conn.ws || !conn.authed) return; outQueue.push(obj); pump(); }
function pump() {
  clearTimeout(pumpTimer); pumpTimer = null;
  const now = Date.now();
  tokens = Math.min(40, tokens + (now - tokenTs) * 0.04); tokenTs = now;
  while (outQueue.length && tokens >= 1 && conn.ws && conn.ws.readyState === WebSocket.OPEN) { conn.ws.send(JSON.stringify(outQueue.shift())); tokens--; }
  if (outQueue.length) pumpTimer = setTimeout(pump, 50);
}

function setState(state, info) { conn.state = state; hooks.onState(state, info || {}); }

export function connect() {
  clearTimeout(reconnectTimer); reconnectTimer = null;
  if (!session.token || conn.ws) return;
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  let sock;
  try { sock = new WebSocket(url, ['chatnode.v1', 'token.' + session.token]); } catch (e) { scheduleReconnect(1006, ''); return; }
  conn.ws = sock; conn.authed = false; lastRx = Date.now(); setState('connecting');
  sock.onmessage = ev => {
    if (conn.ws !== sock) return;
    lastRx = Date.now(); pingSent = 0;
    let f; try { f = JSON.parse(ev.data); } catch (e) { return; }
    if (f.type === 'auth_ok') onAuthOk(f);
    try { hooks.handle(f); } catch (e) { console.warn('frame handling failed', f.type, e); }
  };
  sock.onclose = ev => { if (conn.ws === sock) closed(ev.code, ev.reason); };
}

function onAuthOk(f) {
  conn.authed = true; conn.phase = 'queue'; backoff = 1000;
  conn.heartbeat = f.heartbeat_ms || 30000;
  clearInterval(hbTimer);
  hbTimer = setInterval(() => { if (conn.ws && conn.ws.readyState === WebSocket.OPEN) ping(); }, conn.heartbeat);
  clearInterval(watchTimer); watchTimer = setInterval(watchdog, 1000);
  setState('syncing');
  pumpSends();
}
function ping() { pingSent = pingSent || Date.now(); try { conn.ws.send(JSON.stringify({ type: 'ping', ts: Date.now() })); } catch (e) { /* closing */ } }

// A socket that stopped answering is given up at once, not after TCP notices.
function watchdog() {
  if (!conn.ws || !conn.authed) return;
  const now = Date.now();
  const oldest = Math.min(...[...inflight.values()], Infinity);
  if (now - oldest > ACK_TIMEOUT) return kill('no ack');
  if (pingSent && now - pingSent > 5000) return kill('no pong');
  if (now - lastRx > conn.heartbeat * 2.5) return kill('silent');
}
function kill(why) {
  const s = conn.ws; conn.ws = null;
  try { s.close(); } catch (e) { /* gone */ }
  closed(1006, why);
}
export function closeSocket() {
  const s = conn.ws; conn.ws = null;
  if (s) try { s.close(1000); } catch (e) { /* already closed */ }
  clearTimeout(reconnectTimer); clearInterval(hbTimer); clearInterval(watchTimer); clearTimeout(holdTimer);
  inflight.clear(); outQueue.length = 0; conn.authed = false; conn.phase = 'off';
}

function closed(code, reason) {
  conn.ws = null; conn.authed = false; conn.phase = 'off';
  clearInterval(hbTimer); clearInterval(watchTimer); outQueue.length = 0;
  inflight.clear(); clearTimeout(holdTimer); sendWin = Math.min(sendWin, 4);
  if (hooks.onClosed) hooks.onClosed(code, reason);
  if (code === 4001 && !conn.keepOn4001) return;   // main logs out
  scheduleReconnect(code, reason);
}
function scheduleReconnect(code, reason) {
  clearTimeout(reconnectTimer);
  const cap = document.visibilityState === 'visible' ? BACKOFF_VISIBLE : BACKOFF_HIDDEN;
  const delay = Math.min(backoff, cap) * (0.8 + Math.random() * 0.4);
  backoff = Math.min(backoff * 2, cap);
  conn.retryAt = Date.now() + delay;
  setState(navigator.onLine === false ? 'nonet' : 'offline', { code, reason });
  reconnectTimer = setTimeout(connect, delay);
}
export function reconnectNow() {
  if (!session.token) return;
  if (conn.ws) { if (conn.authed) ping(); return; }   // alive? a pong within 5 s says so
  backoff = 1000; connect();
}

window.addEventListener('online', reconnectNow);
window.addEventListener('offline', () => { if (conn.ws) kill('offline'); else setState('nonet'); });
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') reconnectNow();
});

// ===== outbox (unacked sends, kept across reloads) =====
export const outbox = new Map();   // client_id -> {client_id, conv, kind, body, media_url, created, failed}
const outboxKey = () => 'chatnode.outbox.' + session.me;
export function loadOutbox() {
  outbox.clear();
  try { for (const it of JSON.parse(localStorage.getItem(outboxKey()) || '[]')) outbox.set(it.client_id, it); } catch (e) { /* corrupt: start empty */ }
}
// Other tabs of this user keep their unacked sends under the same key: merge, never overwrite.
const outboxGone = new Set();   // client_ids this tab saw acked or discarded
export function saveOutbox() {
  let stored = [];
  try { stored = JSON.parse(localStorage.getItem(outboxKey()) || '[]'); } catch (e) { /* corrupt: drop it */ }
  const merged = new Map(stored.filter(it => !outboxGone.has(it.client_id)).map(it => [it.client_id, it]));
  for (const [id, it] of outbox) merged.set(id, it);
  localStorage.setItem(outboxKey(), JSON.stringify([...merged.values()]));
}
export function dropFromOutbox(id) {
  if (!outbox.delete(id)) return false;
  outboxGone.add(id); saveOutbox(); return true;
}
export function queueSend(conv, kind, body, media_url, extra) {
  const item = { client_id: uuid(), conv, kind, body, media_url: media_url || null, created: Date.now(), ...(extra || {}) };
  outbox.set(item.client_id, item); saveOutbox();
  pumpSends();
  hooks.onOutbox(conv);
  return item;
}
// Sends leave in the order they were made, at most `sendWin` unacked at a time. A `rate_limited`
// answer holds all sending for a moment, then starts again from the oldest unacked send with a
// window of one: retries never overtake each other.
const SEND_WIN_MAX = 16;
const inflight = new Map();   // client_id -> when sent
let sendWin = 4, holdUntil = 0, holdTimer = null;
export function pumpSends() {
  if (!conn.authed) return;
  const wait = holdUntil - Date.now();
  if (wait > 0) { clearTimeout(holdTimer); holdTimer = setTimeout(pumpSends, wait); return; }
  for (const item of [...outbox.values()].sort((a, b) => a.created - b.created)) {
    if (inflight.size >= sendWin) break;
    if (item.failed || inflight.has(item.client_id)) continue;
    inflight.set(item.client_id, Date.now());
    const f = { type: 'send', conv: item.conv, client_id: item.client_id, kind: item.kind, body: item.body };
    if (item.media_url) f.media_url = item.media_url;
    if (item.reply_to) f.reply_to = item.reply_to;
    if (item.mentions && item.mentions.length) f.mentions = item.mentions;
    frame(f);
  }
}
// After a refusal the node's limit is near: one send at a time for 30 s (two in flight
// could be refused and accepted in the wrong order), then the window may grow again.
let slowUntil = 0;
export function holdSends() {
  slowUntil = Date.now() + 30000;
  if (holdUntil <= Date.now()) holdUntil = Date.now() + 1000 + Math.random() * 500;
  inflight.clear(); sendWin = 1;   // everything unacked goes again, oldest first, after the hold
  pumpSends();
}
export function acked(clientId) {
  if (inflight.delete(clientId) && sendWin < SEND_WIN_MAX && Date.now() >= slowUntil) sendWin++;
}
export function refused(clientId) { inflight.delete(clientId); }

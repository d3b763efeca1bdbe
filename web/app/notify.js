// Notifications while the app is open: a message that arrives while the page is hidden
// shows one (grouped by conversation via `tag`, through the service worker so a click is
// handled in one place), the app badge follows the unread total, and a click on any
// notification (here or from a Web Push) opens its conversation.
import { S, convName } from './store.js';
import { session } from './api.js';
import { t } from './i18n.js';
import { displayName } from './users.js';

export const notify = { onOpen: () => {} };
export const notifyOn = () => localStorage.getItem('chatnode.notify') === '1' && 'Notification' in window && Notification.permission === 'granted';

// A conversation's icon: its initial on its colour, as a PNG data URL (no token needed).
function icon(title) {
  try {
    let x = 0; for (const ch of String(title)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
    const c = document.createElement('canvas'); c.width = c.height = 96;
    const g = c.getContext('2d');
    g.fillStyle = `hsl(${x % 360} 55% 34%)`; g.beginPath(); g.arc(48, 48, 48, 0, 7); g.fill();
    g.fillStyle = '#fff'; g.font = '600 48px system-ui, sans-serif'; g.textAlign = 'center'; g.textBaseline = 'middle';
    g.fillText(([...String(title).trim()][0] || '?').toUpperCase(), 48, 52);
    return c.toDataURL('image/png');
  } catch (e) { return '/app/icon.svg'; }
}

// Called for each new message from someone else that counts as unread.
export async function onMessage(msg) {
  if (document.visibilityState !== 'hidden' || !notifyOn() || msg.sender === session.me || msg.kind === 'system' || msg.recalled) return;
  const c = S.convs.get(msg.conv);
  if (c && c.muted) return;
  const title = c && c.kind === 'group' ? convName(c) : displayName(msg.sender);
  const opts = { body: msg.kind === 'text' ? msg.body : t('kind.' + msg.kind), tag: 'conv-' + msg.conv, renotify: true,
    icon: icon(title), data: { conv: msg.conv, seq: msg.seq, unread: (c && c.unread) || 1 } };
  try {
    const reg = navigator.serviceWorker && await navigator.serviceWorker.getRegistration();
    if (reg) { await reg.showNotification(title, opts); return; }
  } catch (e) { /* fall back to a page notification */ }
  try { const n = new Notification(title, opts); n.onclick = () => { window.focus(); notify.onOpen(msg.conv, msg.seq); n.close(); }; } catch (e) { /* not allowed */ }
}

let lastBadge = -1;
// The app badge shows the unread total; an opened conversation's notifications go away.
export function updateBadge(total) {
  if (total === lastBadge) return;
  lastBadge = total;
  if (navigator.setAppBadge) (total ? navigator.setAppBadge(total) : navigator.clearAppBadge()).catch(() => {});
}
export async function clearNotifications(conv) {
  try {
    const reg = navigator.serviceWorker && await navigator.serviceWorker.getRegistration();
    if (reg) for (const n of await reg.getNotifications({ tag: 'conv-' + conv })) n.close();
  } catch (e) { /* none */ }
}

export function initNotify() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', e => {
    if (e.data && e.data.type === 'open-conv' && e.data.conv != null) notify.onOpen(Number(e.data.conv), e.data.seq);
  });
  window.addEventListener('hashchange', () => { const c = convFromHash(); if (c != null) notify.onOpen(c); });
}
// `#conv=ID` (a notification opened the app) opens that conversation; the hash is dropped.
export function convFromHash() {
  const m = /[#&]conv=(\d+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return Number(m[1]);
}

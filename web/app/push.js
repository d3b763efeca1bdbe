// Web Push: the Settings toggle. Permission is asked only when the toggle is clicked; on,
// the browser subscribes with the node's VAPID key (GET /api/push/vapid) and the
// subscription goes to POST /api/push/subscriptions; off, both are undone. Loaded on use.
import { h } from './dom.js';
import { t } from './i18n.js';
import { api, session } from './api.js';

const idKey = () => 'chatnode.pushSub.' + session.me;
const b64 = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - s.length % 4) % 4)), c => c.charCodeAt(0));
const same = (a, b) => a && b && a.byteLength === b.byteLength && new Uint8Array(a).every((x, i) => x === b[i]);

// Subscribes this browser (again when the node's key changed) and tells the node; returns
// true when the node holds a subscription of this browser.
export async function ensure() {
  const { public_key: key } = await api('GET', '/api/push/vapid');
  const reg = await navigator.serviceWorker.ready, want = b64(key);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !same(sub.options && sub.options.applicationServerKey, want)) { await sub.unsubscribe(); sub = null; }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: want });
  const held = await api('GET', '/api/push/subscriptions');
  const mine = (held.subscriptions || []).find(s => s.endpoint === sub.endpoint);
  if (mine) { localStorage.setItem(idKey(), mine.id); return true; }
  const r = await api('POST', '/api/push/subscriptions', sub.toJSON());
  localStorage.setItem(idKey(), r.id);
  return true;
}

async function turnOff() {
  localStorage.removeItem('chatnode.notify');
  const id = localStorage.getItem(idKey());
  localStorage.removeItem(idKey());
  if (id) await api('DELETE', '/api/push/subscriptions/' + encodeURIComponent(id)).catch(() => {});
  try { const reg = await navigator.serviceWorker.ready, sub = await reg.pushManager.getSubscription(); if (sub) await sub.unsubscribe(); } catch (e) { /* none */ }
}

// The Settings section: one switch and a line saying what it does now.
export function pushSection() {
  const supported = 'Notification' in window && 'serviceWorker' in navigator;
  const box = h('input', { type: 'checkbox', id: 'notifyToggle', role: 'switch', class: 'switch' });
  const msg = h('p', { class: 'set-msg', role: 'status', id: 'notifyMsg' });
  box.checked = supported && localStorage.getItem('chatnode.notify') === '1' && Notification.permission === 'granted';
  box.disabled = !supported;
  if (!supported) msg.textContent = t('set.notifyUnsupported');
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      if (!box.checked) { await turnOff(); msg.textContent = t('set.notifyOff'); return; }
      const perm = await Notification.requestPermission();
      if (perm !== 'granted') { box.checked = false; msg.textContent = t('set.notifyDenied'); return; }
      localStorage.setItem('chatnode.notify', '1');
      try { await ensure(); msg.textContent = t('set.notifyPush'); msg.dataset.push = 'on'; }
      catch (e) { msg.textContent = t('set.notifyLocal'); msg.dataset.push = 'failed'; msg.dataset.why = String(e && (e.name || e.message) || e); }
    } finally { box.disabled = false; }
  });
  return h('section', { class: 'set-sec', 'aria-labelledby': 'h-notify' }, h('h3', { id: 'h-notify' }, t('set.notify')),
    h('label', { class: 'radio' }, box, ' ', h('span', {}, t('set.notifyOn'))), msg);
}

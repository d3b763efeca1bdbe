// Service worker: keeps the client's own files so the app opens when the node is down (the
// page then shows its cached conversations and pending outbox). Network first, so a node
// upgrade shows its new client at once; the API, /ws and media never go through the cache.
const CACHE = 'chatnode-shell-v3';
const SHELL = ['/', '/manifest.webmanifest', '/app/app.css', '/app/icon.svg', '/app/main.js', '/app/api.js',
  '/app/socket.js', '/app/store.js', '/app/i18n.js', '/app/dom.js', '/app/media.js',
  '/app/views/login.js', '/app/views/list.js', '/app/views/chat.js', '/app/views/members.js',
  '/app/views/newconv.js', '/app/views/search.js', '/app/views/conn.js', '/app/views/settings.js',
  '/app/users.js', '/app/qr.js', '/app/notify.js', '/app/push.js', '/app/views/mediaview.js', '/app/views/attach.js',
  '/app/views/voice.js', '/app/views/jump.js',
  '/app/events.js', '/app/views/msgmenu.js', '/app/views/reactions.js', '/app/views/quote.js', '/app/views/mentions.js', '/app/views/compose.js'];

self.addEventListener('install', e => {
  e.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', e => {
  e.waitUntil(caches.keys().then(keys => Promise.all(keys.filter(k => k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()));
});

const isShell = url => url.origin === self.location.origin && (url.pathname === '/' || url.pathname === '/manifest.webmanifest' || url.pathname.startsWith('/app/'));

self.addEventListener('fetch', e => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  const nav = req.mode === 'navigate' && url.origin === self.location.origin;
  if (!isShell(url) && !nav) return;
  const key = nav ? '/' : url.pathname;
  e.respondWith(fetch(req).then(res => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then(c => c.put(key, copy)); }
    return res;
  }).catch(() => caches.match(key).then(r => r || Response.error())));
});


// ===== Web Push (issue 23): the node's payload is {conv, seq, sender, title, body, kind, unread} =====
const NEW_MESSAGE = /^zh/i.test(self.navigator.language || '') ? '新消息' : 'New message';

// The conversation's icon: the title's initial on its colour (as the app draws avatars).
async function iconFor(title) {
  try {
    let x = 0; for (const ch of String(title)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
    const c = new OffscreenCanvas(96, 96), g = c.getContext('2d');
    g.fillStyle = `hsl(${x % 360} 55% 34%)`; g.beginPath(); g.arc(48, 48, 48, 0, 7); g.fill();
    g.fillStyle = '#fff'; g.font = '600 48px sans-serif'; g.textAlign = 'center'; g.textBaseline = 'middle';
    g.fillText(([...String(title).trim()][0] || '?').toUpperCase(), 48, 52);
    const bytes = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
    let bin = ''; for (const b of bytes) bin += String.fromCharCode(b);
    return 'data:image/png;base64,' + btoa(bin);
  } catch (e) { return '/app/icon.svg'; }
}

// The badge counts the unread of every conversation that has a notification showing.
async function updateBadge() {
  if (!self.navigator.setAppBadge) return;
  const list = await self.registration.getNotifications();
  const total = list.reduce((n, x) => n + ((x.data && x.data.unread) || 0), 0);
  await (total ? self.navigator.setAppBadge(total) : self.navigator.clearAppBadge()).catch(() => {});
}

self.addEventListener('push', e => {
  let d = {};
  try { d = e.data ? e.data.json() : {}; } catch (err) { d = {}; }
  const title = d.title || d.sender || 'chatnode';
  e.waitUntil((async () => {
    await self.registration.showNotification(title, {
      body: d.body || NEW_MESSAGE, icon: await iconFor(title), tag: d.conv != null ? 'conv-' + d.conv : 'chatnode', renotify: true,
      data: { conv: d.conv, seq: d.seq, unread: Number(d.unread) || 1 },
    });
    await updateBadge();
  })());
});

// Focuses a window of the app on the notification's conversation, or opens one there.
async function openFromNotification(data) {
  const { conv, seq } = data || {};
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const win = wins.find(w => new URL(w.url).origin === self.location.origin);
  // focus is allowed only during the click itself; the message opens the conversation either way
  if (win) { win.postMessage({ type: 'open-conv', conv, seq }); await win.focus().catch(() => {}); }
  else await self.clients.openWindow(conv != null ? '/#conv=' + conv : '/');
  await updateBadge();
}
self.addEventListener('notificationclick', e => {
  const data = e.notification.data;
  e.notification.close();
  e.waitUntil(openFromNotification(data));
});
self.addEventListener('notificationclose', e => e.waitUntil(updateBadge()));

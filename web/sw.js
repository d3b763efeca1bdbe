// Service worker: keeps the client's own files so the app opens when the node is down (the
// page then shows its cached conversations and pending outbox). Network first, so a node
// upgrade shows its new client at once; the API, /ws and media never go through the cache.
const CACHE = 'chatnode-shell-v2';
const SHELL = ['/', '/manifest.webmanifest', '/app/app.css', '/app/icon.svg', '/app/main.js', '/app/api.js',
  '/app/socket.js', '/app/store.js', '/app/i18n.js', '/app/dom.js', '/app/media.js',
  '/app/views/login.js', '/app/views/list.js', '/app/views/chat.js', '/app/views/members.js',
  '/app/views/newconv.js', '/app/views/search.js', '/app/views/conn.js', '/app/views/settings.js',
  '/app/users.js', '/app/qr.js',
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

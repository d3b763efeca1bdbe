// Media: fetched with the Authorization header into object URLs (never a token in a URL),
// cached, and an image lightbox driven by keyboard, buttons and swipe.
import { session } from './api.js';
import { h, openDialog } from './dom.js';
import { t } from './i18n.js';

const cache = new Map();   // media url -> Promise<object URL>, most recent last
const MAX = 120;

export const isMediaPath = url => typeof url === 'string' && /^\/media\/[A-Za-z0-9._-]+$/.test(url);

export function blobUrl(url) {
  let p = cache.get(url);
  if (p) { cache.delete(url); cache.set(url, p); return p; }
  p = fetch(url, { headers: { Authorization: 'Bearer ' + session.token } }).then(r => {
    if (!r.ok) throw new Error('media ' + r.status);
    return r.blob();
  }).then(b => URL.createObjectURL(b));
  p.catch(() => cache.delete(url));
  cache.set(url, p);
  while (cache.size > MAX) {
    const [k, old] = cache.entries().next().value;
    cache.delete(k); old.then(u => URL.revokeObjectURL(u), () => {});
  }
  return p;
}
// What we know of a media url beyond the url itself ({type, size, name, width, height,
// thumb_url}): the upload answer for our own, a HEAD for others' (message objects carry
// only media_url). Bounded copy in localStorage so boxes keep their size after a reload.
const META_KEY = 'chatnode.media', META_MAX = 300;
const meta = new Map((() => { try { return JSON.parse(localStorage.getItem(META_KEY) || '[]'); } catch (e) { return []; } })());
let metaTimer = null;
export function noteMeta(url, info) {
  if (!isMediaPath(url) || !info) return;
  const m = Object.assign(meta.get(url) || {}, info); meta.delete(url); meta.set(url, m);
  while (meta.size > META_MAX) meta.delete(meta.keys().next().value);
  clearTimeout(metaTimer);
  metaTimer = setTimeout(() => { try { localStorage.setItem(META_KEY, JSON.stringify([...meta])); } catch (e) { /* full */ } }, 300);
}
export const metaOf = url => meta.get(url) || null;
const heads = new Map();
// Type, size and name of a media url (cached; asked once per url).
export function headMeta(url) {
  const known = meta.get(url);
  if (known && known.size != null && known.type) return Promise.resolve(known);
  let p = heads.get(url);
  if (!p) {
    // one byte (Range): the answer names the type, the total size and the file name
    p = fetch(url, { headers: { Authorization: 'Bearer ' + session.token, Range: 'bytes=0-0' }, cache: 'no-store' }).then(r => {
      if (!r.ok) throw new Error('media ' + r.status);
      if (r.body) r.body.cancel().catch(() => {});
      const total = /\/(\d+)\s*$/.exec(r.headers.get('content-range') || '');
      const cd = r.headers.get('content-disposition') || '';
      const star = /filename\*=UTF-8''([^;]+)/i.exec(cd), plain = /filename="([^"]*)"/i.exec(cd);
      let name = null;
      try { name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : null; } catch (e) { name = plain ? plain[1] : null; }
      const info = { type: r.headers.get('content-type') || '', size: total ? Number(total[1]) : Number(r.headers.get('content-length')) || 0 };
      if (name) info.name = name;
      noteMeta(url, info);
      return metaOf(url);
    });
    p.catch(() => heads.delete(url));
    heads.set(url, p);
  }
  return p;
}
export function fmtSize(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return n + ' B';
  const u = ['KB', 'MB', 'GB']; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return (n < 10 ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}

export function clearMedia() {
  for (const p of cache.values()) p.then(u => URL.revokeObjectURL(u), () => {});
  cache.clear();
}

// Sets `attr` of `el` to the media's object URL once fetched.
export function attach(el, url, attr = 'src', onload, onfail) {
  el.dataset.media = url;
  blobUrl(url).then(u => { el[attr] = u; if (onload) el.addEventListener('load', onload, { once: true }); },
    () => { if (onfail) onfail(); else el.replaceWith(h('span', { class: 'muted' }, t('mediaFailed'))); });
}

// ===== lightbox =====
let box = null, list = [], at = 0;
function show() {
  const img = box.querySelector('img'), url = list[at];
  img.removeAttribute('src');
  blobUrl(url).then(u => { if (list[at] === url) img.src = u; }, () => {});
  box.querySelector('.lb-count').textContent = `${at + 1} / ${list.length}`;
  box.querySelector('.lb-prev').disabled = at === 0;
  box.querySelector('.lb-next').disabled = at === list.length - 1;
}
const step = d => { const n = at + d; if (n >= 0 && n < list.length) { at = n; show(); } };
export function openLightbox(urls, url) {
  list = urls.length ? urls : [url]; at = Math.max(0, list.indexOf(url));
  if (!box) {
    let x0 = null;
    box = h('dialog', { class: 'lightbox', 'aria-label': t('imageViewer') },
      h('img', { alt: t('image') }),
      h('div', { class: 'lb-bar' },
        h('button', { class: 'lb-prev secondary', 'aria-label': t('previous'), onclick: () => step(-1) }, '‹'),
        h('span', { class: 'lb-count' }),
        h('button', { class: 'lb-next secondary', 'aria-label': t('next'), onclick: () => step(1) }, '›'),
        h('button', { class: 'lb-close secondary', 'aria-label': t('close'), onclick: () => box.close() }, '×')));
    box.addEventListener('keydown', e => {
      if (e.key === 'ArrowLeft') { e.preventDefault(); step(-1); }
      if (e.key === 'ArrowRight') { e.preventDefault(); step(1); }
    });
    box.addEventListener('pointerdown', e => { x0 = e.clientX; });
    box.addEventListener('pointerup', e => {
      if (x0 != null && Math.abs(e.clientX - x0) > 50) step(e.clientX < x0 ? 1 : -1);
      x0 = null;
    });
    box.addEventListener('click', e => { if (e.target === box) box.close(); });
    document.body.append(box);
  }
  show();
  openDialog(box, box.querySelector('.lb-close'));
}

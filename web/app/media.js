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
export function clearMedia() {
  for (const p of cache.values()) p.then(u => URL.revokeObjectURL(u), () => {});
  cache.clear();
}

// Sets `attr` of `el` to the media's object URL once fetched.
export function attach(el, url, attr = 'src', onload) {
  el.dataset.media = url;
  blobUrl(url).then(u => { el[attr] = u; if (onload) el.addEventListener('load', onload, { once: true }); },
    () => { el.replaceWith(h('span', { class: 'muted' }, t('mediaFailed'))); });
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

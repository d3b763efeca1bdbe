// Media inside a message: image thumbnails in a box whose size is fixed before anything
// loads (nothing jumps), voice and video players, file chips (name, size, download).
// Uploading and recording load on first use (views/attach.js, views/voice.js).
import { h, toast } from '../dom.js';
import { t } from '../i18n.js';
import { attach, blobUrl, metaOf, noteMeta, headMeta, fmtSize, openLightbox } from '../media.js';

const BOX = 240;   // longest side of a thumbnail in the timeline, px
// The box for an image: its own proportions when known, else a fixed default.
function box(m) {
  const w = m && m.width, ht = m && m.height;
  if (!(w > 0 && ht > 0)) return [BOX, Math.round(BOX * 0.75)];
  const s = Math.min(1, BOX / w, BOX / ht);
  return [Math.max(40, Math.round(w * s)), Math.max(40, Math.round(ht * s))];
}

function image(msg, urls) {
  const url = msg.media_url, info = metaOf(url), [w, ht] = box(info);
  const img = h('img', { alt: (info && info.name) || t('image'), class: 'thumb', width: String(w), height: String(ht),
    style: `width:${w}px;height:${ht}px` });
  const thumb = (info && info.thumb_url) || url + '/thumb';
  img.dataset.media = url;
  blobUrl(thumb).catch(() => blobUrl(url)).then(u => {
    img.addEventListener('load', () => { if (!(info && info.width)) noteMeta(url, { seen_w: img.naturalWidth, seen_h: img.naturalHeight }); }, { once: true });
    img.src = u;
  }, () => img.replaceWith(h('span', { class: 'muted' }, t('mediaFailed'))));
  return h('button', { type: 'button', class: 'imgbtn', 'aria-label': t('openImage'), onclick: () => openLightbox(urls(), url) }, img);
}

function fileChip(msg) {
  const url = msg.media_url, info = metaOf(url) || {};
  const name = h('span', { class: 'fname' }, info.name || t('kind.file'));
  const size = h('span', { class: 'fsize' }, info.size != null ? fmtSize(info.size) : '');
  const btn = h('button', { type: 'button', class: 'filechip', onclick: () => download(url) },
    h('span', { class: 'ficon', 'aria-hidden': 'true' }, '⤓'), h('span', { class: 'sr' }, t('download') + ' '), h('span', { class: 'fmain' }, name, ' ', size));
  if (info.size == null || !info.name) headMeta(url).then(i => {
    if (i.name) name.textContent = i.name;
    size.textContent = fmtSize(i.size);
    if (/^audio\//.test(i.type || '') && !btn.nextSibling && btn.parentNode) btn.after(player('audio', url));
  }, () => {});
  const kids = [btn];
  if (/^audio\//.test(info.type || '')) kids.push(player('audio', url));
  return kids;
}

// Fetched with the token into a blob, then saved under its name.
async function download(url) {
  try {
    const [u, info] = await Promise.all([blobUrl(url), headMeta(url).catch(() => metaOf(url) || {})]);
    const a = h('a', { href: u, download: (info && info.name) || 'download' });
    document.body.append(a); a.click(); a.remove();
  } catch (e) { toast(t('mediaFailed')); }
}

function player(tag, url) {
  const el = h(tag, { controls: true, preload: 'metadata', class: tag === 'audio' ? 'voice' : '' });
  attach(el, url);
  return el;
}

// The media part of message `m` (urls: every image of the conversation, for the lightbox).
export function mediaContent(m, urls) {
  if (m.kind === 'image') return [image(m, urls)];
  if (m.kind === 'voice') return [player('audio', m.media_url)];
  if (m.kind === 'video') return [player('video', m.media_url)];
  if (m.kind === 'file') return fileChip(m);
  return [];
}

// The composer's voice button records on first use.
export function initMedia() {
  const btn = document.getElementById('voiceBtn');
  if (!btn) return;
  if (!(navigator.mediaDevices && window.MediaRecorder)) { btn.classList.add('hidden'); return; }
  btn.addEventListener('click', () => import('./voice.js').then(v => v.toggle(btn)));
}

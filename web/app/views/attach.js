// Sending files: each upload streams with XHR (so its progress shows), then the message
// goes through the outbox like any other. Images the node can decode become `image`
// messages with a thumbnail, videos `video`, recordings `voice`, anything else `file`.
// Loaded on the first paste, drop, pick or recording.
import { $, h, toast } from '../dom.js';
import { t } from '../i18n.js';
import { session, errorText, ApiError } from '../api.js';
import { S } from '../store.js';
import { queueSend } from '../socket.js';
import { noteMeta, fmtSize } from '../media.js';

// The strip above the composer with one row per running upload.
function strip() {
  let el = $('uploads');
  if (!el) {
    el = h('ul', { id: 'uploads', class: 'uploads', 'aria-label': t('uploadsLabel') });
    $('composer').before(el);
  }
  return el;
}

// The request (to abort it) and its answer.
function post(file, name, onProgress) {
  const x = new XMLHttpRequest();
  return [x, new Promise((resolve, reject) => {
    x.open('POST', '/api/media');
    x.setRequestHeader('Authorization', 'Bearer ' + session.token);
    x.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    if (name) x.setRequestHeader('X-Filename', encodeURIComponent(name));
    x.upload.onprogress = e => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => {
      let data = null; try { data = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
      if (x.status === 201 && data && data.url) resolve(data);
      else { const err = (data && data.error) || {}; reject(new ApiError(err.code || 'http_' + x.status, err.message || '', x.status)); }
    };
    x.onerror = () => reject(new ApiError('network', 'network', 0));
    x.onabort = () => reject(new ApiError('aborted', 'aborted', 0));
    x.send(file);
  })];
}

const kindFor = (r, wanted) => wanted || ((r.thumb_url || r.width) && /^image\//.test(r.type) ? 'image' : /^video\//.test(r.type) ? 'video' : 'file');

// Uploads `file` and sends it to `conv` (the open conversation by default).
export async function sendFile(file, kind, conv = S.open) {
  if (conv == null || !file) return;
  const name = file.name || (kind === 'voice' ? t('kind.voice') : '');
  const bar = h('progress', { max: '1', value: '0', 'aria-label': t('uploadingName', { name: name || t('kind.file') }) });
  const row = h('li', { class: 'upload' }, h('span', { class: 'fname' }, name || t('kind.file')),
    h('span', { class: 'fsize' }, fmtSize(file.size)), bar);
  const cancel = h('button', { type: 'button', class: 'secondary small', 'aria-label': t('cancelUpload', { name }) }, t('cancel'));
  row.append(cancel);
  strip().append(row);
  const [x, answer] = post(file, name, f => { bar.value = f; row.dataset.progress = String(Math.round(f * 100)); });
  cancel.addEventListener('click', () => x.abort());
  try {
    const r = await answer;
    bar.value = 1;
    noteMeta(r.url, { type: r.type, size: r.size, name: r.name, width: r.width, height: r.height, thumb_url: r.thumb_url });
    queueSend(conv, kindFor(r, kind), '', r.url);
  } catch (e) {
    if (e.code !== 'aborted') toast(t('uploadFailed') + ' ' + errorText(e));
  } finally {
    row.remove();
    const s = $('uploads'); if (s && !s.childElementCount) s.remove();
  }
}

export function sendFiles(files) { for (const f of files) sendFile(f); }

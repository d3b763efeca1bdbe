// Voice messages: the composer's microphone button starts a recording (MediaRecorder,
// Opus in WebM or Ogg where the browser has it) and a second press sends it as a `voice`
// message; Esc while recording throws it away. Loaded on the first press.
import { toast } from '../dom.js';
import { t } from '../i18n.js';
import { S } from '../store.js';
import { sendFile } from './attach.js';

const MAX_MS = 5 * 60000;
let rec = null;

function mimeType() {
  for (const m of ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'])
    if (MediaRecorder.isTypeSupported(m)) return m;
  return '';
}

function setButton(btn, on, started) {
  btn.setAttribute('aria-pressed', String(on));
  btn.classList.toggle('recording', on);
  btn.setAttribute('aria-label', on ? t('stopRecording') : t('recordVoice'));
  btn.title = btn.getAttribute('aria-label');
  clearInterval(btn._tick);
  const out = document.getElementById('recTime');
  if (out) out.remove();
  if (on) {
    const el = document.createElement('span');
    el.id = 'recTime'; el.className = 'rectime'; el.setAttribute('role', 'timer');
    btn.after(el);
    const tick = () => { const s = Math.floor((Date.now() - started) / 1000); el.textContent = Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0'); };
    tick(); btn._tick = setInterval(tick, 500);
  }
}

function stop(send) {
  if (!rec) return;
  rec.send = send;
  if (rec.r.state !== 'inactive') rec.r.stop();
}

export async function toggle(btn) {
  if (rec) { stop(true); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch (e) { toast(t('micDenied')); return; }
  const type = mimeType();
  const r = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [], conv = S.open, started = Date.now();
  rec = { r, send: true };
  r.ondataavailable = e => { if (e.data && e.data.size) chunks.push(e.data); };
  r.onstop = () => {
    const { send } = rec; rec = null;
    stream.getTracks().forEach(tr => tr.stop());
    clearTimeout(limit); document.removeEventListener('keydown', onKey, true);
    setButton(btn, false);
    btn.focus();
    if (!send || !chunks.length) return;
    const blob = new Blob(chunks, { type: (r.mimeType || type || 'audio/webm').split(';')[0] });
    const ext = /ogg/.test(blob.type) ? 'ogg' : /mp4/.test(blob.type) ? 'm4a' : 'webm';
    sendFile(new File([blob], 'voice-' + new Date(started).toISOString().slice(0, 19).replace(/:/g, '') + '.' + ext, { type: blob.type }), 'voice', conv);
  };
  const limit = setTimeout(() => stop(true), MAX_MS);
  const onKey = e => { if (e.key === 'Escape' && rec) { e.preventDefault(); e.stopPropagation(); stop(false); } };
  document.addEventListener('keydown', onKey, true);
  r.start(250);
  setButton(btn, true, started);
}

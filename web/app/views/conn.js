// The connection banner: what is happening in words, a live countdown to the next try and
// "Retry now"; the status dot in the header says it too (with text).
import { $ } from '../dom.js';
import { t } from '../i18n.js';
import { conn, reconnectNow } from '../socket.js';

let tick = null;
export function showConn(state) {
  const dot = $('connDot'), note = $('connNote');
  dot.className = 'dot ' + ({ live: 'on', offline: 'off', nonet: 'off' }[state] || 'wait');
  dot.setAttribute('aria-label', t('conn.' + state));
  dot.title = t('conn.' + state);
  const down = state === 'offline' || state === 'nonet';
  note.classList.toggle('hidden', !(down || state === 'connecting'));
  $('retryBtn').classList.toggle('hidden', !down);
  clearInterval(tick); tick = null;
  const text = () => {
    const secs = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    $('connText').textContent = state === 'nonet' ? t('conn.nonetLong', { s: secs })
      : state === 'offline' ? t('conn.offlineLong', { s: secs }) : t('conn.' + state) + '…';
  };
  text();
  if (down) tick = setInterval(text, 250);
}
export function initConn() { $('retryBtn').addEventListener('click', () => reconnectNow()); }

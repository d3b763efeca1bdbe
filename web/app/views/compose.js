// The composer's modes: a plain message, a reply (a bar naming its target), or editing one
// of the caller's messages (Up in an empty composer edits the last one). Sends go through
// the outbox with reply_to and mentions; edits as `edit` events.
import { $, h, toast } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../api.js';
import { S, shownMsgs } from '../store.js';
import { queueSend } from '../socket.js';
import { sendEdit } from '../events.js';
import { displayName } from '../users.js';
import { mentionsIn, closeMentions } from './mentions.js';

export const compose = { editWindowMs: 172800000, reply: null, edit: null };

export const canEdit = m => m.sender === session.me && m.kind === 'text' && !m.recalled
  && compose.editWindowMs > 0 && Date.now() + S.skew - m.ts < compose.editWindowMs;

let bar = null;
function showBar() {
  const m = compose.edit || compose.reply;
  if (!bar) { bar = h('div', { id: 'composeBar', class: 'compose-bar hidden' }); $('composer').before(bar); }
  if (!m) { bar.classList.add('hidden'); bar.replaceChildren(); return; }
  const label = compose.edit ? t('editing') : t('replyingTo', { name: displayName(m.sender) });
  bar.replaceChildren(h('span', { class: 'grow' }, h('b', {}, label), ' ',
    h('span', { class: 'muted' }, m.kind === 'text' ? m.body.slice(0, 80) : t('kind.' + m.kind))),
  h('button', { type: 'button', class: 'icon', id: 'composeCancel', 'aria-label': compose.edit ? t('cancelEdit') : t('cancelReply'),
    title: compose.edit ? t('cancelEdit') : t('cancelReply'), onclick: () => { cancelCompose(); $('text').focus(); } }, '×'));
  bar.classList.remove('hidden');
}
function setText(v) { const ta = $('text'); ta.value = v; ta.style.height = ''; ta.style.height = Math.min(ta.scrollHeight, 160) + 'px'; }

export function startReply(m) {
  if (compose.edit) setText('');
  compose.edit = null; compose.reply = m; showBar(); $('text').focus();
}
export function startEdit(m) {
  compose.reply = null; compose.edit = m; showBar();
  setText(m.body); const ta = $('text'); ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length);
}
export function cancelCompose() {
  if (compose.edit) setText('');
  compose.reply = null; compose.edit = null; showBar();
}
// A conversation switch drops the mode (its target belongs to the old conversation).
export function resetCompose() { if (compose.reply || compose.edit) cancelCompose(); closeMentions(); }

export function submitText() {
  const ta = $('text'), body = ta.value;
  if (S.open == null) return;
  if (compose.edit) {
    const m = compose.edit;
    if (body.trim() && body !== m.body) {
      if (new TextEncoder().encode(body).length > 16000) { toast(t('tooLong')); return; }
      if (!sendEdit(m, body)) { toast(t('offlineAction')); return; }
    }
    cancelCompose(); return;
  }
  if (!body.trim()) return;
  if (new TextEncoder().encode(body).length > 16000) { toast(t('tooLong')); return; }
  const extra = { mentions: mentionsIn(S.open, body) };
  if (compose.reply && compose.reply.conv === S.open) extra.reply_to = compose.reply.seq;
  queueSend(S.open, 'text', body, null, extra);
  setText(''); ta.style.height = '';
  compose.reply = null; showBar();
}

export function initCompose() {
  const ta = $('text');
  ta.addEventListener('keydown', e => {
    if (e.key === 'Escape' && (compose.edit || compose.reply)) { e.preventDefault(); e.stopPropagation(); cancelCompose(); }
    else if (e.key === 'ArrowUp' && !ta.value && !e.shiftKey && S.open != null) {
      const last = shownMsgs(S.open).filter(canEdit).pop();
      if (last) { e.preventDefault(); startEdit(last); }
    }
  });
}

// The conversation list: one button per conversation (arrow keys move, Enter opens),
// avatars, previews, unread badges with text, pinned first.
import { $, h, avatar, fmtShort } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../api.js';
import { S, peer, convName, activity, typingUsers } from '../store.js';
import { conn } from '../socket.js';
import { userAvatar, displayName, profileOf } from '../users.js';

export const list = { onOpen: () => {} };

function preview(c) {
  if (typingUsers(c.conv).length) return t('typing');
  const m = c.last_message; if (!m) return t('noMessages');
  if (m.recalled) return t('recalled');
  if (m.kind === 'system') return m.body;
  const who = m.sender === session.me ? t('you') + ': ' : c.kind === 'group' ? displayName(m.sender) + ': ' : '';
  return who + (m.kind === 'text' ? m.body : t('kind.' + m.kind));
}

let lastSig = '';
export function renderList() {
  const convs = [...S.convs.values()].sort((a, b) => (b.pinned - a.pinned) || (activity(b) - activity(a)) || (b.conv - a.conv));
  const total = convs.reduce((n, c) => n + (c.unread || 0), 0);
  document.title = (total ? `(${total}) ` : '') + 'chatnode';
  const ul = $('convList');
  // rebuilt only when something shown changed (a click is never lost to a re-render)
  const sig = JSON.stringify([conn.state, S.open, [...S.online], convs.map(c => [c.conv, convName(c), c.pinned, c.unread, c.mentions, c.last_message, preview(c),
    c.kind === 'direct' ? profileOf(peer(c)) : null])]);
  if (sig === lastSig && ul.childElementCount) return;
  lastSig = sig;
  const had = document.activeElement && ul.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.conv : null;
  ul.replaceChildren(...convs.map(c => {
    const p = peer(c), lm = c.last_message, on = p && conn.state === 'live' && S.online.has(p);
    return h('li', { class: c.conv === S.open ? 'active' : '', 'data-conv': c.conv, onclick: () => list.onOpen(c.conv) },
      h('button', { class: 'item', 'aria-current': c.conv === S.open ? 'true' : null },
        c.kind === 'direct' ? userAvatar(p, on ? h('span', { class: 'dot on' }) : null) : avatar('group:' + c.name, convName(c)),
        h('span', { class: 'cmain' },
          h('span', { class: 'crow' }, h('span', { class: 'cname' }, convName(c)),
            on ? h('span', { class: 'sr' }, ', ' + t('online')) : null,
            c.pinned ? h('span', { class: 'pin' }, t('pinned')) : null, h('span', { class: 'ctime' }, lm ? fmtShort(lm.ts) : '')),
          h('span', { class: 'crow' }, h('span', { class: 'cprev' + (typingUsers(c.conv).length ? ' typing' : '') }, preview(c)),
            c.mentions && c.unread ? [h('span', { class: 'badge at', 'aria-hidden': 'true' }, '@'), h('span', { class: 'sr' }, ' ' + t('mentionedYou'))] : null,
            c.unread ? [h('span', { class: 'badge' }, c.unread > 99 ? '99+' : String(c.unread)), h('span', { class: 'sr' }, ' ' + t('unreadN', { n: c.unread }))] : null))));
  }));
  if (!convs.length) ul.append(h('li', { class: 'hint' }, t('noConvs')));
  if (had) ul.querySelector(`li[data-conv="${had}"] button`)?.focus();
}

// Up/Down/Home/End move between the items of a list of buttons.
export function arrowNav(ul) {
  ul.addEventListener('keydown', e => {
    const items = [...ul.querySelectorAll('li > button')];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowDown') j = Math.min(i + 1, items.length - 1);
    if (e.key === 'ArrowUp') j = Math.max(i - 1, 0);
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = items.length - 1;
    if (j != null) { e.preventDefault(); items[j].focus(); }
  });
}

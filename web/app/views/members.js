// The members panel: who is in the conversation, add (groups), remove (only for those who
// may: owner/admins per PROTOCOL.md v1.1, the creator on a v1 node), leave (confirmed), hide.
import { $, h, toast, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';
import { S, mergeConv } from '../store.js';
import { userAvatar, displayName } from '../users.js';

export const members = { onLeft: () => {}, onHide: () => {}, onRender: () => {}, panelRefresh: null };

const names = s => s.split(/[\s,，、]+/).map(x => x.trim().toLowerCase()).filter(Boolean);

// Whether the signed-in user may remove `u` from `c`.
export function canRemove(c, u) {
  if (c.kind !== 'group' || u === session.me) return false;
  if (Array.isArray(c.admins)) return c.admins.includes(session.me) && u !== c.owner;
  if (c.owner) return c.owner === session.me;
  return c._creator === session.me;   // a v1 node does not say; we remember groups we made
}

async function change(conv, body) {
  try {
    const c = mergeConv(await api('POST', `/api/conversations/${conv}/members`, body));
    if (!(c.members || []).includes(session.me)) members.onLeft(conv, t('youLeft'));
    members.onRender();
  } catch (e) { toast(errorText(e, 'user')); }
}

export async function leave(c) {
  if (!(await confirmDialog(t('leaveQ', { name: c.name || '' }), t('leave'), true))) return;
  S.left.add(c.conv);   // nothing (delivered, read, typing) goes to it from now on
  try {
    await api('POST', `/api/conversations/${c.conv}/members`, { remove: [session.me] });
    members.onLeft(c.conv, t('youLeft'));
  } catch (e) { S.left.delete(c.conv); toast(errorText(e)); }
}

export function renderMembers(c) {
  const group = c.kind === 'group';
  const add = h('input', { id: 'addMembers', placeholder: t('addPlaceholder'), autocapitalize: 'none', spellcheck: 'false', 'aria-label': t('addMembers') });
  $('members').replaceChildren(
    h('ul', { class: 'chips', 'aria-label': t('membersTitle') }, (c.members || []).map(u => h('li', { class: 'chip' },
      userAvatar(u), h('span', { title: u }, displayName(u) === u ? u : displayName(u) + ' (' + u + ')'),
      h('span', { class: 'sr' }, S.online.has(u) || u === session.me ? t('online') : ''),
      canRemove(c, u) ? h('button', { class: 'icon', 'aria-label': t('removeName', { name: u }), title: t('removeName', { name: u }),
        onclick: async () => { if (await confirmDialog(t('removeQ', { name: u }), t('remove'), true)) change(c.conv, { remove: [u] }); } }, '×') : null))),
    group ? h('form', { class: 'row', onsubmit: e => { e.preventDefault(); const l = names(add.value); if (l.length) change(c.conv, { add: l }); } },
      add, h('button', { type: 'submit' }, t('add'))) : null,
    h('div', { class: 'row wrap' },
      group ? h('button', { class: 'secondary', id: 'groupBtn', 'aria-haspopup': 'dialog', onclick: () => openGroup(c.conv) }, t('groupSettings')) : null,
      h('button', { class: 'secondary', id: 'muteBtn', 'aria-pressed': String(!!c.muted), onclick: () => setMuted(c.conv, !c.muted) }, c.muted ? t('unmute') : t('mute')),
      group ? h('button', { class: 'secondary', id: 'leaveBtn', onclick: () => leave(c) }, t('leaveGroup')) : null,
      h('button', { class: 'secondary', onclick: () => members.onHide() }, t('hideConv'))));
  if (members.panelRefresh) members.panelRefresh(c);
}

// Per-user mute (v1.1): the conversation still counts unread, but sends no push.
export async function setMuted(conv, muted) {
  try { mergeConv(await api('PUT', `/api/conversations/${conv}/mute`, { muted })); members.onRender(); return null; }
  catch (e) { const msg = errorText(e); toast(msg); return msg; }
}
// The group panel is loaded on first use.
async function openGroup(conv) { (await import('./group.js')).openGroupPanel(conv); }

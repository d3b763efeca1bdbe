// The group panel (loaded on first use): rename, members with their roles, add, remove,
// make or unmake admin, mute, leave. Buttons show only when the caller's role allows
// (PROTOCOL.md v1.1 "Groups"); the node's refusals are said in plain words inside it.
import { h, openDialog, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';
import { S, mergeConv } from '../store.js';
import { userAvatar, displayName } from '../users.js';
import { members, canRemove, leave, setMuted } from './members.js';

let dlg = null, conv = null, msg = '', busy = false, sig = '';
const isAdmin = c => (c.admins || []).includes(session.me) || c.owner === session.me;
const names = s => s.split(/[\s,，、]+/).map(x => x.trim().replace(/^@/, '').toLowerCase()).filter(Boolean);

function say(e, what) {
  if (!e) { msg = what || ''; return; }
  if (e.status === 403 || e.code === 'forbidden') msg = what === 'admins' ? t('err.onlyOwner') : t('err.onlyAdmins');
  else if (what === 'rename' && (e.status === 400 || e.code === 'bad_request')) msg = t('err.nameLen');
  else msg = errorText(e, what === 'add' ? 'user' : undefined);
}

async function run(what, fn, ok) {
  if (busy) return; busy = true; msg = '';
  try { const c = await fn(); if (c && c.conv != null) mergeConv(c); say(null, ok); }
  catch (e) { say(e, what); }
  finally { busy = false; members.onRender(); render(true); }
}

// Rebuilt only when what it shows changed (a render while typing a name keeps the text).
function render(force) {
  const c = S.convs.get(conv);
  if (!dlg) return;
  if (!c || !(c.members || []).includes(session.me)) { if (dlg.open) dlg.close(); return; }
  const now = JSON.stringify([c.name, c.members, c.admins, c.owner, c.muted, msg, S.online.size]);
  if (!force && now === sig && dlg.childElementCount) return;
  sig = now;
  const admin = isAdmin(c), owner = c.owner === session.me;
  const back = dlg.contains(document.activeElement) ? document.activeElement.id : null;
  const nameIn = h('input', { id: 'gName', maxlength: '64', value: c.name || '', 'aria-label': t('groupName'), autocomplete: 'off' });
  const addIn = h('input', { id: 'gAdd', placeholder: t('addPlaceholder'), 'aria-label': t('addMembers'), autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off' });
  const role = u => u === c.owner ? t('role.owner') : (c.admins || []).includes(u) ? t('role.admin') : '';
  dlg.replaceChildren(
    h('div', { class: 'row' }, h('h2', { id: 'gTitle', class: 'grow' }, t('groupPanel', { name: c.name || '' })),
      h('button', { type: 'button', class: 'secondary', id: 'gClose', onclick: () => dlg.close() }, t('close'))),
    h('p', { id: 'gMsg', class: 'set-msg', role: 'status' }, msg),
    admin ? h('form', { class: 'row', onsubmit: e => { e.preventDefault();
      const name = nameIn.value.trim();
      if (!name || name.length > 64) { msg = t('err.nameLen'); render(true); return; }
      run('rename', () => api('PATCH', `/api/conversations/${conv}`, { name }), t('renamed'));
    } }, nameIn, h('button', { type: 'submit', id: 'gRename' }, t('rename'))) : null,
    h('ul', { class: 'set-list', 'aria-label': t('membersTitle') }, (c.members || []).map(u => h('li', { 'data-user': u },
      userAvatar(u), h('span', { class: 'grow', title: u }, displayName(u) === u ? u : displayName(u) + ' (' + u + ')',
        role(u) ? h('span', { class: 'pin role' }, role(u)) : null),
      owner && u !== c.owner ? ((c.admins || []).includes(u)
        ? h('button', { type: 'button', class: 'secondary small', id: 'gUnadmin-' + u, 'aria-label': t('unmakeAdmin') + ' ' + u,
          onclick: () => run('admins', () => api('PUT', `/api/conversations/${conv}/admins`, { remove: [u] }), t('saved')) }, t('unmakeAdmin'))
        : h('button', { type: 'button', class: 'secondary small', id: 'gAdmin-' + u, 'aria-label': t('makeAdmin') + ' ' + u,
          onclick: () => run('admins', () => api('PUT', `/api/conversations/${conv}/admins`, { add: [u] }), t('saved')) }, t('makeAdmin'))) : null,
      canRemove(c, u) ? h('button', { type: 'button', class: 'secondary small', id: 'gRemove-' + u, 'aria-label': t('removeName', { name: u }),
        onclick: async () => { if (await confirmDialog(t('removeQ', { name: u }), t('remove'), true))
          run('remove', () => api('POST', `/api/conversations/${conv}/members`, { remove: [u] }), t('saved')); } }, t('remove')) : null))),
    h('form', { class: 'row', onsubmit: e => { e.preventDefault(); const l = names(addIn.value);
      if (l.length) run('add', () => api('POST', `/api/conversations/${conv}/members`, { add: l }), t('saved')); } },
    addIn, h('button', { type: 'submit', id: 'gAddBtn' }, t('add'))),
    h('div', { class: 'row wrap' },
      h('button', { type: 'button', class: 'secondary', id: 'gMute', 'aria-pressed': String(!!c.muted),
        onclick: async () => { const err = await setMuted(conv, !c.muted); msg = err || (S.convs.get(conv)?.muted ? t('mutedNote') : ''); render(true); } },
      c.muted ? t('unmute') : t('mute')),
      h('button', { type: 'button', class: 'secondary', id: 'gLeave', onclick: async () => { const was = conv; dlg.close(); await leave(S.convs.get(was)); } }, t('leaveGroup'))));
  if (back && document.getElementById(back)) document.getElementById(back).focus();
}

export function openGroupPanel(id) {
  conv = id; msg = '';
  if (!dlg) {
    dlg = h('dialog', { id: 'groupPanel', class: 'card wide', 'aria-labelledby': 'gTitle' });
    dlg.addEventListener('close', () => { members.panelRefresh = null; });
    document.body.append(dlg);
  }
  members.panelRefresh = c => { if (c.conv === conv && dlg.open) render(); };
  render(true);
  openDialog(dlg, dlg.querySelector('#gName') || dlg.querySelector('#gClose'));
}

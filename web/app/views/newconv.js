// The "new conversation" dialog (a real <dialog>: Esc closes, focus stays inside).
import { $, openDialog } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';
import { mergeConv, saveCache } from '../store.js';

export const newconv = { onCreated: () => {} };
const kind = () => document.querySelector('input[name=kind]:checked').value;
const names = s => s.split(/[\s,，、]+/).map(x => x.trim().toLowerCase()).filter(Boolean);

function sync() {
  const group = kind() === 'group';
  $('nNameRow').classList.toggle('hidden', !group);
  $('nMembersLabel').textContent = group ? t('membersComma') : t('username');
}

export function initNewConv() {
  document.querySelectorAll('input[name=kind]').forEach(r => r.addEventListener('change', sync));
  $('newBtn').addEventListener('click', () => {
    $('newForm').reset(); sync(); $('nErr').textContent = '';
    openDialog($('modal'), $('nMembers'));
  });
  $('nCancel').addEventListener('click', () => $('modal').close());
  $('newForm').addEventListener('submit', async e => {
    e.preventDefault();
    const k = kind(), members = names($('nMembers').value);
    const body = k === 'group' ? { kind: k, name: $('nName').value.trim(), members } : { kind: k, members: members.slice(0, 1) };
    if (!members.length) { $('nErr').textContent = t('needUser'); return; }
    if (k === 'group' && !body.name) { $('nErr').textContent = t('needGroupName'); return; }
    try {
      const c = mergeConv(await api('POST', '/api/conversations', body));
      c._touched = Date.now();
      if (k === 'group') c._creator = session.me;
      saveCache();
      $('modal').close();
      newconv.onCreated(c.conv);
    } catch (err) { $('nErr').textContent = errorText(err, 'user'); }
  });
}

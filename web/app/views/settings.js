// Settings: profile (display name, avatar with a square crop preview), password change,
// devices (sessions) with revoke, invites (link, copy, QR code), and for admins the users
// page. One <dialog>, one section per concern.
import { $, h, toast, confirmDialog, openDialog, fmtShort } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';
import { setProfile, userAvatar, displayName } from '../users.js';
import { qrSvg } from '../qr.js';
import { conn } from '../socket.js';

export const settings = { onToken: () => {}, onLoggedOut: () => {}, me: null, features: {} };

const section = (title, ...kids) => h('section', { class: 'set-sec', 'aria-labelledby': 'h-' + title },
  h('h3', { id: 'h-' + title }, t('set.' + title)), ...kids);
const field = (label, input) => h('label', {}, h('span', {}, label), input);
const status = () => h('p', { class: 'set-msg', role: 'status' });

// ===== profile =====
function profileSection() {
  const me = settings.me || { user: session.me };
  const name = h('input', { id: 'setName', maxlength: '64', value: me.display_name || '', autocomplete: 'nickname' });
  const msg = status();
  const preview = h('canvas', { id: 'cropPreview', width: '256', height: '256', class: 'crop hidden', role: 'img', 'aria-label': t('set.avatarPreview') });
  const zoom = h('input', { id: 'cropZoom', type: 'range', min: '1', max: '3', step: '0.05', value: '1', class: 'hidden', 'aria-label': t('set.zoom') });
  const file = h('input', { id: 'avatarFile', type: 'file', accept: 'image/*', class: 'sr', tabindex: '-1', 'aria-label': t('set.chooseAvatar') });
  const saveAv = h('button', { type: 'button', id: 'saveAvatar', class: 'hidden' }, t('set.useAvatar'));
  let img = null;
  const draw = () => {
    if (!img) return;
    const ctx = preview.getContext('2d'), z = Number(zoom.value);
    const side = Math.min(img.naturalWidth, img.naturalHeight) / z;
    const sx = (img.naturalWidth - side) / 2, sy = (img.naturalHeight - side) / 2;
    ctx.clearRect(0, 0, 256, 256);
    ctx.drawImage(img, sx, sy, side, side, 0, 0, 256, 256);
  };
  file.addEventListener('change', () => {
    const f = file.files[0]; if (!f) return;
    if (!f.type.startsWith('image/')) { msg.textContent = t('unsupportedFile'); return; }
    const u = URL.createObjectURL(f);
    img = new Image();
    img.onload = () => { [preview, zoom, saveAv].forEach(e => e.classList.remove('hidden')); zoom.value = '1'; draw(); URL.revokeObjectURL(u); };
    img.onerror = () => { msg.textContent = t('mediaFailed'); };
    img.src = u;
  });
  zoom.addEventListener('input', draw);
  saveAv.addEventListener('click', () => preview.toBlob(async blob => {
    try {
      const up = await api('POST', '/api/media', blob, { 'Content-Type': 'image/png' });
      const p = await api('PUT', '/api/me', { avatar_url: up.url });
      settings.me = p; setProfile(p); msg.textContent = t('set.saved');
      [preview, zoom, saveAv].forEach(e => e.classList.add('hidden'));
      cur.replaceChildren(userAvatar(session.me));
    } catch (e) { msg.textContent = errorText(e); }
  }, 'image/png'));
  const cur = h('span', { id: 'setAvatar' }, userAvatar(session.me));
  return section('profile',
    h('div', { class: 'row' }, cur, h('div', {}, h('b', {}, displayName(session.me)), h('div', { class: 'muted' }, '@' + session.me))),
    h('form', { class: 'stack', onsubmit: async e => {
      e.preventDefault();
      const v = name.value.trim();
      try { const p = await api('PUT', '/api/me', { display_name: v || null }); settings.me = p; setProfile(p); msg.textContent = t('set.saved'); }
      catch (err) { msg.textContent = errorText(err); }
    } }, field(t('set.displayName'), name), h('button', { type: 'submit' }, t('set.saveName'))),
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', id: 'pickAvatar', onclick: () => file.click() }, t('set.chooseAvatar')), file),
    preview, zoom, saveAv, msg);
}

// ===== password =====
function passwordSection() {
  const old = h('input', { id: 'pwOld', type: 'password', autocomplete: 'current-password', required: true });
  const nw = h('input', { id: 'pwNew', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const msg = status();
  return section('password', h('form', { class: 'stack', onsubmit: async e => {
    e.preventDefault();
    if (new TextEncoder().encode(nw.value).length < 8) { msg.textContent = t('err.password'); return; }
    settings.changingPassword = true; conn.keepOn4001 = true;   // our own sockets close 4001: expected
    try {
      const r = await api('POST', '/api/password', { old: old.value, new: nw.value });
      old.value = ''; nw.value = '';
      settings.onToken(r.token);
      msg.textContent = t('set.pwChanged');
    } catch (err) { msg.textContent = err.status === 401 ? t('set.pwWrong') : errorText(err); }
    finally { setTimeout(() => { settings.changingPassword = false; conn.keepOn4001 = false; }, 1500); }
  } }, h('input', { type: 'text', autocomplete: 'username', value: session.me, class: 'sr', tabindex: '-1', 'aria-hidden': 'true', readonly: true }),
  field(t('set.pwOld'), old), field(t('set.pwNew'), nw), h('button', { type: 'submit' }, t('set.pwChange')), msg));
}

// ===== devices =====
function agentName(a) {
  if (!a) return t('set.unknownDevice');
  const b = /Firefox|Edg|Chrome|Safari/.exec(a), o = /Android|iPhone|iPad|Windows|Mac OS|Linux/.exec(a);
  return [b && (b[0] === 'Edg' ? 'Edge' : b[0]), o && o[0]].filter(Boolean).join(' · ') || a.slice(0, 40);
}
function devicesSection() {
  const ul = h('ul', { id: 'devices', class: 'set-list' });
  const load = async () => {
    try {
      const r = await api('GET', '/api/sessions');
      ul.replaceChildren(...r.sessions.map(s => h('li', { 'data-id': s.id },
        h('span', { class: 'grow' }, h('b', {}, agentName(s.agent)), s.current ? h('span', { class: 'pin' }, t('set.thisDevice')) : null,
          h('div', { class: 'muted' }, t('set.lastSeen', { when: fmtShort(s.last_seen || s.created) }))),
        h('button', { class: 'secondary', 'aria-label': t('set.revokeDevice', { name: agentName(s.agent) }), onclick: async () => {
          if (!(await confirmDialog(s.current ? t('set.revokeSelfQ') : t('set.revokeQ'), t('set.revoke'), true))) return;
          try { await api('DELETE', '/api/sessions/' + encodeURIComponent(s.id)); if (s.current) settings.onLoggedOut(); else load(); }
          catch (e) { toast(errorText(e)); }
        } }, t('set.revoke')))));
    } catch (e) { ul.replaceChildren(h('li', { class: 'muted' }, errorText(e))); }
  };
  load();
  return section('devices', ul);
}

// ===== invites =====
function inviteCard(url) {
  const box = h('div', { class: 'invite', id: 'inviteOut' },
    h('input', { id: 'inviteUrl', readonly: true, value: url, 'aria-label': t('set.inviteLink') }),
    h('button', { type: 'button', id: 'copyInvite', onclick: () => {
      const done = () => toast(t('copied'));
      if (navigator.clipboard) navigator.clipboard.writeText(url).then(done, () => { $('inviteUrl').select(); document.execCommand('copy'); done(); });
      else { $('inviteUrl').select(); document.execCommand('copy'); done(); }
    } }, t('set.copyLink')));
  const svg = qrSvg(url);
  if (svg) { svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', t('set.qr')); svg.id = 'inviteQr'; box.append(svg); }
  return box;
}
function invitesSection() {
  const out = h('div', {}), ul = h('ul', { id: 'invites', class: 'set-list' });
  const uses = h('input', { id: 'inviteUses', type: 'number', min: '1', max: '10000', value: '1' });
  const load = async () => {
    try {
      const r = await api('GET', '/api/invites');
      const list = Array.isArray(r) ? r : r.invites || [];
      ul.replaceChildren(...list.map(i => h('li', {},
        h('span', { class: 'grow' }, t('set.inviteUses', { left: i.uses_left, used: i.used || 0 }), h('div', { class: 'muted' }, t('set.expires', { when: fmtShort(i.expires) }))),
        h('button', { class: 'secondary', onclick: async () => {
          if (!(await confirmDialog(t('set.inviteRevokeQ'), t('set.revoke'), true))) return;
          try { await api('DELETE', '/api/invites/' + encodeURIComponent(i.id)); load(); } catch (e) { toast(errorText(e)); }
        } }, t('set.revoke')))));
    } catch (e) { ul.replaceChildren(); }
  };
  load();
  return section('invites',
    h('form', { class: 'row', onsubmit: async e => {
      e.preventDefault();
      try {
        const r = await api('POST', '/api/invites', { uses: Math.max(1, Number(uses.value) || 1) });
        out.replaceChildren(inviteCard(r.url)); load();
      } catch (err) { out.replaceChildren(h('p', { class: 'err' }, errorText(err))); }
    } }, field(t('set.inviteUsesLabel'), uses), h('button', { type: 'submit', id: 'makeInvite' }, t('set.makeInvite'))),
    out, ul);
}

// ===== admin: users =====
function adminSection() {
  const ul = h('ul', { id: 'adminUsers', class: 'set-list' }), msg = status();
  const nu = h('input', { id: 'newUser', autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off' });
  const np = h('input', { id: 'newUserPw', type: 'password', autocomplete: 'new-password' });
  const patch = async (u, body) => { try { await api('PATCH', '/api/admin/users/' + encodeURIComponent(u), body); load(); } catch (e) { toast(errorText(e)); } };
  const load = async () => {
    try {
      const r = await api('GET', '/api/admin/users');
      ul.replaceChildren(...r.users.map(u => h('li', { 'data-user': u.user },
        userAvatar(u.user),
        h('span', { class: 'grow' }, h('b', {}, u.display_name || u.user), ' ', h('span', { class: 'muted' }, '@' + u.user),
          u.admin ? h('span', { class: 'pin' }, t('set.admin')) : null, u.disabled ? h('span', { class: 'pin' }, t('set.disabled')) : null),
        u.user === session.me ? null : [
          h('button', { class: 'secondary', onclick: () => patch(u.user, { admin: !u.admin }) }, u.admin ? t('set.unmakeAdmin') : t('set.makeAdmin')),
          h('button', { class: 'secondary', onclick: () => patch(u.user, { disabled: !u.disabled }) }, u.disabled ? t('set.enable') : t('set.disable')),
          h('button', { class: 'danger', onclick: async () => {
            if (!(await confirmDialog(t('set.deleteUserQ', { name: u.user }), t('set.delete'), true))) return;
            try { await api('DELETE', '/api/admin/users/' + encodeURIComponent(u.user)); load(); } catch (e) { toast(errorText(e)); }
          } }, t('set.delete'))])));
    } catch (e) { ul.replaceChildren(h('li', { class: 'muted' }, errorText(e))); }
  };
  load();
  return section('admin',
    h('form', { class: 'stack', onsubmit: async e => {
      e.preventDefault();
      try { await api('POST', '/api/admin/users', { username: nu.value.trim().toLowerCase(), password: np.value, admin: false }); nu.value = ''; np.value = ''; msg.textContent = t('set.userAdded'); load(); }
      catch (err) { msg.textContent = errorText(err, 'register'); }
    } }, field(t('username'), nu), field(t('password'), np), h('button', { type: 'submit' }, t('set.addUser')), msg),
    ul);
}

export async function openSettings() {
  try { settings.me = await api('GET', '/api/me'); setProfile(settings.me); } catch (e) { /* show what we have */ }
  const d = $('settings');
  const canInvite = settings.me && (settings.me.admin || settings.features.invites === 'members');
  const notifySec = h('div', { id: 'notifySec' });   // views of push load on use
  import('../push.js').then(p => notifySec.replaceWith(p.pushSection()), () => {});
  d.querySelector('.set-body').replaceChildren(profileSection(), passwordSection(), notifySec, devicesSection(),
    canInvite ? invitesSection() : null, settings.me && settings.me.admin ? adminSection() : null);
  openDialog(d, d.querySelector('#setName'));
}
export function initSettings() {
  $('settingsBtn').addEventListener('click', openSettings);
  $('settingsClose').addEventListener('click', () => $('settings').close());
}

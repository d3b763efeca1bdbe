// Log in and Register as two separate modes of one form (with the right autocomplete), and
// errors said plainly: a wrong login offers to create the account instead.
import { $, h } from '../dom.js';
import { t } from '../i18n.js';
import { session, api, errorText } from '../api.js';

export const login = { onIn: () => {} };
let mode = 'login';

export function setMode(m) {
  mode = m;
  const reg = m === 'register';
  $('loginTab').setAttribute('aria-pressed', String(!reg));
  $('regTab').setAttribute('aria-pressed', String(reg));
  $('lp').setAttribute('autocomplete', reg ? 'new-password' : 'current-password');
  $('lsubmit').textContent = reg ? t('createAccount') : t('logIn');
  $('lhint').textContent = reg ? t('registerHint') : '';
  $('lerr').replaceChildren();
}

async function submit() {
  const username = $('lu').value.trim().toLowerCase(), password = $('lp').value;
  $('lerr').replaceChildren();
  if (mode === 'register' && [...new TextEncoder().encode(password)].length < 8) { $('lerr').textContent = t('err.password'); return; }
  $('lsubmit').disabled = true;
  try {
    const r = await api('POST', '/api/' + mode, { username, password });
    session.token = r.token; session.me = r.user;
    localStorage.setItem('chatnode.token', r.token); localStorage.setItem('chatnode.user', r.user);
    $('lp').value = '';
    login.onIn();
  } catch (e) {
    if (mode === 'login' && e.status === 401) {
      $('lerr').replaceChildren(t('err.wrongLogin') + ' ', h('button', { type: 'button', class: 'link', id: 'switchReg', onclick: () => { setMode('register'); $('lp').focus(); } }, t('createInstead')));
    } else $('lerr').textContent = errorText(e, mode);
  } finally { $('lsubmit').disabled = false; }
}

export function initLogin() {
  $('loginForm').addEventListener('submit', e => { e.preventDefault(); submit(); });
  $('loginTab').addEventListener('click', () => setMode('login'));
  $('regTab').addEventListener('click', () => setMode('register'));
  setMode('login');
}

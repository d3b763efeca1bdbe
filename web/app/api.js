// HTTP API calls with the session token, and errors in plain language.
import { t } from './i18n.js';

export const session = {
  token: localStorage.getItem('chatnode.token'),
  me: localStorage.getItem('chatnode.user'),
  onUnauthorized: null,   // set by main: the session ended
};

export class ApiError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

export async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({}, headers) };
  if (session.token) opts.headers.Authorization = 'Bearer ' + session.token;
  if (body instanceof Blob) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['Content-Type'] = 'application/json'; }
  let res;
  try { res = await fetch(path, opts); } catch (e) { throw new ApiError('network', 'network', 0); }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && session.token && !/^\/api\/(login|register)/.test(path) && session.onUnauthorized) session.onUnauthorized();
    throw new ApiError(err.code || 'http_' + res.status, err.message || res.statusText || '', res.status);
  }
  return data;
}

// What went wrong, said for a person: never a code, never the node's raw text.
export function errorText(e, context) {
  const code = (e && e.code) || '';
  const msg = ((e && e.message) || '').toLowerCase();
  if (code === 'network' || (e && e.status === 0)) return t('err.network');
  if (code === 'rate_limited' || (e && e.status === 429)) return t('err.slowDown');
  if (code === 'too_large' || (e && e.status === 413)) return t('err.tooLarge');
  if (code === 'conflict' || (e && e.status === 409)) return context === 'register' ? t('err.taken') : t('err.conflict');
  if (code === 'unauthorized' || (e && e.status === 401)) return context === 'login' ? t('err.wrongLogin') : t('err.session');
  if (code === 'forbidden' || (e && e.status === 403)) return t('err.forbidden');
  if (code === 'not_found' || code === 'no_such_conversation' || code === 'not_member' || (e && e.status === 404))
    return context === 'user' ? t('err.noUser') : t('err.gone');
  if (code === 'recall_window_passed') return t('err.recallLate');
  if (code === 'edit_window_passed') return t('err.editLate');
  if (code === 'not_editable') return t('err.notEditable');
  if (code === 'not_sender') return t('err.notSender');
  if (code === 'bad_request' || (e && e.status === 400)) {
    if (msg.includes('password')) return t('err.password');
    if (msg.includes('username') || msg.includes('name')) return context === 'register' ? t('err.username') : t('err.badInput');
    return t('err.badInput');
  }
  return t('err.generic');
}

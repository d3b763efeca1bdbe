// DOM helpers: element building (text only, never HTML), links, avatars, time, toasts,
// confirmations and screen-reader announcements.
import { t } from './i18n.js';

export const $ = id => document.getElementById(id);

// Builds an element; strings become text nodes (never HTML), so user data is always escaped.
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

// Text with http(s)/mailto links made clickable; anything else stays text.
const LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"']+/gi;
export function linkify(text) {
  const out = []; let last = 0;
  for (const m of text.matchAll(LINK)) {
    let url = m[0].replace(/[.,;:!?)\]]+$/, '');
    if (m.index > last) out.push(text.slice(last, m.index));
    let ok = false;
    try { ok = ['http:', 'https:', 'mailto:'].includes(new URL(url).protocol); } catch (e) { /* not a URL */ }
    out.push(ok ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : url);
    last = m.index + url.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// A colour per user (hue from the name), dark enough for white initials (>= 4.5:1).
export function hue(name) {
  let x = 0; for (const ch of String(name)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}
export function avatar(name, label, extra) {
  const initial = [...String(label || name || '?').trim()][0] || '?';
  return h('span', { class: 'avatar', 'aria-hidden': 'true', style: `background:hsl(${hue(name)} 55% 34%)` }, initial, extra);
}

const pad = n => String(n).padStart(2, '0');
export const fmtTime = ts => { const d = new Date(ts); return pad(d.getHours()) + ':' + pad(d.getMinutes()); };
export const dayOf = ts => new Date(ts).toDateString();
export const dayLabel = day => day === dayOf(Date.now()) ? t('today') : day === dayOf(Date.now() - 864e5) ? t('yesterday')
  : new Date(day).toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
export const fmtShort = ts => dayOf(ts) === dayOf(Date.now()) ? fmtTime(ts) : new Date(ts).toLocaleDateString();

let toastTimer;
export function toast(text) {
  const el = $('toast'); el.textContent = text; el.classList.remove('hidden');
  clearTimeout(toastTimer); toastTimer = setTimeout(() => el.classList.add('hidden'), 5000);
}

// Polite announcement for screen readers (new messages, state changes).
export function announce(text) {
  const el = $('announce'); el.textContent = ''; setTimeout(() => { el.textContent = text; }, 30);
}

// A modal <dialog> asking to confirm; resolves true/false. Esc cancels; focus returns.
export function confirmDialog(question, okLabel, danger) {
  return new Promise(resolve => {
    const back = document.activeElement;
    const ok = h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : '' }, okLabel);
    const d = h('dialog', { class: 'card', 'aria-labelledby': 'cdq' },
      h('form', { method: 'dialog' },
        h('p', { id: 'cdq' }, question),
        h('div', { class: 'row' }, h('button', { type: 'submit', value: 'cancel', class: 'secondary grow' }, t('cancel')), ok)));
    d.addEventListener('close', () => { d.remove(); if (back && back.focus) back.focus(); resolve(d.returnValue === 'ok'); });
    document.body.append(d);
    trapFocus(d); d.showModal(); ok.focus();
  });
}

// Keeps Tab and Shift+Tab among the dialog's own controls (the browser lets focus leave a
// modal dialog for its own UI).
export function trapFocus(d) {
  if (d._trapped) return; d._trapped = true;
  d.addEventListener('keydown', e => {
    if (e.key !== 'Tab') return;
    const list = [...d.querySelectorAll('button, input, textarea, select, a[href], [tabindex]:not([tabindex="-1"])')]
      .filter(x => !x.disabled && x.getClientRects().length > 0);
    if (!list.length) return;
    const first = list[0], last = list[list.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
}

// Opens a <dialog> (Esc closes, focus kept inside) and puts focus back after.
export function openDialog(d, focusEl) {
  const back = document.activeElement;
  trapFocus(d);
  d.addEventListener('close', () => { if (back && back.focus && document.contains(back)) back.focus(); }, { once: true });
  d.showModal();
  if (focusEl) focusEl.focus();
}

export const uuid = () => crypto.randomUUID ? crypto.randomUUID()   // randomUUID needs a secure context
  : Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, '0')).join('');

// The message menu: the common reactions, more emoji, reply, edit, copy, recall. Opens
// from the ⋯ button, a right click, a long press, or Enter / the ContextMenu key on a
// focused message (Up/Down move between messages); arrows move inside it, Esc closes and
// gives focus back.
import { h, toast, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../api.js';
import { S, convMsgs } from '../store.js';
import { frame } from '../socket.js';
import { COMMON, toggleReaction } from './reactions.js';
import { startReply, startEdit, canEdit } from './compose.js';

export const msgmenu = { canRecall: () => false };
let menu = null;

export function closeMenu(refocus = true) {
  if (!menu) return;
  const back = menu._back; menu.remove(); menu = null;
  if (back) back.setAttribute('aria-expanded', 'false');
  if (refocus && back && document.contains(back)) back.focus();
}

const item = (label, fn, extra) => h('button', { type: 'button', role: 'menuitem', class: 'menuitem', ...extra,
  onclick: () => { closeMenu(); fn(); } }, label);

// `anchor` is what gets focus back (the ⋯ button or the message row).
export function openMenu(anchor, m) {
  closeMenu(false);
  if (!m || m.recalled || m.kind === 'system') return;
  const kids = [h('div', { class: 'ebar', role: 'group', 'aria-label': t('reactions') },
    COMMON.map(e => item(e, () => toggleReaction(m, e), { class: 'menuitem emoji', 'aria-label': t('react', { emoji: e }),
      title: t('react', { emoji: e }) })),
    item('+', async () => { const { pickEmoji } = await import('./emojipicker.js'); const e = await pickEmoji(); if (e) toggleReaction(m, e); },
      { class: 'menuitem emoji', 'aria-label': t('moreEmoji'), title: t('moreEmoji') }))];
  kids.push(item(t('reply'), () => startReply(m)));
  if (canEdit(m)) kids.push(item(t('edit'), () => startEdit(m)));
  if (m.body) kids.push(item(t('copy'), () => navigator.clipboard && navigator.clipboard.writeText(m.body).then(() => toast(t('copied')), () => {})));
  if (msgmenu.canRecall(m)) kids.push(item(t('recall'), async () => {
    if (await confirmDialog(t('recallQ'), t('recall'), true)) frame({ type: 'recall', conv: m.conv, seq: m.seq });
  }));
  menu = h('div', { class: 'menu', role: 'menu', 'aria-label': t('messageActions') }, kids);
  menu._back = anchor;
  if (anchor.classList.contains('more-btn')) anchor.setAttribute('aria-expanded', 'true');
  menu.addEventListener('keydown', e => {
    e.stopPropagation();
    const list = [...menu.querySelectorAll('.menuitem')], i = list.indexOf(document.activeElement);
    const go = j => { e.preventDefault(); list[(j + list.length) % list.length].focus(); };
    if (e.key === 'Escape') { e.preventDefault(); closeMenu(); }
    else if (e.key === 'ArrowDown' || e.key === 'ArrowRight') go(i + 1);
    else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') go(i - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(list.length - 1);
    else if (e.key === 'Tab') closeMenu(false);
  });
  const row = anchor.closest('.msg');
  (row.querySelector('.bubble') || row).append(menu);
  place(row);
  menu.querySelector('.menuitem').focus({ preventScroll: true });
}

// Fixed position next to the bubble, kept inside the window (a 375 px phone included).
function place(row) {
  const r = (row.querySelector('.bubble') || row).getBoundingClientRect(), mw = menu.offsetWidth, mh = menu.offsetHeight;
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  let left = row.classList.contains('mine') ? r.right - mw : r.left;
  left = Math.max(8, Math.min(left, vw - mw - 8));
  let top = r.bottom + 4;
  if (top + mh > vh - 8) top = Math.max(8, r.top - mh - 4);
  Object.assign(menu.style, { position: 'fixed', left: left + 'px', top: top + 'px', right: 'auto' });
}

const msgOf = row => row && row.dataset.seq && convMsgs(S.open).get(Number(row.dataset.seq));

// Keyboard, right click and long press on the message list `box`.
export function initMsgMenu(box) {
  box.addEventListener('keydown', e => {
    const row = e.target.closest('.msg');
    if (e.target !== box && e.target !== row) return;
    const rows = [...box.querySelectorAll('.msg[data-seq]')];
    const i = rows.indexOf(row);
    const to = j => { e.preventDefault(); const r = rows[Math.max(0, Math.min(j, rows.length - 1))]; if (r) { r.focus(); r.scrollIntoView({ block: 'nearest' }); } };
    if (e.key === 'ArrowUp') to(i < 0 ? rows.length - 1 : i - 1);
    else if (e.key === 'ArrowDown') to(i < 0 ? rows.length - 1 : i + 1);
    else if (e.key === 'Home' && row) to(0);
    else if (e.key === 'End' && row) to(rows.length - 1);
    else if (row && (e.key === 'Enter' || e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey))) { e.preventDefault(); openMenu(row, msgOf(row)); }
  });
  box.addEventListener('contextmenu', e => {
    const row = e.target.closest('.msg[data-seq]');
    if (!row || e.target.closest('a, .menu')) return;
    e.preventDefault(); openMenu(row.querySelector('.more-btn') || row, msgOf(row));
  });
  let timer = null;
  box.addEventListener('pointerdown', e => {
    const row = e.target.closest('.msg[data-seq]');
    if (!row || e.pointerType === 'mouse' || e.target.closest('button, a, .menu, audio, video')) return;
    clearTimeout(timer); timer = setTimeout(() => openMenu(row.querySelector('.more-btn') || row, msgOf(row)), 500);
  });
  for (const ev of ['pointerup', 'pointercancel', 'pointermove', 'scroll']) box.addEventListener(ev, () => clearTimeout(timer), { passive: true });
  document.addEventListener('pointerdown', e => { if (menu && !menu.contains(e.target)) closeMenu(false); });
}

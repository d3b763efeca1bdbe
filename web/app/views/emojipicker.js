// The emoji picker (loaded on first use): a modal grid, arrow keys move, Enter picks,
// Esc closes. Resolves with the emoji, or null.
import { h, openDialog } from '../dom.js';
import { t } from '../i18n.js';

const EMOJI = ('😀 😃 😄 😁 😆 😅 🤣 😂 🙂 😉 😊 😇 🥰 😍 🤩 😘 😋 😛 😜 🤪 🤔 🤨 😐 😑 😶 🙄 😏 😬 😌 😔 '
  + '😪 😴 😷 🤒 🤯 🥳 😎 🤓 😕 😟 😮 😲 😳 🥺 😢 😭 😱 😤 😡 🤬 👍 👎 👌 ✌️ 🤞 🤝 👏 🙌 👋 🙏 '
  + '💪 👀 ❤️ 🧡 💛 💚 💙 💜 🖤 💔 💯 🔥 ✨ 🎉 🎊 🎁 ⭐ ✅ ❌ ❓ ❗ 💡 📌 ⏰ ☕ 🍺 🍕 🎂 🚀 🌹').split(' ');
const COLS = 8;

export function pickEmoji() {
  return new Promise(resolve => {
    let picked = null;
    const grid = h('div', { class: 'egrid', role: 'grid', 'aria-label': t('emojiPicker') });
    for (let r = 0; r < EMOJI.length; r += COLS) {
      grid.append(h('div', { role: 'row', class: 'erow' }, EMOJI.slice(r, r + COLS).map((e, i) =>
        h('span', { role: 'gridcell' }, h('button', { type: 'button', class: 'ebtn', tabindex: r + i === 0 ? '0' : '-1', 'aria-label': e,
          onclick: () => { picked = e; d.close(); } }, e)))));
    }
    const d = h('dialog', { class: 'card epicker', 'aria-label': t('emojiPicker') },
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, t('emojiPicker')),
        h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, t('close'))), grid);
    grid.addEventListener('keydown', e => {
      const all = [...grid.querySelectorAll('.ebtn')], i = all.indexOf(document.activeElement);
      if (i < 0) return;
      const j = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + COLS, ArrowUp: i - COLS, Home: 0, End: all.length - 1 }[e.key];
      if (j == null || j < 0 || j >= all.length) return;
      e.preventDefault(); all[i].tabIndex = -1; all[j].tabIndex = 0; all[j].focus();
    });
    d.addEventListener('close', () => { d.remove(); resolve(picked); });
    document.body.append(d);
    openDialog(d, grid.querySelector('.ebtn'));
  });
}

// Reactions: the common emoji bar's list, the chips under a message (count, the caller's
// highlighted, who reacted in the title) and toggling one (set semantics on the node).
import { h, toast } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../api.js';
import { sendReact } from '../events.js';
import { displayName } from '../users.js';

export const COMMON = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

const mine = (m, emoji) => ((m.reactions || {})[emoji] || []).includes(session.me);

// Adds the caller's reaction, or takes it back when it is already there.
export function toggleReaction(m, emoji) {
  if (!sendReact(m, emoji, !mine(m, emoji))) toast(t('offlineAction'));
}

// The chips of a message, or null when it has none.
export function reactionChips(m) {
  const list = Object.entries(m.reactions || {}).filter(([, who]) => who.length);
  if (!list.length) return null;
  return h('div', { class: 'reactions', role: 'group', 'aria-label': t('reactions') }, list.map(([emoji, who]) => {
    const names = who.map(displayName).join(', ');
    return h('button', { class: 'rchip' + (who.includes(session.me) ? ' on' : ''), type: 'button',
      'aria-pressed': String(who.includes(session.me)), title: names,
      'aria-label': t('reactedBy', { emoji, n: who.length, names }), onclick: () => toggleReaction(m, emoji) },
    h('span', { 'aria-hidden': 'true' }, emoji), ' ', h('span', { class: 'rcount' }, String(who.length)));
  }));
}

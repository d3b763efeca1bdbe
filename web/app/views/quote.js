// The quote above a reply: its target's sender and text; a click scrolls to the target
// (the caller loads older pages until it is held). A target we do not hold is fetched
// once into a side cache (never into the conversation's pages, which must stay gapless).
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { convMsgs } from '../store.js';
import { displayName } from '../users.js';

const cache = new Map();   // "conv:seq" -> message | 'loading' | 'missing'
export const quote = { onLoaded: () => {} };

function target(conv, seq) {
  const held = convMsgs(conv).get(seq); if (held) return held;
  const k = conv + ':' + seq, c = cache.get(k);
  if (c === undefined) {
    cache.set(k, 'loading');
    api('GET', `/api/conversations/${conv}/messages?after=${seq - 1}&limit=1`)
      .then(r => { const m = r.messages.find(x => x.seq === seq); cache.set(k, m || 'missing'); quote.onLoaded(); },
        () => cache.set(k, 'missing'));
    return null;
  }
  return typeof c === 'object' ? c : null;
}

function snippet(m) {
  if (!m) return t('quoteMissing');
  if (m.recalled) return t('recalled');
  if (m.kind !== 'text') return t('kind.' + m.kind);
  return m.body.length > 120 ? m.body.slice(0, 120) + '…' : m.body;
}

// What the quote shows (for the keyed renderer's signature).
export function quoteSig(m) {
  if (!m.reply_to) return null;
  const q = target(m.conv, m.reply_to);
  return q ? [q.sender, q.body, q.recalled] : 0;
}

export function quoteEl(m, jump) {
  if (!m.reply_to) return null;
  const q = target(m.conv, m.reply_to), who = q ? displayName(q.sender) : '';
  return h('button', { type: 'button', class: 'quote', 'data-target': m.reply_to,
    'aria-label': t('quoteOf', { name: who, text: snippet(q) }), onclick: () => jump(m.conv, m.reply_to) },
  q ? h('b', {}, who) : null, h('span', {}, snippet(q)));
}

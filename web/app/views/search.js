// Message search: hits as buttons (arrow keys, Enter opens at the message), highlighted.
import { $, h, fmtShort } from '../dom.js';
import { t } from '../i18n.js';
import { api, errorText } from '../api.js';
import { S, convName } from '../store.js';
import { arrowNav } from './list.js';

export const search = { onOpen: () => {} };
let timer, seq = 0;

function highlight(text, q) {
  const i = text.toLowerCase().indexOf(q.toLowerCase());
  if (i < 0 || q.length === 0) return [text];
  return [text.slice(0, i), h('mark', {}, text.slice(i, i + q.length)), text.slice(i + q.length)];
}

async function run() {
  const q = $('search').value.trim(), mine = ++seq, ul = $('hits');
  ul.classList.toggle('hidden', !q); $('convList').classList.toggle('hidden', !!q);
  if (!q) return;
  try {
    const r = await api('GET', '/api/search?limit=30&q=' + encodeURIComponent(q));
    if (mine !== seq) return;   // a newer search is running
    ul.replaceChildren(...r.hits.map(m => {
      const c = S.convs.get(m.conv);
      return h('li', { onclick: () => search.onOpen(m.conv, m.seq) },
        h('button', { class: 'item' },
          h('span', { class: 'cmain' },
            h('span', { class: 'crow' }, h('span', { class: 'cname' }, c ? convName(c) : t('conversation')), h('span', { class: 'ctime' }, fmtShort(m.ts))),
            h('span', { class: 'cprev' }, m.sender + ': ', highlight(m.body || '', q)))));
    }));
    if (!r.hits.length) ul.append(h('li', { class: 'hint' }, t('noHits')));
    if (r.complete === false) ul.append(h('li', { class: 'hint' }, t('searchPartial')));
  } catch (e) { if (mine === seq) ul.replaceChildren(h('li', { class: 'hint' }, errorText(e))); }
}

export function clearSearch() { $('search').value = ''; run(); }
export function initSearch() {
  $('search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 300); });
  $('search').addEventListener('keydown', e => {
    if (e.key === 'Escape') clearSearch();
    if (e.key === 'ArrowDown') { const b = $('hits').querySelector('li > button'); if (b) { e.preventDefault(); b.focus(); } }
  });
  arrowNav($('hits'));
}

// Message search: hits grouped by conversation (newest first), the matching words marked
// (text nodes and <mark>, never HTML), more pages through the answer's `next` cursor;
// a hit opens its conversation at that message. Arrow keys move, Enter opens.
import { $, h, fmtShort } from '../dom.js';
import { t } from '../i18n.js';
import { api, errorText } from '../api.js';
import { S, convName } from '../store.js';
import { arrowNav } from './list.js';
import { displayName } from '../users.js';

export const search = { onOpen: () => {} };
let timer, seq = 0;

// Folds one character the way the index does: lower case, accents dropped.
const fold = ch => ch.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

// [start, end) ranges of `text` (in UTF-16 units) that the query's words match: each word
// (or word prefix), case- and accent-insensitive; CJK runs not found whole by their bigrams.
export function matchRanges(text, q) {
  let folded = ''; const at = [];
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i), ch = String.fromCodePoint(cp), f = fold(ch);
    for (let k = 0; k < f.length; k++) at.push(i);
    folded += f; i += ch.length;
  }
  at.push(text.length);
  const terms = [];
  for (const w of q.split(/[\s\p{P}\p{S}]+/u).map(x => [...x].map(fold).join('')).filter(Boolean)) {
    if (CJK.test(w) && !folded.includes(w) && [...w].length > 2) { const c = [...w]; for (let i = 0; i + 1 < c.length; i++) terms.push(c[i] + c[i + 1]); }
    else terms.push(w);
  }
  const out = [];
  for (const w of terms) {
    for (let i = folded.indexOf(w); i >= 0; i = folded.indexOf(w, i + w.length)) {
      const end = at[i + w.length], start = at[i];
      out.push([start, end > start ? end : start + 1]);
    }
  }
  out.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of out) { const last = merged[merged.length - 1]; if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]); else merged.push(r.slice()); }
  return merged;
}

export function highlight(text, q) {
  const parts = []; let last = 0;
  for (const [a, b] of matchRanges(text, q)) {
    if (a > last) parts.push(text.slice(last, a));
    parts.push(h('mark', {}, text.slice(a, b)));
    last = b;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

let shownConvs = new Map(), next = null, query = '';
function hitButton(m) {
  return h('li', { class: 'hit', 'data-conv': m.conv, 'data-seq': m.seq, onclick: () => search.onOpen(m.conv, m.seq) },
    h('button', { class: 'item' },
      h('span', { class: 'cmain' },
        h('span', { class: 'crow' }, h('span', { class: 'cname' }, displayName(m.sender)), h('span', { class: 'ctime' }, fmtShort(m.ts))),
        h('span', { class: 'cprev' }, highlight(m.body || '', query)))));
}
// Adds a page of hits under their conversations' headings (a heading is made once).
function addHits(ul, hits) {
  for (const m of hits) {
    let g = shownConvs.get(m.conv);
    if (!g) {
      const c = S.convs.get(m.conv), id = 'hg' + m.conv;
      g = h('ul', { class: 'hitgroup', 'aria-labelledby': id });
      ul.append(h('li', { class: 'group' }, h('h3', { id, class: 'hithead' }, c ? convName(c) : t('conversation')), g));
      shownConvs.set(m.conv, g);
    }
    g.append(hitButton(m));
  }
}
function footer(ul, r) {
  const old = ul.querySelector('.hitmore'); if (old) old.remove();
  next = r.next ?? null;
  if (next != null) {
    ul.append(h('li', { class: 'hitmore' }, h('button', { type: 'button', class: 'secondary', id: 'moreHits', onclick: more }, t('moreHits'))));
  } else if (r.complete === false) ul.append(h('li', { class: 'hint hitmore' }, t('searchPartial')));
}

async function more() {
  const ul = $('hits'), mine = seq, btn = $('moreHits');
  if (next == null) return;
  if (btn) btn.disabled = true;
  try {
    const r = await api('GET', '/api/search?limit=30&q=' + encodeURIComponent(query) + '&cursor=' + encodeURIComponent(next));
    if (mine !== seq) return;
    const first = (r.hits || [])[0];
    addHits(ul, r.hits || []); footer(ul, r);
    const b = first && ul.querySelector(`li.hit[data-conv="${first.conv}"][data-seq="${first.seq}"] button`);
    if (b) b.focus();
  } catch (e) { if (btn) { btn.disabled = false; } ul.append(h('li', { class: 'hint' }, errorText(e))); }
}

async function run() {
  const q = $('search').value.trim(), mine = ++seq, ul = $('hits');
  ul.classList.toggle('hidden', !q); $('convList').classList.toggle('hidden', !!q);
  if (!q) return;
  try {
    const r = await api('GET', '/api/search?limit=30&q=' + encodeURIComponent(q));
    if (mine !== seq) return;   // a newer search is running
    query = q; shownConvs = new Map();
    ul.replaceChildren();
    addHits(ul, r.hits || []);
    if (!(r.hits || []).length) ul.append(h('li', { class: 'hint' }, t('noHits')));
    footer(ul, r);
  } catch (e) { if (mine === seq) ul.replaceChildren(h('li', { class: 'hint' }, errorText(e))); }
}

export function clearSearch() { $('search').value = ''; run(); }
export function initSearch() {
  $('search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 300); });
  $('search').addEventListener('keydown', e => {
    if (e.key === 'Escape') clearSearch();
    if (e.key === 'ArrowDown') { const b = $('hits').querySelector('li.hit > button'); if (b) { e.preventDefault(); b.focus(); } }
  });
  arrowNav($('hits'));
}

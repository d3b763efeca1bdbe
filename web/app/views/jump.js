// Opening a conversation at one message (a search hit): the pages just before and after it
// are loaded (GET .../messages?before= and ?after=), however far back it is; what lies
// between them and the newest messages loads from a "Load newer" button at the gap.
import { api } from '../api.js';
import { S, convMsgs, addMessage } from '../store.js';

const AROUND = 25;

// Loads the history around `seq` of `conv` unless it is held already.
export async function loadAround(conv, seq) {
  if (convMsgs(conv).has(seq)) return;
  const base = `/api/conversations/${conv}/messages?limit=${AROUND}`;
  const [before, after] = await Promise.all([api('GET', `${base}&before=${seq + 1}`), api('GET', `${base}&after=${seq}`)]);
  for (const m of [...before.messages, ...after.messages]) addMessage(m);
  if (!convMsgs(conv).size || Math.min(...convMsgs(conv).keys()) >= (before.messages[0] || {}).seq) S.more.set(conv, before.has_more);
}

// Fills the gap after `seq` (a page of newer messages); true when it joined what follows.
export async function loadAfter(conv, seq) {
  const r = await api('GET', `/api/conversations/${conv}/messages?limit=50&after=${seq}`);
  for (const m of r.messages) addMessage(m);
  return !r.has_more;
}

// The seqs after which held messages of `conv` have a gap (sorted ascending input).
export function gapsIn(sorted) {
  const out = new Set();
  for (let i = 1; i < sorted.length; i++) if (sorted[i].seq > sorted[i - 1].seq + 1) out.add(sorted[i - 1].seq);
  return out;
}

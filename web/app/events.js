// Edits and reactions from this device: sent as v1.1 `edit` / `react` frames with a
// client_id, and folded into the target when their `ack` comes (the node does not echo
// them to the session that sent them).
import { session } from './api.js';
import { uuid } from './dom.js';
import { conn, frame } from './socket.js';
import { addMessage } from './store.js';

const pending = new Map();   // client_id -> the event as it will be stored

// Sends an event frame; false when offline (nothing is queued: the user sees it did not go).
function send(f, ev) {
  if (!conn.authed) return false;
  const client_id = uuid();
  pending.set(client_id, { ...ev, client_id, sender: session.me });
  frame({ ...f, client_id });
  return true;
}
export const sendEdit = (m, body) => send({ type: 'edit', conv: m.conv, seq: m.seq, body },
  { conv: m.conv, kind: 'edit', target: m.seq, body });
export const sendReact = (m, emoji, on) => send({ type: 'react', conv: m.conv, seq: m.seq, emoji, on },
  { conv: m.conv, kind: 'reaction', target: m.seq, body: emoji, on });

// An `ack` for one of our events: stored at its seq and folded. True when it was one.
export function eventAcked(f) {
  const ev = pending.get(f.client_id); if (!ev) return false;
  pending.delete(f.client_id);
  addMessage({ ...ev, seq: f.seq, ts: f.ts, media_url: null, recalled: false, reply_to: null, mentions: [], edited_ts: null, reactions: {} });
  return true;
}
// An error answering one of our events: forgotten (the caller shows the error).
export const eventRefused = ref => pending.delete(ref);

// Profiles of the users we see (display name, avatar), fetched once each and kept fresh by
// `user_update` frames; avatars with their picture when there is one, initials otherwise.
import { api, session } from './api.js';
import { avatar } from './dom.js';
import { attach, isMediaPath } from './media.js';

const profiles = new Map();   // user -> {user, display_name, avatar_url}
const asked = new Set();
export const users = { onChange: () => {} };
let saveTimer = null;
const key = () => 'chatnode.users.' + session.me;

export function loadUsers() {
  profiles.clear(); asked.clear();
  try { for (const p of JSON.parse(localStorage.getItem(key()) || '[]')) profiles.set(p.user, p); } catch (e) { /* corrupt: refetch */ }
}
function save() {
  if (saveTimer) return;
  saveTimer = setTimeout(() => { saveTimer = null; try { localStorage.setItem(key(), JSON.stringify([...profiles.values()].slice(-500))); } catch (e) { /* full */ } }, 500);
}

export function setProfile(p) {
  if (!p || !p.user) return;
  const old = profiles.get(p.user);
  const next = { user: p.user, display_name: p.display_name ?? null, avatar_url: p.avatar_url ?? null };
  profiles.set(p.user, next); save();
  if (!old || old.display_name !== next.display_name || old.avatar_url !== next.avatar_url) users.onChange(p.user);
}

// Asks the node once per session for a user we have not seen (404: an old node or a
// hidden user, and the username is shown).
function want(user) {
  if (!user || asked.has(user) || !session.token) return;
  asked.add(user);
  api('GET', '/api/users/' + encodeURIComponent(user)).then(setProfile, () => {});
}

export const profileOf = user => { want(user); return profiles.get(user) || null; };
export const displayName = user => { const p = profileOf(user); return (p && p.display_name) || user; };

// An avatar for `user`: its picture when set, else coloured initials of its display name.
export function userAvatar(user, extra) {
  const p = profileOf(user);
  const el = avatar(user, displayName(user), extra);
  if (p && isMediaPath(p.avatar_url)) {
    const img = document.createElement('img');
    img.alt = ''; img.className = 'avatar-img';
    attach(img, p.avatar_url, 'src', null, () => img.remove());
    el.prepend(img);
  }
  return el;
}

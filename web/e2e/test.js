// End-to-end test of web/index.html with headless chromium against a real chatnode.
const puppeteer = require('puppeteer-core');
const { spawn } = require('child_process');
const fs = require('fs');

const os = require('os');
const path = require('path');
// Everything it writes goes to one temp dir (data dir, server log, screenshots).
const PORT = Number(process.env.E2E_PORT || 18800), BASE = `http://127.0.0.1:${PORT}`;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'chatnode-e2e-'));
const DATA = path.join(WORK, 'data');
const SHOTS = path.join(WORK, 'shots');
const LOG = path.join(WORK, 'server.log');
const BIN = process.env.CHATNODE_BIN || path.join(__dirname, '../../target/release/chatnode');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
console.log('work dir (data, server log, screenshots): ' + WORK);
const sleep = ms => new Promise(r => setTimeout(r, ms));
let server = null, failures = 0;
const consoleLog = [];

function check(cond, what) { console.log((cond ? 'PASS ' : 'FAIL ') + what); if (!cond) failures++; }

async function startServer() {
  server = spawn(BIN, [], { env: { ...process.env, CHATNODE__SERVER__BIND: `127.0.0.1:${PORT}`, CHATNODE__SERVER__DATA_DIR: DATA,
    CHATNODE__LIMITS__LOGINS_PER_MIN: '1000', RUST_LOG: 'warn' }, stdio: ['ignore', fs.openSync(LOG, 'a'), fs.openSync(LOG, 'a')] });
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(BASE + '/healthz'); if (r.ok) return; } catch (e) { /* not yet */ }
    await sleep(100);
  }
  throw new Error('server did not start');
}
async function killServer() { const p = server; server = null; p.kill('SIGKILL'); await new Promise(r => p.once('exit', r)); }

async function api(method, path, token, body) {
  const r = await fetch(BASE + path, { method, headers: token ? { Authorization: 'Bearer ' + token } : {}, body: body && JSON.stringify(body) });
  return r.status === 204 ? null : r.json();
}

// Text of the messages shown in the open conversation, in DOM order.
const shown = page => page.evaluate(() => [...document.querySelectorAll('#msgs .msg, #msgs .sys')].map(e => {
  if (e.classList.contains('sys')) return 'SYS:' + e.firstChild.textContent;
  const b = e.querySelector('.bubble').cloneNode(true);
  b.querySelectorAll('.meta, .sender').forEach(x => x.remove());
  return b.textContent + (e.classList.contains('pending') ? ' [pending]' : '');
}));
const waitShown = (page, pred, what, timeout = 10000) =>
  page.waitForFunction(pred, { timeout, polling: 100 }).catch(() => { throw new Error('timeout waiting: ' + what); });

async function register(page, name) {
  await page.goto(BASE + '/');
  await page.waitForSelector('#lu', { visible: true });
  await page.type('#lu', name); await page.type('#lp', 'password123');
  await page.click('#regBtn');
  await page.waitForSelector('#app:not(.hidden)');
  await waitShown(page, () => document.querySelector('#connDot').classList.contains('on'), 'connected');
}
async function sendText(page, text) { await page.type('#text', text); await page.keyboard.press('Enter'); }

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  await startServer();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const ctxA = await browser.createBrowserContext(), ctxB = await browser.createBrowserContext();
  const A = await ctxA.newPage(), B = await ctxB.newPage();
  await A.setViewport({ width: 1100, height: 720 });
  await B.setViewport({ width: 390, height: 780, isMobile: true, deviceScaleFactor: 1 });
  for (const [n, p] of [['A', A], ['B', B]]) {
    p.on('console', m => consoleLog.push(`${n} ${m.type()}: ${m.text()}`));
    p.on('pageerror', e => consoleLog.push(`${n} PAGEERROR: ${e.message}`));
  }
  const sfx = Date.now().toString(36).slice(-5);
  const alice = 'alice' + sfx, bob = 'bob' + sfx, carol = 'carol' + sfx;

  // login screen and a plain HTTP error
  await A.goto(BASE + '/'); await A.waitForSelector('#lu', { visible: true });
  await A.type('#lu', 'nobody' + sfx); await A.type('#lp', 'wrongpassword');
  await A.click('#loginForm button[type=submit]');
  await waitShown(A, () => document.querySelector('#lerr').textContent.length > 0, 'login error');
  check(/Wrong username/.test(await A.$eval('#lerr', e => e.textContent)), 'bad login shows the HTTP error: ' + await A.$eval('#lerr', e => e.textContent));
  await A.screenshot({ path: SHOTS + '/01-login.png' });
  await A.$eval('#lu', e => { e.value = ''; }); await A.$eval('#lp', e => { e.value = ''; });

  await register(A, alice); await register(B, bob);
  const carolTok = (await api('POST', '/api/register', null, { username: carol, password: 'password123' })).token;
  check(true, 'registered ' + alice + ' and ' + bob + ' in two browsers');

  // A starts a direct chat with bob and sends two messages
  await A.click('#newBtn'); await A.type('#nMembers', bob); await A.click('#newForm button[type=submit]');
  await A.waitForSelector('#conv:not(.hidden)');
  await waitShown(A, () => document.querySelector('#cSub').textContent === 'online', 'peer online');
  check(true, 'new chat partner shows as online (presence refreshed)');
  await sendText(A, 'hello 1'); await sendText(A, 'hello 2');
  await waitShown(A, () => document.querySelectorAll('#msgs .msg.mine:not(.pending)').length === 2, 'A acks');
  check(JSON.stringify(await shown(A)) === JSON.stringify(['hello 1', 'hello 2']), 'A shows its two messages once, acked, in order');

  // B sees the conversation with an unread badge, opens it, answers
  await waitShown(B, () => document.querySelector('#convList .badge')?.textContent === '2', 'B unread badge 2');
  check(true, 'B conversation list shows unread 2');
  await B.screenshot({ path: SHOTS + '/02-phone-list.png' });
  await B.click('#convList li');
  await waitShown(B, () => document.querySelectorAll('#msgs .msg').length === 2, 'B history');
  check(JSON.stringify(await shown(B)) === JSON.stringify(['hello 1', 'hello 2']), 'B shows both messages in order');
  await waitShown(A, () => [...document.querySelectorAll('#msgs .tick')].every(t => t.classList.contains('read')), 'A read ticks');
  check(true, 'A sees read receipts on its messages');
  // typing indicator
  await B.type('#text', 'hi b');
  await waitShown(A, () => document.querySelector('#cSub').textContent.includes('typing'), 'typing shown on A');
  check(true, 'A sees "typing…" while B types');
  await B.keyboard.press('Enter');
  await waitShown(A, () => document.querySelectorAll('#msgs .msg.theirs').length === 1, 'A gets reply');
  check(JSON.stringify(await shown(A)) === JSON.stringify(['hello 1', 'hello 2', 'hi b']), 'A shows the reply after its messages');
  await waitShown(B, () => document.querySelector('#msgs .tick')?.classList.contains('read'), 'B read tick');
  check(true, 'B sees its reply read by A');
  await A.screenshot({ path: SHOTS + '/03-desktop-chat.png' });
  await B.screenshot({ path: SHOTS + '/04-phone-chat.png' });

  // unread while B is on the list, then reload B: history and unread survive
  await B.click('#backBtn');
  await sendText(A, 'while you were away');
  await waitShown(B, () => document.querySelector('#convList .badge')?.textContent === '1', 'B badge 1');
  await B.reload(); await B.waitForSelector('#app:not(.hidden)');
  await waitShown(B, () => document.querySelector('#convList .badge')?.textContent === '1', 'B badge 1 after reload');
  check(true, 'after reload B still shows unread 1');
  check((await B.$eval('#convList .cprev', e => e.textContent)) === 'while you were away', 'list preview is the last message');
  await B.click('#convList li');
  await waitShown(B, () => document.querySelectorAll('#msgs .msg').length === 4, 'B history after reload');
  check(JSON.stringify(await shown(B)) === JSON.stringify(['hello 1', 'hello 2', 'hi b', 'while you were away']), 'B history after reload is complete and ordered');
  // B's own message was read by A before the reload: still marked read (peer_read_seq)
  const bTick = await B.$eval('#msgs .msg.mine .tick', e => e.className);
  check(bTick.includes('read'), 'after reload B still sees its message read by A (' + bTick + ')');
  await waitShown(B, () => !document.querySelector('#convList .badge'), 'badge cleared');
  check(true, 'opening clears the badge');

  // kill -9 the server; A sends while it is down; restart; the message goes out once
  await killServer();
  await waitShown(A, () => !document.querySelector('#connNote').classList.contains('hidden'), 'A notices disconnect');
  check(true, 'A shows the disconnected note: ' + await A.$eval('#connNote', e => e.textContent));
  await sendText(A, 'sent while offline');
  await sleep(300);
  check((await shown(A)).includes('sent while offline [pending]'), 'A shows the offline send as pending');
  await A.screenshot({ path: SHOTS + '/05-offline-pending.png' });
  await startServer();
  await waitShown(A, () => !document.querySelector('#msgs .pending') && document.querySelector('#connDot').classList.contains('on'), 'A reconnects and acks', 40000);
  await waitShown(B, () => [...document.querySelectorAll('#msgs .msg')].length === 5, 'B gets offline message', 40000);
  check(JSON.stringify(await shown(A)) === JSON.stringify(['hello 1', 'hello 2', 'hi b', 'while you were away', 'sent while offline']), 'A: offline message acked after restart, once');
  check(JSON.stringify(await shown(B)) === JSON.stringify(['hello 1', 'hello 2', 'hi b', 'while you were away', 'sent while offline']), 'B: got it once, in order');

  // lost ack: A drops the ack of one message and its socket; the resend (same client_id) must not duplicate
  await A.evaluate(() => {
    const orig = window.handle;
    window.handle = f => {
      if (f.type === 'ack' && !window.__dropped) { window.__dropped = f.client_id; setTimeout(() => ws.close(), 50); return; }
      orig(f);
    };
  });
  await sendText(A, 'ack lost');
  await waitShown(A, () => window.__dropped && document.querySelector('#connDot').classList.contains('on') && !document.querySelector('#msgs .pending'), 'A resend settles', 20000);
  const dropped = await A.evaluate(() => window.__dropped);
  const aList = await shown(A);
  check(aList.filter(t => t === 'ack lost').length === 1 && aList.length === 6, 'A: after lost ack + reconnect, message shown once: ' + JSON.stringify(aList.slice(-2)));
  await waitShown(B, () => document.querySelectorAll('#msgs .msg').length >= 6, 'B gets ack lost');
  await sleep(500);
  const bList = await shown(B);
  check(bList.filter(t => t === 'ack lost').length === 1 && bList.length === 6, 'B: message once');
  const aliceTok = await A.evaluate(() => localStorage.getItem('chatnode.token'));
  const conv = await A.evaluate(() => S.open);
  const stored = (await api('GET', `/api/conversations/${conv}/messages?limit=100`, aliceTok)).messages;
  check(stored.filter(m => m.client_id === dropped).length === 1 && stored.length === 6, 'node stored it once (seqs ' + stored.map(m => m.seq).join(',') + ')');

  // image upload
  const png = path.join(WORK, 'test.png');
  fs.writeFileSync(png, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAHUlEQVR4nGP8z0AaYCJR/aiGUQ2jGkY1jGqgnwYAVIwBH2ocW4wAAAAASUVORK5CYII=', 'base64'));
  const input = await A.$('#file'); await input.uploadFile(png);
  await waitShown(A, () => { const i = document.querySelector('#msgs .msg.mine:not(.pending) img'); return i && i.complete && i.naturalWidth > 0; }, 'A image shown');
  await waitShown(B, () => { const i = document.querySelector('#msgs .msg img'); return i && i.complete && i.naturalWidth > 0; }, 'B image shown');
  check(true, 'image uploaded, sent and displayed on both sides');
  await A.screenshot({ path: SHOTS + '/09-image.png' });

  // recall the image on A; B shows "message recalled"
  await A.evaluate(() => [...document.querySelectorAll('#msgs .msg.mine button.link')].pop().click());
  await waitShown(B, () => [...document.querySelectorAll('#msgs .recalled')].length === 1, 'B shows recalled');
  check(true, 'recall shows "message recalled" on the other side');

  // group with bob and carol; member removal shows system messages; pin puts it first
  await A.click('#newBtn');
  await A.click('input[name=kind][value=group]');
  await A.type('#nName', 'Project <b>x</b>'); await A.type('#nMembers', `${bob}, ${carol}`);
  await A.click('#newForm button[type=submit]');
  await waitShown(A, () => document.querySelector('#cTitle').textContent === 'Project <b>x</b>', 'group open');
  check(true, 'group name with markup is shown as text');
  await sendText(A, 'group hello');
  await A.click('#membersBtn');
  await A.waitForSelector('#members .chip button');
  await A.evaluate(c => [...document.querySelectorAll('#members .chip')].find(e => e.textContent.includes(c)).querySelector('button').click(), carol);
  await waitShown(A, () => [...document.querySelectorAll('#msgs .sys')].some(e => e.textContent.includes('removed')), 'system message');
  check(true, 'member removal shows a system message');
  await A.click('#pinBtn');
  await waitShown(A, () => document.querySelector('#convList li .pin')?.parentNode.textContent.includes('Project'), 'pinned first');
  check(true, 'pinned group is listed first');
  await A.screenshot({ path: SHOTS + '/06-group-members.png' });
  await waitShown(B, () => [...document.querySelectorAll('#convList .cname')].some(e => e.textContent.includes('Project')), 'B sees group');
  await B.click('#backBtn');
  await B.screenshot({ path: SHOTS + '/07-phone-list-group.png' });
  const carolConvs = await api('GET', '/api/conversations', carolTok);
  check(carolConvs.length === 0, 'carol no longer sees the group');

  // search and open a hit
  await A.type('#search', 'hello');
  await waitShown(A, () => document.querySelectorAll('#hits li mark').length >= 3, 'search hits');
  check((await A.$$eval('#hits li', l => l.length)) === 3, 'search shows 3 hits for "hello"');
  await A.screenshot({ path: SHOTS + '/08-search.png' });
  await A.evaluate(() => [...document.querySelectorAll('#hits li')].pop().click());
  await waitShown(A, () => document.querySelector('#msgs .flash'), 'hit opened');
  check((await A.$eval('#cTitle', e => e.textContent)) === bob, 'clicking a hit opens its conversation');

  // hide the direct chat; a new message from bob brings it back
  await A.$eval('#search', e => { e.value = ''; e.dispatchEvent(new Event('input')); });
  await A.click('#hideBtn');
  await sleep(300);
  check(!(await A.$$eval('#convList .cname', (l, b) => l.some(e => e.textContent === b), bob)), 'hidden chat leaves the list');
  await B.click('#convList li:last-child'); // direct chat on B
  await waitShown(B, () => document.querySelector('#cTitle').textContent.startsWith('alice'), 'B direct open');
  await sendText(B, 'are you there');
  await waitShown(A, () => [...document.querySelectorAll('#convList .cname')].some(e => e.textContent.startsWith('bob')), 'chat returns on A');
  check(true, 'hidden chat returns when a message arrives');

  // rate limit: 80 quick sends from B all arrive once and in order
  await B.evaluate(() => { for (let i = 0; i < 80; i++) queueSend(S.open, 'text', 'burst ' + i); });
  await waitShown(B, () => !document.querySelector('#msgs .pending'), 'burst acked', 20000);
  const burst = (await shown(B)).filter(t => t.startsWith('burst '));
  check(burst.length === 80 && burst.every((t, i) => t === 'burst ' + i), 'a burst of 80 sends is paced, acked once each, in order');

  // reload B and page back through history with "Load older"
  await B.reload(); await B.waitForSelector('#app:not(.hidden)');
  await waitShown(B, () => document.querySelector('#connDot').classList.contains('on'), 'B live again');
  await B.evaluate(() => [...document.querySelectorAll('#convList li')].find(li => li.textContent.includes('alice')).click());
  await waitShown(B, () => document.querySelectorAll('#msgs .msg').length === 50 && document.querySelector('#msgs .more'), 'newest page of 50');
  await B.click('#msgs .more');
  await waitShown(B, () => !document.querySelector('#msgs .more'), 'all history loaded');
  const seqs = await B.$$eval('#msgs [data-seq]', l => l.map(e => +e.dataset.seq));
  check(seqs.length === seqs[seqs.length - 1] && seqs.every((q, i) => q === i + 1), `Load older: seqs 1..${seqs.length} contiguous, no duplicates`);

  // logout on another device (HTTP) closes B's socket with 4001 -> login screen
  const bobTok = await B.evaluate(() => localStorage.getItem('chatnode.token'));
  await api('POST', '/api/logout', bobTok);
  await waitShown(B, () => !document.querySelector('#login').classList.contains('hidden'), 'B back at login');
  check(true, 'token revoked -> close 4001 -> login screen: ' + await B.$eval('#lerr', e => e.textContent));
  // explicit logout on A
  await A.click('#logoutBtn');
  await waitShown(A, () => !document.querySelector('#login').classList.contains('hidden') && !localStorage.getItem('chatnode.token'), 'A logout');
  check(true, 'logout button returns to login and forgets the token');

  await browser.close();
  await killServer();
  const errors = consoleLog.filter(l => /error|PAGEERROR/i.test(l));
  console.log('--- console (' + consoleLog.length + ' lines, ' + errors.length + ' error-like) ---');
  for (const l of consoleLog) console.log('  ' + l);
  console.log(failures ? `${failures} FAILED` : 'ALL PASSED');
  process.exit(failures ? 1 : 0);
})().catch(async e => {
  console.log('FATAL', e.message);
  console.log(consoleLog.join('\n'));
  if (server) await killServer();
  process.exit(2);
});

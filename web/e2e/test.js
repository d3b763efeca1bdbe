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
const BIN = process.env.CHATNODE_BIN || path.join(__dirname, '../../target/debug/chatnode');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
console.log('work dir (data, server log, screenshots): ' + WORK);
const sleep = ms => new Promise(r => setTimeout(r, ms));
// page.click, again when the element was replaced between finding and clicking it (a list
// re-rendered by a presence or unread update)
async function clickSel(page, sel) {
  for (let i = 0; ; i++) {
    try { return await page.click(sel); } catch (e) {
      if (i >= 5 || !/detached/i.test(e.message)) throw e;
      await sleep(100);
    }
  }
}
let server = null, failures = 0;
const consoleLog = [];

function check(cond, what) { console.log((cond ? 'PASS ' : 'FAIL ') + what); if (!cond) failures++; }

// The main node (port PORT, data dir DATA) is `server`; extra nodes (18801+) are in `extra`.
let extra = [];
async function startNode(port, data, env) {
  const proc = spawn(BIN, [], { env: { ...process.env, CHATNODE__SERVER__BIND: `127.0.0.1:${port}`, CHATNODE__SERVER__DATA_DIR: data,
    CHATNODE__LIMITS__LOGINS_PER_MIN: '1000', RUST_LOG: 'warn', ...(env || {}) }, stdio: ['ignore', fs.openSync(LOG, 'a'), fs.openSync(LOG, 'a')] });
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(`http://127.0.0.1:${port}/healthz`); if (r.ok) return proc; } catch (e) { /* not yet */ }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error('server did not start on ' + port);
}
async function startServer() { server = await startNode(PORT, DATA); }
async function killProc(p) { if (p.exitCode !== null || p.signalCode !== null) return; const gone = new Promise(r => p.once('exit', r)); p.kill('SIGKILL'); await gone; }
async function killServer() { const p = server; server = null; await killProc(p); }

async function api(method, path, token, body, base = BASE) {
  const r = await fetch(base + path, { method, headers: token ? { Authorization: 'Bearer ' + token } : {}, body: body && JSON.stringify(body) });
  return r.status === 204 ? null : r.json();
}

// Text of the messages shown in the open conversation, in DOM order.
const shown = page => page.evaluate(() => [...document.querySelectorAll('#msgs .msg, #msgs .sys')].map(e => {
  if (e.classList.contains('sys')) return 'SYS:' + e.firstChild.textContent;
  const b = e.querySelector('.bubble').cloneNode(true);
  b.querySelectorAll('.meta, .sender, .sr, .menu').forEach(x => x.remove());
  return b.textContent + (e.classList.contains('pending') ? ' [pending]' : '');
}));
// Seqs of the open conversation: its rows, plus the v1.1 events held (stored at their own seq, never shown as rows).
const rowSeqs = page => page.evaluate(() => {
  const rows = [...document.querySelectorAll('#msgs [data-seq]')].map(e => +e.dataset.seq), lo = Math.min(...rows);
  const ev = [...S.msgs.get(S.open).values()].filter(m => ['edit', 'reaction', 'recall'].includes(m.kind) && m.seq >= lo).map(m => m.seq);
  return [...rows, ...ev].sort((a, b) => a - b);
});
const waitShown = (page, pred, what, timeout = 10000, ...args) =>
  page.waitForFunction(pred, { timeout, polling: 100 }, ...args).catch(() => { throw new Error('timeout waiting: ' + what); });
// Class names of the rows in the open conversation whose text is exactly `text`.
const rowsWith = (page, text) => page.evaluate(t => [...document.querySelectorAll('#msgs .msg')].filter(e => {
  const b = e.querySelector('.bubble').cloneNode(true); b.querySelectorAll('.meta, .sender, .sr, .menu').forEach(x => x.remove());
  return b.textContent === t;
}).map(e => e.className.replace(' cont', '')), text);
const isLive = () => document.querySelector('#connDot').classList.contains('on');
// Every stored message of a conversation, oldest first (pages of 100).
async function allMessages(conv, token, base = BASE) {
  const out = [];
  for (let after = 0; ;) {
    const r = await api('GET', `/api/conversations/${conv}/messages?after=${after}&limit=100`, token, undefined, base);
    out.push(...r.messages);
    if (!r.has_more || !r.messages.length) return out;
    after = r.messages[r.messages.length - 1].seq;
  }
}
const allUrls = [];   // every URL any page requested (none may carry a token)
function watch(name, page) {
  page.on('request', r => allUrls.push(r.url()));
  page.on('console', m => consoleLog.push(`${name} ${m.type()}: ${m.text()}`));
  page.on('pageerror', e => consoleLog.push(`${name} PAGEERROR: ${e.message}`));
}
// Opens the conversation listed under `name` (waiting for the list to show it).
const openWith = (page, name) => waitShown(page, n => {
  const li = [...document.querySelectorAll('#convList li')].find(l => l.querySelector('.cname')?.textContent === n);
  if (li) li.click();
  return !!li;
}, 'a conversation named ' + name, 10000, name);

async function register(page, name, base = BASE) {
  await page.goto(base + '/');
  await page.waitForSelector('#lu', { visible: true });
  await page.click('#regTab');
  await page.type('#lu', name); await page.type('#lp', 'password123');
  await page.click('#lsubmit');
  await page.waitForSelector('#app:not(.hidden)');
  await waitShown(page, () => document.querySelector('#connDot').classList.contains('on'), 'connected');
}
// Answers the open confirmation <dialog> with its OK button.
async function confirmYes(page) {
  await page.waitForSelector('dialog[open] button[value=ok]');
  await page.click('dialog[open] button[value=ok]');
}
async function sendText(page, text) { await page.type('#text', text); await page.keyboard.press('Enter'); }

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  await startServer();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    // a page served by request interception (the "cached" page of the outbox check) has no address,
    // so Chromium's local network access checks would block its socket to 127.0.0.1
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--user-data-dir=' + path.join(WORK, 'profile'),
      '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets'] });
  const ctxA = await browser.createBrowserContext(), ctxB = await browser.createBrowserContext();
  const A = await ctxA.newPage(), B = await ctxB.newPage();
  await A.setViewport({ width: 1100, height: 720 });
  await B.setViewport({ width: 390, height: 780, isMobile: true, deviceScaleFactor: 1 });
  watch('A', A); watch('B', B);
  const sfx = Date.now().toString(36).slice(-5);
  const alice = 'alice' + sfx, bob = 'bob' + sfx, carol = 'carol' + sfx;

  // first load weight: every byte on the wire (compressed) for a fresh browser opening the app
  {
    const ctxW = await browser.createBrowserContext(), W = await ctxW.newPage();
    const cdp = await W.createCDPSession(); await cdp.send('Network.enable');
    const sizes = new Map(), urls = new Map();
    cdp.on('Network.requestWillBeSent', e => urls.set(e.requestId, e.request.url));
    cdp.on('Network.loadingFinished', e => sizes.set(e.requestId, e.encodedDataLength));
    await W.goto(BASE + '/', { waitUntil: 'networkidle0' });
    await W.waitForSelector('#lu', { visible: true });
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    const encodings = await W.evaluate(() => performance.getEntriesByType('resource').map(r => r.name.replace(location.origin, '') + ':' + r.encodedBodySize + '/' + r.decodedBodySize));
    console.log('first load: ' + sizes.size + ' responses, ' + total + ' bytes on the wire; ' + encodings.join(' '));
    check(total > 0 && total < 100 * 1024, `first load is under 100 KB compressed (${(total / 1024).toFixed(1)} KB in ${sizes.size} responses)`);
    await ctxW.close();
  }

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
  await clickSel(B, '#convList li');
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
  await clickSel(B, '#convList li');
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
  await A.evaluate(() => [...document.querySelectorAll('#msgs .msg.mine .more-btn')].pop().click());
  await A.evaluate(() => [...document.querySelectorAll('.menu .menuitem')].find(b => b.textContent === 'Recall').click());
  await confirmYes(A);
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
  await confirmYes(A);
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
  check((await A.$$eval('#hits li.hit', l => l.length)) === 3, 'search shows 3 hits for "hello"');
  await A.screenshot({ path: SHOTS + '/08-search.png' });
  await A.evaluate(() => [...document.querySelectorAll('#hits li.hit')].pop().click());
  await waitShown(A, () => document.querySelector('#msgs .flash'), 'hit opened');
  check((await A.$eval('#cTitle', e => e.textContent)) === bob, 'clicking a hit opens its conversation');

  // hide the direct chat; a new message from bob brings it back
  await A.$eval('#search', e => { e.value = ''; e.dispatchEvent(new Event('input')); });
  await A.click('#hideBtn');
  await sleep(300);
  check(!(await A.$$eval('#convList .cname', (l, b) => l.some(e => e.textContent === b), bob)), 'hidden chat leaves the list');
  await clickSel(B, '#convList li:last-child'); // direct chat on B
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
  const seqs = await rowSeqs(B);
  check(seqs.length === seqs[seqs.length - 1] && seqs.every((q, i) => q === i + 1), `Load older: seqs 1..${seqs.length} contiguous, no duplicates`);

  const bobTok = await B.evaluate(() => localStorage.getItem('chatnode.token'));

  // ===== two devices of one user: alice logs in on a second browser (A2) =====
  const ctxA2 = await browser.createBrowserContext(), A2 = await ctxA2.newPage();
  await A2.setViewport({ width: 1100, height: 720 }); watch('A2', A2);
  await A2.goto(BASE + '/'); await A2.waitForSelector('#lu', { visible: true });
  await A2.type('#lu', alice); await A2.type('#lp', 'password123');
  await A2.click('#loginForm button[type=submit]');
  await A2.waitForSelector('#app:not(.hidden)');
  await waitShown(A2, isLive, 'A2 connected');
  await openWith(A, bob); await openWith(A2, bob);
  await waitShown(A, c => S.open === c && S.loaded.has(c), 'A chat open', 10000, conv);
  await waitShown(A2, c => S.open === c && S.loaded.has(c), 'A2 chat open', 10000, conv);
  await sendText(A, 'from device one');
  await waitShown(A2, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('from device one')), 'A2 gets device one');
  await waitShown(A, () => S.outbox.size === 0, 'A acked device one');
  await sendText(A2, 'from device two');
  await waitShown(A, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('from device two')), 'A gets device two');
  await waitShown(A2, () => S.outbox.size === 0, 'A2 acked device two');
  await sendText(B, 'to both devices');
  for (const p of [A, A2]) await waitShown(p, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('to both devices')), 'both get B');
  await waitShown(B, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('from device two')), 'B gets device two');
  await sleep(500);
  for (const [n, p] of [['A', A], ['A2', A2]]) {
    const one = await rowsWith(p, 'from device one'), two = await rowsWith(p, 'from device two'), both = await rowsWith(p, 'to both devices');
    check(one.length === 1 && one[0] === 'msg mine' && two.length === 1 && two[0] === 'msg mine',
      `${n}: both devices' messages shown once as alice's own, not pending (${JSON.stringify([one, two])})`);
    check(both.length === 1 && both[0] === 'msg theirs', `${n}: bob's message shown once (${JSON.stringify(both)})`);
    const tail = (await shown(p)).slice(-3);
    check(JSON.stringify(tail) === JSON.stringify(['from device one', 'from device two', 'to both devices']), `${n}: in seq order`);
  }
  for (const t of ['from device one', 'from device two']) check((await rowsWith(B, t)).length === 1, `B: "${t}" once`);
  check(!(await A2.$('#convList .badge')) && !(await A.$('#convList .badge')), 'no unread badge on either device while the chat is open');

  // ===== outbox survives a reload while the node is down (kill -9): the service worker's
  // offline shell opens the app with its cached conversations and the pending outbox =====
  await waitShown(A, () => navigator.serviceWorker.controller != null, 'A controlled by the service worker', 10000);
  check(true, 'the service worker controls the page (installable, offline shell)');
  const convsBefore = await A.$$eval('#convList .cname', l => l.map(e => e.textContent));
  await killServer();
  await waitShown(A, () => !document.querySelector('#connNote').classList.contains('hidden'), 'A notices disconnect (2)');
  await sendText(A, 'outbox across reload');
  await sleep(300);
  check((await shown(A)).includes('outbox across reload [pending]'), 'A shows the send as pending while the node is down');
  await A.reload(); await A.waitForSelector('#app:not(.hidden)');
  await sleep(1000);
  const ob = await A.evaluate(() => [...S.outbox.values()].map(i => i.body));
  check(JSON.stringify(ob) === '["outbox across reload"]', 'after a reload with the node down the send is still in the outbox: ' + JSON.stringify(ob));
  const convsDown = await A.$$eval('#convList .cname', l => l.map(e => e.textContent));
  check(convsDown.length === convsBefore.length && convsDown.length > 0 && convsDown.every(n => convsBefore.includes(n)),
    'node down: the reloaded app shows its cached conversations (' + JSON.stringify(convsDown) + ')');
  await openWith(A, bob);
  await waitShown(A, () => [...document.querySelectorAll('#msgs .msg.pending')].some(e => e.textContent.includes('outbox across reload'))
    && document.querySelectorAll('#msgs .msg:not(.pending)').length > 5, 'cached messages and the pending send shown offline');
  check(true, 'node down: the open chat shows cached messages and the pending send');
  await A.screenshot({ path: SHOTS + '/10-offline-shell.png' });
  await startServer();
  await waitShown(A, () => document.querySelector('#connDot').classList.contains('on') && S.outbox.size === 0
    && localStorage.getItem('chatnode.outbox.' + S.me) === '[]', 'A flushes its outbox after restart', 40000);
  await openWith(A, bob);
  await waitShown(A, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('outbox across reload')), 'A shows it');
  for (const p of [A2, B]) await waitShown(p, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('outbox across reload')), 'others get it', 40000);
  await sleep(800);
  for (const [n, p, cls] of [['A', A, 'msg mine'], ['A2', A2, 'msg mine'], ['B', B, 'msg theirs']]) {
    const r = await rowsWith(p, 'outbox across reload');
    check(r.length === 1 && r[0] === cls, `${n}: the reloaded outbox message is shown once (${JSON.stringify(r)})`);
  }
  check((await allMessages(conv, bobTok)).filter(m => m.body === 'outbox across reload').length === 1, 'node stored the reloaded outbox message once');

  // ===== two tabs of one user in one browser share the saved outbox: nothing typed in a tab
  // that is closed while the node is down is lost =====
  const A3 = await ctxA.newPage();
  await A3.setViewport({ width: 1100, height: 720 }); watch('A3', A3);
  await A3.goto(BASE + '/'); await A3.waitForSelector('#app:not(.hidden)');
  await openWith(A3, bob);
  await killServer();
  for (const p of [A, A3]) await waitShown(p, () => !document.querySelector('#connNote').classList.contains('hidden'), 'tabs notice disconnect');
  await sendText(A, 'from tab one'); await sendText(A3, 'from tab two');
  await sleep(300);
  const saved = () => A.evaluate(() => JSON.parse(localStorage.getItem('chatnode.outbox.' + S.me) || '[]').map(i => i.body).sort());
  check(JSON.stringify(await saved()) === '["from tab one","from tab two"]', 'both tabs\' pending sends are saved: ' + JSON.stringify(await saved()));
  await A3.close();
  await startServer();
  await waitShown(A, () => document.querySelector('#connDot').classList.contains('on') && S.outbox.size === 0, 'tab one flushes its own send', 40000);
  check(JSON.stringify(await saved()) === '["from tab two"]', 'the closed tab\'s send is still saved after tab one\'s ack: ' + JSON.stringify(await saved()));
  await A.reload(); await A.waitForSelector('#app:not(.hidden)');
  await waitShown(A, () => document.querySelector('#connDot').classList.contains('on') && S.outbox.size === 0
    && localStorage.getItem('chatnode.outbox.' + S.me) === '[]', 'the reloaded tab sends what the closed one left', 40000);
  await openWith(A, bob);
  for (const t of ['from tab one', 'from tab two']) {
    await waitShown(B, tt => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes(tt)), 'B gets ' + t, 40000, t);
  }
  await sleep(500);
  for (const t of ['from tab one', 'from tab two']) {
    check((await rowsWith(B, t)).length === 1, `B: "${t}" once`);
    check((await allMessages(conv, bobTok)).filter(m => m.body === t).length === 1, `node stored "${t}" once`);
  }

  // ===== gap fill by sync: B offline (no reload) while alice sends 450 (three sync pages of 200) =====
  await B.evaluate(() => {
    window.__rx = { message: 0, sync: 0, batches: 0 };
    const orig = window.handle;
    window.handle = f => {
      if (f.type === 'message') window.__rx.message++;
      if (f.type === 'sync_batch' && (f.messages || []).length) { window.__rx.sync += f.messages.length; window.__rx.batches++; }
      orig(f);
    };
  });
  const bTop0 = await B.evaluate(c => S.top.get(c), conv);
  const titleB0 = await B.title();   // other conversations' unread (the group) stay as they are
  const gapRound = async (n, prefix) => {
    await B.setOfflineMode(true);
    await B.evaluate(() => ws && ws.close());
    await waitShown(B, () => !document.querySelector('#connDot').classList.contains('on'), 'B offline');
    await A.evaluate((c, n, p) => { for (let i = 0; i < n; i++) queueSend(c, 'text', p + i); }, conv, n, prefix);
    await waitShown(A, () => S.outbox.size === 0, 'A acked ' + n, 60000);
    // bob's other device takes them off bob's offline queue: only `sync` can fill B's gap
    const top = (await api('GET', `/api/conversations/${conv}`, bobTok)).last_seq;
    await A.evaluate((tok, c, seq) => new Promise((res, rej) => {
      const s = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', ['chatnode.v1', 'token.' + tok]);
      s.onmessage = ev => { if (JSON.parse(ev.data).type === 'sync_done') { s.send(JSON.stringify({ type: 'delivered', conv: c, seq })); setTimeout(() => { s.close(); res(); }, 500); } };
      s.onerror = () => rej(new Error('other device socket failed'));
      setTimeout(() => rej(new Error('other device timeout')), 10000);
    }), bobTok, conv, top);
    const dv = (await api('GET', `/api/conversations/${conv}`, bobTok)).delivered_seq;
    check(dv === top, `bob's other device confirmed delivery up to ${top} (delivered_seq ${dv})`);
    await B.evaluate(() => { window.__rx.message = 0; window.__rx.sync = 0; window.__rx.batches = 0; });
    await B.setOfflineMode(false);
    return top;
  };
  const GAP = 450;
  const top1 = await gapRound(GAP, 'gap ');
  await waitShown(B, n => document.querySelector('#connDot').classList.contains('on')
    && [...document.querySelectorAll('#msgs .msg')].filter(e => e.textContent.startsWith('gap ')).length >= n, 'B gap filled', 60000, GAP);
  await sleep(1000);
  const gap = (await shown(B)).filter(t => /^gap \d+$/.test(t));
  check(gap.length === GAP && gap.every((t, i) => t === 'gap ' + i), `B: all ${GAP} sent while it was offline appear once, in order (${gap.length})`);
  const bSeqs = await rowSeqs(B);
  check(bSeqs.every((q, i) => i === 0 || q === bSeqs[i - 1] + 1) && bSeqs[bSeqs.length - 1] === top1 && bSeqs.includes(bTop0),
    `B: open conversation seqs contiguous up to ${top1}, no duplicates (${bSeqs[0]}..${bSeqs[bSeqs.length - 1]}, ${bSeqs.length} rows)`);
  const rx = await B.evaluate(() => window.__rx);
  check(rx.sync >= GAP && rx.batches >= 3, 'the gap was filled by sync, page after page (' + JSON.stringify(rx) + ')');
  const badgeOf = (page, c) => page.evaluate(c => document.querySelector(`#convList li[data-conv="${c}"] .badge`)?.textContent || '', c);
  await waitShown(B, c => !document.querySelector(`#convList li[data-conv="${c}"] .badge`), 'B no badge', 5000, conv).catch(() => {});
  check((await badgeOf(B, conv)) === '' && (await B.title()) === titleB0,
    `B: the open conversation has no unread badge, title unchanged (badge "${await badgeOf(B, conv)}", title ${await B.title()})`);
  await sleep(500);
  const bobConv = await api('GET', `/api/conversations/${conv}`, bobTok);
  check(bobConv.unread === 0 && bobConv.read_seq === top1, `node: bob has read it all (unread ${bobConv.unread}, read_seq ${bobConv.read_seq})`);
  // again with B on the conversation list: the badge counts what came in
  await B.click('#backBtn');
  const top2 = await gapRound(5, 'list gap ');
  await waitShown(B, c => document.querySelector('#connDot').classList.contains('on') && S.phase === 'live'
    && document.querySelector(`#convList li[data-conv="${c}"] .badge`)?.textContent === '5', 'B badge 5 after gap', 40000, conv).catch(() => {});
  await sleep(1000);
  const titleN = t => Number((/^\((\d+)\)/.exec(t) || [0, 0])[1]);
  check((await badgeOf(B, conv)) === '5' && titleN(await B.title()) === titleN(titleB0) + 5,
    `B (on the list): badge and title count the 5 that came in (badge "${await badgeOf(B, conv)}", title ${await B.title()})`);
  await openWith(B, alice);
  await waitShown(B, c => !document.querySelector(`#convList li[data-conv="${c}"] .badge`), 'B badge cleared after opening', 10000, conv);
  const lg = (await shown(B)).filter(t => /^list gap \d+$/.test(t));
  const bSeqs2 = await rowSeqs(B);
  check(lg.length === 5 && lg.every((t, i) => t === 'list gap ' + i) && bSeqs2.every((q, i) => i === 0 || q === bSeqs2[i - 1] + 1) && bSeqs2[bSeqs2.length - 1] === top2,
    'B: opening shows the 5 once, in order, seqs contiguous; badge cleared');
  await ctxA2.close();

  // logout on another device (HTTP) closes B's socket with 4001 -> login screen
  await api('POST', '/api/logout', bobTok);
  await waitShown(B, () => !document.querySelector('#login').classList.contains('hidden'), 'B back at login');
  check(true, 'token revoked -> close 4001 -> login screen: ' + await B.$eval('#lerr', e => e.textContent));
  // explicit logout on A
  await A.click('#logoutBtn');
  await waitShown(A, () => !document.querySelector('#login').classList.contains('hidden') && !localStorage.getItem('chatnode.token'), 'A logout');
  check(true, 'logout button returns to login and forgets the token');


  // ===================== issue 20: the client people compare with Element and Telegram =====================
  const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // axe-core on the page as it is now: serious or critical violations, by rule id
  const axe = async (page, what) => {
    await page.evaluate(axeSource);
    const v = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
      .filter(x => x.impact === 'serious' || x.impact === 'critical').map(x => x.id + ' (' + x.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ') + ')'));
    check(v.length === 0, `axe: no serious/critical violations on ${what}` + (v.length ? ': ' + v.join('; ') : ''));
  };
  const setDark = (page, dark) => page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: dark ? 'dark' : 'light' }]);
  const focused = page => page.evaluate(() => { const e = document.activeElement; return e ? (e.id || e.className || e.tagName) : ''; });
  // Presses Tab until the focused element matches `sel` (keyboard only); false if it never does.
  const tabTo = async (page, sel, max = 40, back = false) => {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate(s => document.activeElement && document.activeElement.matches(s), sel)) return true;
      if (back) { await page.keyboard.down('Shift'); await page.keyboard.press('Tab'); await page.keyboard.up('Shift'); }
      else await page.keyboard.press('Tab');
    }
    return page.evaluate(s => document.activeElement && document.activeElement.matches(s), sel);
  };
  const ctxE = await browser.createBrowserContext(), ctxF = await browser.createBrowserContext();
  const E = await ctxE.newPage(), F = await ctxF.newPage();
  await E.setViewport({ width: 1280, height: 800 });
  await F.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  watch('E', E); watch('F', F);
  const eu = 'erin' + sfx, fu = 'finn' + sfx, gu = 'gus' + sfx;
  const gTok = (await api('POST', '/api/register', null, { username: gu, password: 'password123' })).token;

  // --- login screen: plain-language errors, separate Register and Log in (phone, light and dark)
  await F.goto(BASE + '/'); await F.waitForSelector('#lu', { visible: true });
  await axe(F, 'the login screen (phone, light)');
  await setDark(F, true); await axe(F, 'the login screen (phone, dark)');
  await F.screenshot({ path: SHOTS + '/20-phone-login-dark.png' }); await setDark(F, false);
  await F.type('#lu', fu); await F.type('#lp', 'password123'); await F.keyboard.press('Enter');
  await waitShown(F, () => document.querySelector('#lerr').textContent.length > 0, 'login error for a new user');
  const lerr = await F.$eval('#lerr', e => e.textContent);
  check(/Wrong username or password/.test(lerr) && !!(await F.$('#lerr #switchReg')), 'a new user who presses Enter is offered to create the account: ' + lerr);
  check((await F.$eval('#lp', e => e.autocomplete)) === 'current-password', 'log in: password autocomplete is current-password');
  await F.click('#switchReg');
  check((await F.$eval('#regTab', e => e.getAttribute('aria-pressed'))) === 'true' && (await F.$eval('#lp', e => e.autocomplete)) === 'new-password',
    'register mode: its own tab, password autocomplete new-password');
  await F.$eval('#lp', e => { e.value = ''; }); await F.type('#lp', 'short'); await F.click('#lsubmit');
  await waitShown(F, () => document.querySelector('#lerr').textContent.length > 0, 'short password error');
  const shortErr = await F.$eval('#lerr', e => e.textContent);
  check(/8 characters/.test(shortErr) && !/bad_request|\(|bytes/.test(shortErr), 'a short password is explained plainly, no codes: ' + shortErr);
  await F.$eval('#lu', e => { e.value = ''; }); await F.type('#lu', alice);
  await F.$eval('#lp', e => { e.value = ''; }); await F.type('#lp', 'password123'); await F.click('#lsubmit');
  await waitShown(F, () => /taken/.test(document.querySelector('#lerr').textContent), 'taken name error');
  check(!/conflict|409/.test(await F.$eval('#lerr', e => e.textContent)), 'a taken username is said plainly: ' + await F.$eval('#lerr', e => e.textContent));
  await F.$eval('#lu', e => { e.value = ''; }); await F.type('#lu', fu); await F.click('#lsubmit');
  await F.waitForSelector('#app:not(.hidden)');
  await waitShown(F, isLive, 'F connected');

  // --- keyboard only (desktop): register, open the New dialog (Esc closes, Tab stays inside), start a chat
  await E.goto(BASE + '/'); await E.waitForSelector('#lu', { visible: true });
  check(await tabTo(E, '#regTab'), 'keyboard: the Register tab is reachable');
  await E.keyboard.press('Enter');
  await tabTo(E, '#lu'); await E.keyboard.type(eu); await E.keyboard.press('Tab'); await E.keyboard.type('password123'); await E.keyboard.press('Enter');
  await E.waitForSelector('#app:not(.hidden)'); await waitShown(E, isLive, 'E connected');
  check(await tabTo(E, '#newBtn'), 'keyboard: New is reachable');
  await E.keyboard.press('Enter');
  await waitShown(E, () => document.querySelector('#modal').open && document.activeElement.id === 'nMembers', 'New dialog open with focus inside');
  let inside = true;
  for (let i = 0; i < 10; i++) { await E.keyboard.press('Tab'); inside = inside && await E.evaluate(() => document.querySelector('#modal').contains(document.activeElement)); }
  check(inside, 'keyboard: Tab stays inside the New dialog (focus trapped)');
  await E.keyboard.press('Escape');
  await sleep(200);
  check(!(await E.$eval('#modal', d => d.open)) && (await focused(E)) === 'newBtn', 'keyboard: Esc closes the New dialog and focus returns to New (' + await focused(E) + ')');
  await E.keyboard.press('Enter');
  await waitShown(E, () => document.activeElement.id === 'nMembers', 'dialog again');
  await E.keyboard.type(fu); await E.keyboard.press('Enter');
  await waitShown(E, () => !document.querySelector('#conv').classList.contains('hidden') && document.activeElement.id === 'text', 'chat open, composer focused');
  await E.keyboard.type('hello by keyboard'); await E.keyboard.press('Enter');
  await waitShown(E, () => document.querySelector('#msgs .msg.mine:not(.pending)'), 'keyboard message acked');
  check(await tabTo(E, '#attachBtn', 5, true), 'keyboard: the attach control is reachable (Shift+Tab from the composer)');
  // Shift+Enter gives a new line on desktop
  await E.focus('#text'); await E.keyboard.type('line one'); await E.keyboard.down('Shift'); await E.keyboard.press('Enter'); await E.keyboard.up('Shift');
  await E.keyboard.type('line two'); await E.keyboard.press('Enter');
  const convEF = await E.evaluate(() => S.open), eTok = await E.evaluate(() => S.token), fTok = await F.evaluate(() => S.token);
  await waitShown(E, () => S.outbox.size === 0, 'multi-line acked');
  check((await allMessages(convEF, eTok)).some(m => m.body === 'line one\nline two'), 'desktop: Shift+Enter makes a new line, Enter sends');
  // the list: arrow keys move between conversations, Enter opens
  await api('POST', '/api/conversations', gTok, { kind: 'direct', members: [eu] });
  await waitShown(E, () => document.querySelectorAll('#convList li[data-conv]').length === 2, 'E lists two chats');
  check(await tabTo(E, '#convList li > button'), 'keyboard: conversation list items are focusable');
  const firstFocused = await E.evaluate(() => document.activeElement.closest('li').dataset.conv);
  await E.keyboard.press('ArrowDown');
  const second = await E.evaluate(() => document.activeElement.closest('li')?.dataset.conv);
  check(second && second !== firstFocused, 'keyboard: ArrowDown moves to the next conversation');
  await E.keyboard.press('ArrowUp'); await E.keyboard.press('Enter');
  await waitShown(E, c => S.open === Number(c), 'Enter opens the focused conversation', 5000, firstFocused);
  check(true, 'keyboard: Enter opens the focused conversation');
  await openWith(E, fu);

  // --- phone: Enter is a new line, the Send button sends; tap targets >= 44 px
  await waitShown(F, () => document.querySelector('#convList li[data-conv]'), 'F sees the chat');
  await clickSel(F, '#convList li[data-conv]');
  await waitShown(F, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('line two')), 'F shows the chat');
  await F.type('#text', 'phone one'); await F.keyboard.press('Enter'); await F.type('#text', 'phone two');
  check((await F.$eval('#text', e => e.value)) === 'phone one\nphone two', 'phone: Enter in the composer is a new line');
  await F.click('#sendBtn');
  await waitShown(F, () => S.outbox.size === 0 && !document.querySelector('#msgs .pending'), 'F sent');
  const small = await F.evaluate(() => [...document.querySelectorAll('#conv button, #conv input:not([type=file]), #conv textarea')].filter(e => {
    const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && (r.width < 44 || r.height < 44);
  }).map(e => (e.id || e.className) + ' ' + Math.round(e.getBoundingClientRect().width) + 'x' + Math.round(e.getBoundingClientRect().height)));
  check(small.length === 0, 'phone: every tap target in the chat is at least 44 x 44 px' + (small.length ? ': ' + small.join(', ') : ''));

  // --- links are clickable and safe; a message is never HTML; consecutive messages group
  await E.evaluate(c => { queueSend(c, 'text', 'see https://example.com/a?b=1. and javascript:alert(1) <img src=x onerror=alert(1)>'); queueSend(c, 'text', 'second in a row'); }, convEF);
  await waitShown(F, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('second in a row')), 'F gets the link');
  const links = await F.$$eval('#msgs a', l => l.map(a => [a.getAttribute('href'), a.rel, a.target]));
  check(links.length === 1 && links[0][0] === 'https://example.com/a?b=1' && links[0][1] === 'noopener noreferrer' && links[0][2] === '_blank',
    'links: https made clickable with rel=noopener noreferrer, javascript: not (' + JSON.stringify(links) + ')');
  check(!(await F.$('#msgs .bubble img:not(.thumb)')), 'a message with markup is shown as text');
  const contRow = await F.evaluate(() => { const r = [...document.querySelectorAll('#msgs .msg')].find(e => e.textContent.includes('second in a row')); return r && r.className; });
  check(/\bcont\b/.test(contRow || ''), 'consecutive messages from one sender are grouped (' + contRow + ')');

  // --- media: fetched with the Authorization header into blob: URLs; lightbox by keyboard
  const inputE = await E.$('#file'); await inputE.uploadFile(png);
  await waitShown(F, () => { const i = document.querySelector('#msgs img.thumb'); return i && i.complete && i.naturalWidth > 0; }, 'F image shown');
  const srcs = await F.$$eval('#msgs img', l => l.map(i => i.getAttribute('src')));
  check(srcs.length > 0 && srcs.every(s => s.startsWith('blob:')), 'images are shown from blob: URLs (' + srcs.map(s => s.slice(0, 5)).join(',') + ')');
  await F.click('#msgs .imgbtn');
  await waitShown(F, () => document.querySelector('dialog.lightbox[open] img')?.naturalWidth > 0, 'lightbox open');
  check(true, 'an image opens in a lightbox (no new tab, no token)');
  await F.screenshot({ path: SHOTS + '/21-phone-lightbox.png' });
  await F.keyboard.press('Escape');
  await waitShown(F, () => !document.querySelector('dialog.lightbox[open]'), 'lightbox closed by Esc');
  check(true, 'Esc closes the lightbox');

  // --- scrolled-up reading: open at the first unread with a divider; "N new" pill; read only what was seen
  await F.click('#backBtn');
  await E.evaluate((c, n) => { for (let i = 0; i < n; i++) queueSend(c, 'text', 'unread ' + i); }, convEF, 60);
  await waitShown(E, () => S.outbox.size === 0, 'E acked 60', 30000);
  await waitShown(F, c => document.querySelector(`#convList li[data-conv="${c}"] .badge`)?.textContent === '60', 'F badge 60', 10000, convEF);
  await F.click(`#convList li[data-conv="${convEF}"]`);
  await waitShown(F, () => document.querySelector('#unreadDivider'), 'divider shown', 10000).catch(() => {});
  const div = await F.evaluate(() => { const d = document.querySelector('#unreadDivider'); const n = d && d.nextElementSibling; return n && n.textContent; });
  check(!!div && div.includes('unread 0'), 'opening a chat with 60 unread shows a "new messages" divider above the first unread (' + (div || 'none').slice(0, 30) + ')');
  await sleep(800);
  let fView = await api('GET', `/api/conversations/${convEF}`, fTok);
  const lastEF = fView.last_seq;
  check(fView.read_seq < lastEF, `only what was on screen is reported read (read_seq ${fView.read_seq} < ${lastEF})`);
  await E.evaluate(c => queueSend(c, 'text', 'while scrolled up'), convEF);
  await waitShown(F, () => !document.querySelector('#newPill').classList.contains('hidden'), 'pill shown', 10000).catch(() => {});
  const pill = await F.$eval('#newPill', e => e.classList.contains('hidden') ? '' : e.textContent);
  check(/new/.test(pill), 'scrolled up, new messages show an "N new" pill: ' + pill);
  await F.screenshot({ path: SHOTS + '/22-phone-unread-pill.png' });
  fView = await api('GET', `/api/conversations/${convEF}`, fTok);
  check(fView.read_seq < lastEF + 1, 'the message that came while scrolled up is not reported read');
  await F.$eval('#msgs', b => { b.scrollTop = b.scrollHeight; });
  await sleep(1000);
  fView = await api('GET', `/api/conversations/${convEF}`, fTok);
  check(fView.read_seq === lastEF + 1 && fView.unread === 0, `scrolled to the bottom: all read (read_seq ${fView.read_seq}, unread ${fView.unread})`);

  // --- connection: offline noticed at once, live countdown, Retry now, peers not shown offline
  await waitShown(E, () => document.querySelector('#cSub').textContent === 'online', 'E sees F online');
  const tOff = Date.now();
  await E.setOfflineMode(true);
  await waitShown(E, () => !document.querySelector('#connNote').classList.contains('hidden') && !document.querySelector('#connDot').classList.contains('on'), 'offline noticed', 3000).catch(() => {});
  const offMs = Date.now() - tOff;
  check(offMs < 3000, `going offline is noticed within 3 s (${offMs} ms)`);
  check((await E.$eval('#cSub', e => e.textContent)) !== 'offline', 'while we are offline the peer is not shown as offline: "' + await E.$eval('#cSub', e => e.textContent) + '"');
  const seen = new Set();
  for (let i = 0; i < 12; i++) { seen.add(await E.$eval('#connText', e => e.textContent)); await sleep(250); }
  check(seen.size >= 2, `the reconnect countdown is live (${JSON.stringify([...seen])})`);
  check(await E.$eval('#retryBtn', b => !b.classList.contains('hidden')), 'a Retry now button is shown while disconnected');
  await E.screenshot({ path: SHOTS + '/23-desktop-offline.png' });
  await E.setOfflineMode(false);
  await waitShown(E, isLive, 'E back online at once', 5000).catch(() => {});
  check(await E.evaluate(isLive), 'coming back online reconnects at once');
  // an ack missing for ~10 s means a dead socket: sends vanish on this one, the next one delivers
  await E.evaluate(() => { const s = ws, orig = s.send.bind(s); s.send = d => { if (!d.includes('"type":"send"')) orig(d); }; window.__deadSock = s; });
  const tDead = Date.now();
  await sendText(E, 'after a silent socket');
  await waitShown(E, () => S.outbox.size === 0 && ws && ws !== window.__deadSock, 'resent on a new socket', 25000).catch(() => {});
  const deadMs = Date.now() - tDead;
  check(await E.evaluate(() => S.outbox.size === 0), `a missing ack is noticed (~10 s) and the send goes out on a new socket (${deadMs} ms)`);

  // --- groups: ticks from receipts after a reload; remove only for who may; leave with a confirmation
  await E.click('#newBtn'); await E.click('input[name=kind][value=group]');
  await E.type('#nName', 'Team'); await E.type('#nMembers', `${fu}, ${gu}`); await E.click('#newForm button[type=submit]');
  await waitShown(E, () => document.querySelector('#cTitle').textContent === 'Team', 'group open on E');
  const team = await E.evaluate(() => S.open);
  await sendText(E, 'team hello');
  await waitShown(E, () => S.outbox.size === 0, 'team hello acked');
  await F.click('#backBtn');
  await openWith(F, 'Team');
  await waitShown(F, () => [...document.querySelectorAll('#msgs .msg')].some(e => e.textContent.includes('team hello')), 'F sees team hello');
  await sleep(800);
  await E.reload(); await E.waitForSelector('#app:not(.hidden)'); await waitShown(E, isLive, 'E live after reload');
  await openWith(E, 'Team');
  await waitShown(E, () => document.querySelector('#msgs .msg.mine .tick'), 'E tick after reload');
  const gt = await E.$eval('#msgs .msg.mine .tick', e => [e.className, e.textContent.trim(), e.title]);
  check(/Read by 1 of 2/.test(gt[1]) && gt[2].includes(fu) && !gt[0].includes('sent'), 'group ticks after a reload come from receipts: ' + JSON.stringify(gt));
  await E.click('#membersBtn');
  await E.waitForSelector('#members .chip');
  check((await E.$$('#members .chip button')).length === 2, 'the group\'s creator sees remove buttons for the others');
  await axe(E, 'the group chat with its members panel (desktop, light)');
  await setDark(E, true); await axe(E, 'the group chat with its members panel (desktop, dark)');
  await E.screenshot({ path: SHOTS + '/24-desktop-group-dark.png' }); await setDark(E, false);
  await E.screenshot({ path: SHOTS + '/25-desktop-group-light.png' });
  await F.click('#membersBtn');
  await F.waitForSelector('#members .chip');
  check((await F.$$('#members .chip button')).length === 0, 'a member who is not an admin sees no remove buttons');
  await axe(F, 'the group chat with its members panel (phone, light)');
  await setDark(F, true); await axe(F, 'the group chat with its members panel (phone, dark)');
  await F.screenshot({ path: SHOTS + '/26-phone-group-dark.png' }); await setDark(F, false);
  await F.evaluate(() => { window.__toasts = []; new MutationObserver(() => window.__toasts.push(document.querySelector('#toast').textContent)).observe(document.querySelector('#toast'), { childList: true, characterData: true, subtree: true }); });
  await F.click('#leaveBtn');
  await F.waitForSelector('dialog[open] button[value=ok]');
  check(true, 'leaving a group asks for confirmation');
  await F.click('dialog[open] button[value=ok]');
  await waitShown(F, c => !S.convs.has(c) && !document.querySelector(`#convList li[data-conv="${c}"]`), 'F left the group', 10000, team);
  await sleep(1500);
  const toasts = await F.evaluate(() => window.__toasts);
  check(!toasts.some(x => /no such|not available|went wrong|error/i.test(x)), 'leaving shows no error (' + JSON.stringify(toasts) + ')');
  await waitShown(E, () => [...document.querySelectorAll('#msgs .sys')].some(e => e.textContent.includes('left') || e.textContent.includes('removed')), 'E sees F leave').catch(() => {});

  // --- every screen with axe, light and dark, desktop and phone
  await E.click('#membersBtn');
  await openWith(E, fu);
  for (const dark of [false, true]) {
    await setDark(E, dark); await setDark(F, dark);
    const m = dark ? 'dark' : 'light';
    await axe(E, `the chat (desktop, ${m})`);
    await E.screenshot({ path: SHOTS + `/27-desktop-chat-${m}.png` });
    await E.click('#newBtn'); await E.waitForSelector('#modal[open]');
    await axe(E, `the New dialog (desktop, ${m})`);
    await E.keyboard.press('Escape');
    await E.type('#search', 'unread');
    await waitShown(E, () => document.querySelectorAll('#hits li mark').length > 0, 'hits');
    await axe(E, `search results (desktop, ${m})`);
    await E.$eval('#search', e => { e.value = ''; e.dispatchEvent(new Event('input')); });
    await openWith(F, eu);
    await waitShown(F, () => document.querySelectorAll('#msgs .msg').length > 5, 'F chat');
    await axe(F, `the chat (phone, ${m})`);
    await F.screenshot({ path: SHOTS + `/28-phone-chat-${m}.png` });
    await F.click('#backBtn');
    await axe(F, `the conversation list (phone, ${m})`);
    await F.screenshot({ path: SHOTS + `/29-phone-list-${m}.png` });
  }
  await setDark(E, false); await setDark(F, false);


  // ===================== accounts (issue 21): settings, profile, devices, invites, admin =====================
  {
    const ctxH = await browser.createBrowserContext(), H = await ctxH.newPage();
    const ctxK = await browser.createBrowserContext(), K = await ctxK.newPage();
    await H.setViewport({ width: 1100, height: 800 }); await K.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
    watch('H', H); watch('K', K);
    const loginAs = async (page, user, pw = 'password123') => {
      await page.goto(BASE + '/'); await page.waitForSelector('#lu', { visible: true });
      await page.type('#lu', user); await page.type('#lp', pw); await page.click('#lsubmit');
      await page.waitForSelector('#app:not(.hidden)'); await waitShown(page, isLive, user + ' live');
    };
    await loginAs(H, alice); await loginAs(K, bob);
    await H.click('#settingsBtn');
    await waitShown(H, () => document.querySelector('#settings').open && document.querySelector('#adminUsers li'), 'settings open with the admin section');
    const secs = await H.$$eval('#settings h3', l => l.map(e => e.textContent));
    check(JSON.stringify(secs) === JSON.stringify(['Profile', 'Password', 'Notifications', 'Devices', 'Invites', 'Admin']), 'settings of the first user (admin): ' + secs.join(', '));
    await axe(H, 'settings (desktop, light)');
    await setDark(H, true); await axe(H, 'settings (desktop, dark)'); await H.screenshot({ path: SHOTS + '/30-desktop-settings-dark.png' }); await setDark(H, false);
    // display name: shown to a peer through user_update
    await H.$eval('#setName', e => { e.value = ''; }); await H.type('#setName', 'Alice Wonder');
    await H.evaluate(() => [...document.querySelectorAll('#settings button')].find(b => b.textContent === 'Save name').click());
    await waitShown(K, () => [...document.querySelectorAll('#convList .cname')].some(e => e.textContent === 'Alice Wonder'), 'bob sees the display name', 10000).catch(() => {});
    check(await K.evaluate(() => [...document.querySelectorAll('#convList .cname')].some(e => e.textContent === 'Alice Wonder')), 'a new display name reaches a peer at once (user_update) and replaces the username in the list');
    // avatar with a square crop preview
    const avIn = await H.$('#avatarFile'); await avIn.uploadFile(png);
    await waitShown(H, () => !document.querySelector('#cropPreview').classList.contains('hidden'), 'crop preview');
    check(await H.$eval('#cropPreview', c => c.width === c.height), 'the chosen picture shows a square crop preview');
    await H.click('#saveAvatar');
    await waitShown(K, () => { const i = document.querySelector('#convList .avatar-img'); return i && i.src.startsWith('blob:') && i.naturalWidth > 0; }, 'bob sees the avatar', 10000).catch(() => {});
    check(await K.evaluate(() => { const i = document.querySelector('#convList .avatar-img'); return !!i && i.src.startsWith('blob:'); }), 'the avatar reaches a peer and is drawn from a blob: URL');
    await K.screenshot({ path: SHOTS + '/31-phone-list-avatars.png' });
    // devices: this one marked, another revoked
    const before = await H.$$eval('#devices li', l => l.length);
    check(before >= 2 && (await H.$$eval('#devices li', l => l.filter(e => e.textContent.includes('this device')).length)) === 1, `devices lists ${before} sessions, this one marked`);
    await H.evaluate(() => [...document.querySelectorAll('#devices li')].find(e => !e.textContent.includes('this device')).querySelector('button').click());
    await confirmYes(H);
    await waitShown(H, n => document.querySelectorAll('#devices li').length === n - 1, 'one device fewer', 5000, before).catch(() => {});
    check((await H.$$eval('#devices li', l => l.length)) === before - 1, 'revoking a device takes it off the list');
    // invite: link, copy, QR code that decodes to the link
    await H.click('#makeInvite');
    await H.waitForSelector('#inviteUrl');
    const inviteUrl = await H.$eval('#inviteUrl', e => e.value);
    check(/#invite=[0-9a-f]{48}$/.test(inviteUrl), 'an invite link is made: ' + inviteUrl);
    await H.click('#copyInvite');
    await waitShown(H, () => document.querySelector('#toast').textContent === 'Copied', 'copied', 3000).catch(() => {});
    check((await H.$eval('#toast', e => e.textContent)) === 'Copied', 'Copy link copies it');
    const qrPng = path.join(WORK, 'qr.png');
    await (await H.$('#inviteQr')).screenshot({ path: qrPng });
    let decoded = '';
    try { decoded = require('child_process').execFileSync('zbarimg', ['-q', '--raw', qrPng], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch (e) { decoded = 'zbarimg failed: ' + e.message.slice(0, 80); }
    check(decoded === inviteUrl, 'the invite QR code decodes (zbarimg) to the link: ' + decoded);
    await H.screenshot({ path: SHOTS + '/32-desktop-invite.png' });
    // registration from the invite link
    const ctxI = await browser.createBrowserContext(), I = await ctxI.newPage(); watch('I', I);
    await I.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
    const iu = 'ivy' + sfx;
    await I.goto(inviteUrl); await I.waitForSelector('#lu', { visible: true });
    check(await I.evaluate(() => !document.querySelector('#linvite').classList.contains('hidden') && document.querySelector('#regTab').getAttribute('aria-pressed') === 'true'),
      'an invite link opens on the registration form');
    await axe(I, 'registration from an invite (phone, light)');
    await I.type('#lu', iu); await I.type('#lp', 'password123'); await I.click('#lsubmit');
    await I.waitForSelector('#app:not(.hidden)');
    check(!(await I.evaluate(() => location.hash)), 'registered from the invite; the code leaves the address bar');
    // admin: the users page disables, enables and promotes
    await H.click('#settingsClose'); await H.click('#settingsBtn');
    await waitShown(H, u => document.querySelector(`#adminUsers li[data-user="${u}"]`), 'ivy listed', 5000, iu);
    const adminBtn = async (u, label) => H.evaluate((u, l) => [...document.querySelectorAll(`#adminUsers li[data-user="${u}"] button`)].find(b => b.textContent === l).click(), u, label);
    await adminBtn(iu, 'Disable');
    await waitShown(I, () => !document.querySelector('#login').classList.contains('hidden'), 'disabled user is logged out', 10000).catch(() => {});
    check(await I.evaluate(() => !document.querySelector('#login').classList.contains('hidden')), 'disabling a user from the admin page logs them out at once');
    await waitShown(H, u => document.querySelector(`#adminUsers li[data-user="${u}"]`)?.textContent.includes('disabled'), 'shown disabled', 5000, iu);
    await adminBtn(iu, 'Enable'); await sleep(300);
    await waitShown(H, u => !document.querySelector(`#adminUsers li[data-user="${u}"]`)?.textContent.includes('disabled'), 'enabled', 5000, iu);
    await adminBtn(iu, 'Make admin');
    await waitShown(H, u => [...document.querySelectorAll(`#adminUsers li[data-user="${u}"] button`)].some(b => b.textContent === 'Remove admin'), 'promoted', 5000, iu);
    check(true, 'the admin page enables and makes admins');
    await ctxI.close();
    // password change: this device stays in (new token), the old password stops working
    const oldTok = await H.evaluate(() => S.token);
    await H.type('#pwOld', 'password123'); await H.type('#pwNew', 'password456');
    await H.evaluate(() => [...document.querySelectorAll('#settings button')].find(b => b.textContent === 'Change password').click());
    await waitShown(H, t => S.token !== t && document.querySelector('#connDot').classList.contains('on'), 'new token, live', 15000, oldTok).catch(() => {});
    check(await H.evaluate(t => S.token !== t && !document.querySelector('#app').classList.contains('hidden') && document.querySelector('#connDot').classList.contains('on'), oldTok),
      'after a password change this device stays logged in and connected with its new token');
    const oldLogin = await fetch(BASE + '/api/login', { method: 'POST', body: JSON.stringify({ username: alice, password: 'password123' }) });
    check(oldLogin.status === 401, 'the old password no longer logs in');
    await H.keyboard.press('Escape');
    await ctxH.close(); await ctxK.close();
  }

  // --- Chinese strings for a zh-CN browser
  const ctxZ = await browser.createBrowserContext(), Z = await ctxZ.newPage();
  await Z.evaluateOnNewDocument(() => { Object.defineProperty(navigator, 'languages', { get: () => ['zh-CN', 'zh'] }); });
  await Z.goto(BASE + '/'); await Z.waitForSelector('#lu', { visible: true });
  check((await Z.$eval('#lsubmit', e => e.textContent)) === '登录' && (await Z.$eval('html', e => e.lang)) === 'zh-CN', 'a zh-CN browser gets the Chinese strings');
  await ctxZ.close();

  await require('./convs.js')({ browser, BASE, api, check, sleep, waitShown, register, openWith, sendText, axe, setDark, SHOTS, watch, sfx });   // issue 22
  // --- no token in any URL the pages used
  const withToken = allUrls.filter(u => /token=/.test(u));
  check(withToken.length === 0 && allUrls.some(u => u.includes('/media/')), `no URL the pages requested carries a token (${allUrls.length} requests, ${withToken.length} with token=)`);
  await ctxE.close(); await ctxF.close();

  // ===== rate limit 5/s (second node on PORT+1): bursts arrive once and in order; a 4008 close is survived =====
  const PORT4 = PORT + 1, BASE4 = `http://127.0.0.1:${PORT4}`;
  const node4 = await startNode(PORT4, path.join(WORK, 'data4'), { CHATNODE__LIMITS__MESSAGES_PER_SEC: '5', CHATNODE__MESSAGES__RECALL_WINDOW_SECS: '0' });
  extra.push(node4);
  const ctxC = await browser.createBrowserContext(), ctxD = await browser.createBrowserContext();
  const C = await ctxC.newPage(), D = await ctxD.newPage();
  await C.setViewport({ width: 1100, height: 720 }); await D.setViewport({ width: 1100, height: 720 });
  watch('C', C); watch('D', D);
  const cu = 'cara' + sfx, du = 'dan' + sfx;
  await register(C, cu, BASE4); await register(D, du, BASE4);
  for (const p of [C, D]) await p.evaluate(() => {
    window.__closes = [];
    const orig = window.onClosed;
    window.onClosed = (code, reason) => { window.__closes.push(code); orig(code, reason); };
  });
  await C.click('#newBtn'); await C.type('#nMembers', du); await C.click('#newForm button[type=submit]');
  await C.waitForSelector('#conv:not(.hidden)');
  const conv4 = await C.evaluate(() => S.open), cTok = await C.evaluate(() => S.token);
  await waitShown(D, () => document.querySelector('#convList li[data-conv]'), 'D sees the chat');
  await D.evaluate(() => document.querySelector('#convList li[data-conv]').click());
  await waitShown(D, c => S.open === c && S.loaded.has(c), 'D opens the chat', 10000, conv4);
  const N4 = 40;
  const t4 = Date.now();
  await C.evaluate(n => { for (let i = 0; i < n; i++) queueSend(S.open, 'text', 'slow ' + i); }, N4);
  await waitShown(C, () => S.outbox.size === 0 && !document.querySelector('#msgs .pending'), 'C burst acked', 90000);
  const took = Date.now() - t4;
  await waitShown(D, n => document.querySelectorAll('#msgs .msg').length >= n, 'D gets the burst', 20000, N4);
  await sleep(500);
  const want4 = Array.from({ length: N4 }, (_, i) => 'slow ' + i);
  const cList = await shown(C), dList = await shown(D);
  check(JSON.stringify(cList) === JSON.stringify(want4), `5/s node: C shows a burst of ${N4} once each, in order, acked (${took} ms)`);
  check(JSON.stringify(dList) === JSON.stringify(want4), '5/s node: D gets the burst once each, in order' + (JSON.stringify(dList) === JSON.stringify(want4) ? '' : ': ' + JSON.stringify(dList)));
  const st4 = await allMessages(conv4, cTok, BASE4);
  check(JSON.stringify(st4.map(m => m.body)) === JSON.stringify(want4) && new Set(st4.map(m => m.client_id)).size === N4, '5/s node: stored once each, in send order');
  await C.evaluate(() => [...document.querySelectorAll('#msgs .msg.mine .more-btn')].pop().click());
  const recallButtons = await C.$$eval('.menu .menuitem', l => l.filter(b => b.textContent === 'Recall').length);
  await C.keyboard.press('Escape');
  check(recallButtons === 0 && await C.evaluate(() => recallWindowMs) === 0, `node with a 0 s recall window: no Recall button (${recallButtons})`);
  const closes4 = await C.evaluate(() => window.__closes);
  check(closes4.length === 0, '5/s node: the client paces its sends, the burst causes no close (' + JSON.stringify(closes4) + ')');
  // provoke 4008: 40 raw frames on C's socket, past its pacing
  await C.evaluate(c => { for (let i = 0; i < 40; i++) ws.send(JSON.stringify({ type: 'typing', conv: c })); }, conv4);
  await waitShown(C, () => window.__closes.includes(4008), 'C closed with 4008');
  check(true, 'flooding closes C\'s socket with 4008: ' + await C.$eval('#connNote', e => e.textContent));
  await waitShown(C, () => document.querySelector('#connDot').classList.contains('on'), 'C reconnects after 4008', 40000);
  for (let i = 0; i < 3; i++) await sendText(C, 'after 4008 #' + i);
  await waitShown(C, () => S.outbox.size === 0 && !document.querySelector('#msgs .pending'), 'C sends after 4008', 30000);
  await waitShown(D, n => document.querySelectorAll('#msgs .msg').length >= n, 'D gets them', 20000, N4 + 3);
  await sleep(500);
  const want4b = [...want4, 'after 4008 #0', 'after 4008 #1', 'after 4008 #2'];
  check(JSON.stringify(await shown(C)) === JSON.stringify(want4b), 'after 4008 and reconnect: C sends work, nothing duplicated');
  check(JSON.stringify(await shown(D)) === JSON.stringify(want4b), 'after 4008: D sees each message once, in order');
  check((await allMessages(conv4, cTok, BASE4)).length === N4 + 3, 'after 4008: node stored each once');
  await ctxC.close(); await ctxD.close();
  extra = extra.filter(p => p !== node4); await killProc(node4);

  await require('./media.js')({ check, waitShown, sleep, api, register, openWith, sendText, startNode, killProc, extra, watch, axe, setDark, WORK, SHOTS, PORT, CHROMIUM });
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
  for (const p of extra) await killProc(p);
  process.exit(2);
});

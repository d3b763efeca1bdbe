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
  b.querySelectorAll('.meta, .sender').forEach(x => x.remove());
  return b.textContent + (e.classList.contains('pending') ? ' [pending]' : '');
}));
const waitShown = (page, pred, what, timeout = 10000, ...args) =>
  page.waitForFunction(pred, { timeout, polling: 100 }, ...args).catch(() => { throw new Error('timeout waiting: ' + what); });
// Class names of the rows in the open conversation whose text is exactly `text`.
const rowsWith = (page, text) => page.evaluate(t => [...document.querySelectorAll('#msgs .msg')].filter(e => {
  const b = e.querySelector('.bubble').cloneNode(true); b.querySelectorAll('.meta, .sender').forEach(x => x.remove());
  return b.textContent === t;
}).map(e => e.className), text);
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
function watch(name, page) {
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
  await page.type('#lu', name); await page.type('#lp', 'password123');
  await page.click('#regBtn');
  await page.waitForSelector('#app:not(.hidden)');
  await waitShown(page, () => document.querySelector('#connDot').classList.contains('on'), 'connected');
}
async function sendText(page, text) { await page.type('#text', text); await page.keyboard.press('Enter'); }

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  await startServer();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    // a page served by request interception (the "cached" page of the outbox check) has no address,
    // so Chromium's local network access checks would block its socket to 127.0.0.1
    args: ['--no-sandbox', '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets'] });
  const ctxA = await browser.createBrowserContext(), ctxB = await browser.createBrowserContext();
  const A = await ctxA.newPage(), B = await ctxB.newPage();
  await A.setViewport({ width: 1100, height: 720 });
  await B.setViewport({ width: 390, height: 780, isMobile: true, deviceScaleFactor: 1 });
  watch('A', A); watch('B', B);
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

  // ===== outbox survives a reload while the node is down (kill -9) =====
  const html = await (await fetch(BASE + '/')).text();
  await killServer();
  await waitShown(A, () => !document.querySelector('#connNote').classList.contains('hidden'), 'A notices disconnect (2)');
  await sendText(A, 'outbox across reload');
  await sleep(300);
  check((await shown(A)).includes('outbox across reload [pending]'), 'A shows the send as pending while the node is down');
  // the browser still has the page (as from its cache) while the node is down
  const serveCached = req => {
    if (req.url() === BASE + '/' && !server) req.respond({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    else req.continue();
  };
  await A.setRequestInterception(true); A.on('request', serveCached);
  await A.reload(); await A.waitForSelector('#app:not(.hidden)');
  await sleep(1000);
  const ob = await A.evaluate(() => [...S.outbox.values()].map(i => i.body));
  check(JSON.stringify(ob) === '["outbox across reload"]', 'after a reload with the node down the send is still in the outbox: ' + JSON.stringify(ob));
  await startServer();
  await waitShown(A, () => document.querySelector('#connDot').classList.contains('on') && S.outbox.size === 0
    && localStorage.getItem('chatnode.outbox.' + S.me) === '[]', 'A flushes its outbox after restart', 40000);
  A.off('request', serveCached); await A.setRequestInterception(false);
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
  const bSeqs = await B.$$eval('#msgs [data-seq]', l => l.map(e => +e.dataset.seq));
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
  const bSeqs2 = await B.$$eval('#msgs [data-seq]', l => l.map(e => +e.dataset.seq));
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
  await D.click('#convList li[data-conv]');
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
  const recallButtons = await C.$$eval('#msgs .msg.mine button.link', l => l.filter(b => b.textContent === 'Recall').length);
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

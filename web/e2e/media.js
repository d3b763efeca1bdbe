// E2E for the web client's media, search and push parts (issues 23, 24): its own node (PORT+2,
// push allowed to a mock push service on 127.0.0.1) and its own Chromium with a fake microphone.
const puppeteer = require('puppeteer-core');
const crypto = require('crypto');
const http = require('http');
const fs = require('fs');
const path = require('path');

// RFC 8291 aes128gcm decryption with the subscription's private key (node:crypto, not the node's code).
function decrypt(body, ecdh, authSecret) {
  const salt = body.subarray(0, 16), idlen = body[20], asPub = body.subarray(21, 21 + idlen), ct = body.subarray(21 + idlen);
  const secret = ecdh.computeSecret(asPub);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), asPub]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', secret, authSecret, info, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  let end = plain.length - 1; while (end > 0 && plain[end] === 0) end--;
  return JSON.parse(plain.subarray(0, end).toString());
}

module.exports = async function media(x) {
  const { check, waitShown, sleep, api, register, openWith, sendText, startNode, killProc, extra, watch, axe, setDark, WORK, SHOTS, PORT, CHROMIUM } = x;
  const port = PORT + 2, base = `http://127.0.0.1:${port}`;
  // the mock push service: records what the node POSTs
  const pushes = [];
  const mock = http.createServer((req, res) => {
    const chunks = []; req.on('data', c => chunks.push(c));
    req.on('end', () => { pushes.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) }); res.writeHead(201); res.end(); });
  });
  await new Promise(r => mock.listen(0, '127.0.0.1', r));
  const mockOrigin = `http://127.0.0.1:${mock.address().port}`;
  const node = await startNode(port, path.join(WORK, 'data-media'), { CHATNODE__PUSH__ALLOWED_ENDPOINTS: mockOrigin, CHATNODE__PUSH__INCLUDE_BODY: 'true' });
  extra.push(node);
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--user-data-dir=' + path.join(WORK, 'profile-media'),
      '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets'] });
  try {
    const ctxP = await browser.createBrowserContext(), ctxQ = await browser.createBrowserContext();
    await ctxP.overridePermissions(base, ['notifications', 'microphone']);
    const P = await ctxP.newPage(), Q = await ctxQ.newPage();
    await P.setViewport({ width: 1100, height: 760 });
    await Q.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
    watch('P', P); watch('Q', Q);
    const sfx = Date.now().toString(36).slice(-5), pu = 'pia' + sfx, qu = 'quin' + sfx;
    await register(P, pu, base); await register(Q, qu, base);
    const pTok = await P.evaluate(() => S.token), qTok = await Q.evaluate(() => S.token);
    const conv = (await api('POST', '/api/conversations', pTok, { kind: 'direct', members: [qu] }, base)).conv;
    await openWith(P, qu); await openWith(Q, pu);
    await waitShown(P, c => S.open === c && S.loaded.has(c), 'P open', 10000, conv);

    // --- the attach button's file picker
    const small = path.join(WORK, 'small.png');
    fs.writeFileSync(small, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAHUlEQVR4nGP8z0AaYCJR/aiGUQ2jGkY1jGqgnwYAVIwBH2ocW4wAAAAASUVORK5CYII=', 'base64'));
    await (await P.$('#file')).uploadFile(small);
    await waitShown(P, () => { const i = document.querySelector('#msgs .msg.mine:not(.pending) img'); return i && i.complete && i.naturalWidth > 0; }, 'picked image shown', 10000).catch(() => {});
    check(await P.evaluate(() => { const i = document.querySelector('#msgs .msg.mine:not(.pending) img'); return !!i && i.naturalWidth > 0; }), 'an image picked with the attach button is sent and shown');
    // --- paste an image (DataTransfer): progress, then a thumbnail in a box sized before it loads
    const cdp = await P.createCDPSession();
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    await Q.evaluate(() => {
      window.__rowH = [];
      new MutationObserver(() => { for (const i of document.querySelectorAll('#msgs img.thumb')) if (!i.__seen) { i.__seen = 1; window.__rowH.push([i.closest('.msg').getBoundingClientRect().height, i.naturalWidth > 0]); } })
        .observe(document.querySelector('#msgs'), { childList: true, subtree: true });
    });
    await P.evaluate(() => new Promise(res => {
      const c = document.createElement('canvas'); c.width = 900; c.height = 600;
      const g = c.getContext('2d'), d = g.createImageData(900, 600);
      for (let i = 0; i < d.data.length; i++) d.data[i] = (i % 4 === 3) ? 255 : Math.random() * 255;
      g.putImageData(d, 0, 0);
      c.toBlob(b => {
        window.__prog = [];
        new MutationObserver(() => { const p = document.querySelector('#uploads progress'); if (p) window.__prog.push(p.value); })
          .observe(document.body, { subtree: true, attributes: true, childList: true });
        const dt = new DataTransfer(); dt.items.add(new File([b], 'noise.png', { type: 'image/png' }));
        document.querySelector('#text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
        res();
      }, 'image/png');
    }));
    await waitShown(P, () => document.querySelector('#uploads progress'), 'upload progress shown', 10000).catch(() => {});
    const progShown = await P.evaluate(() => !!document.querySelector('#uploads progress'));
    await P.screenshot({ path: SHOTS + '/40-upload-progress.png' });
    await waitShown(P, () => !document.querySelector('#uploads') && S.outbox.size === 0, 'upload done and sent', 30000);
    const prog = await P.evaluate(() => window.__prog);
    check(progShown && prog.some(v => v > 0 && v < 1), `a pasted image shows upload progress (${prog.length} updates, e.g. ${prog.slice(0, 4).map(v => v.toFixed(2)).join(',')})`);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await waitShown(Q, () => { const i = [...document.querySelectorAll('#msgs img.thumb')].pop(); return i && i.complete && i.naturalWidth > 200; }, 'Q thumbnail', 15000);
    const th = await Q.evaluate(() => { const i = [...document.querySelectorAll('#msgs img.thumb')].pop(); return { w: i.naturalWidth, h: i.naturalHeight, src: i.src.slice(0, 5), rowNow: i.closest('.msg').getBoundingClientRect().height, first: window.__rowH[window.__rowH.length - 1] }; });
    check(th.w <= 320 && th.h <= 320 && th.src === 'blob:', `the other page shows the node's thumbnail (${th.w}x${th.h}, from a blob: URL)`);
    check(th.first && !th.first[1] && Math.abs(th.first[0] - th.rowNow) < 1, `its box was sized before the image loaded: nothing jumps (row ${th.first && th.first[0]} px before, ${th.rowNow} px after)`);
    const mineBox = await P.evaluate(() => { const i = [...document.querySelectorAll('#msgs .msg.mine img.thumb')].pop(); return i && [i.width, i.height]; });
    check(mineBox && mineBox[0] === 240 && mineBox[1] === 160, 'the sender reserves the image\'s own proportions (900x600 -> ' + JSON.stringify(mineBox) + ')');
    await Q.screenshot({ path: SHOTS + '/41-phone-thumbnail.png' });
    // lightbox by keyboard: Enter opens, Esc closes, focus returns
    await Q.evaluate(() => [...document.querySelectorAll('#msgs .imgbtn')].pop().focus()); await Q.keyboard.press('Enter');
    await waitShown(Q, () => document.querySelector('dialog.lightbox[open] img')?.naturalWidth > 0, 'lightbox open', 10000);
    const full = await Q.evaluate(() => document.querySelector('dialog.lightbox img').naturalWidth);
    check(full === 900, 'the lightbox shows the full image (' + full + ' px wide)');
    await axe(Q, 'the lightbox (phone, light)');
    await Q.keyboard.press('Escape');
    await waitShown(Q, () => !document.querySelector('dialog.lightbox[open]'), 'lightbox closed', 5000);
    check(await Q.evaluate(() => document.activeElement && document.activeElement.classList.contains('imgbtn')), 'Esc closes the lightbox and focus returns to the image');

    // --- drop a file: a chip with name and size that downloads (HTTP 200)
    await P.evaluate(() => {
      const dt = new DataTransfer(); dt.items.add(new File(['x'.repeat(2500)], 'notes ü.txt', { type: 'text/plain' }));
      const zone = document.querySelector('#conv');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await waitShown(Q, () => document.querySelector('#msgs .filechip .fsize')?.textContent, 'Q file chip', 15000);
    const chip = await Q.$eval('#msgs .filechip', e => [e.querySelector('.fname').textContent, e.querySelector('.fsize').textContent, e.getAttribute('aria-label')]);
    check(chip[0] === 'notes ü.txt' && chip[1] === '2.4 KB', 'a dropped file shows as a chip with its name and size on the other page: ' + JSON.stringify(chip));
    const stored = (await api('GET', `/api/conversations/${conv}/messages`, qTok, undefined, base)).messages.filter(m => m.kind === 'file');
    check(stored.length === 1, 'it is stored as a `file` message');
    const dl = path.join(WORK, 'downloads'); fs.mkdirSync(dl, { recursive: true });
    const qcdp = await Q.createCDPSession();
    await qcdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dl, browserContextId: ctxQ.id }).catch(() => qcdp.send('Page.setDownloadBehavior', { behavior: 'allow', downloadPath: dl }));
    const got = Q.waitForResponse(r => r.url() === base + stored[0].media_url && r.request().method() === 'GET', { timeout: 10000 });
    await Q.click('#msgs .filechip');
    const res = await got;
    for (let i = 0; i < 50 && !fs.readdirSync(dl).some(f => f.endsWith('.txt')); i++) await sleep(100);
    const files = fs.readdirSync(dl);
    check(res.status() === 200 && files.includes('notes ü.txt') && fs.statSync(path.join(dl, 'notes ü.txt')).size === 2500,
      `clicking the chip downloads it (HTTP ${res.status()}, saved as ${JSON.stringify(files)})`);
    await setDark(Q, true); await axe(Q, 'the chat with a thumbnail and a file chip (phone, dark)'); await Q.screenshot({ path: SHOTS + '/42-phone-media-dark.png' }); await setDark(Q, false);

    // --- voice: recorded with MediaRecorder (Chromium's fake microphone), played inline
    await P.click('#voiceBtn');
    await waitShown(P, () => document.querySelector('#voiceBtn').getAttribute('aria-pressed') === 'true', 'recording', 5000).catch(() => {});
    const recording = await P.evaluate(() => document.querySelector('#voiceBtn').getAttribute('aria-pressed') === 'true');
    await sleep(1500);
    await P.click('#voiceBtn');
    await waitShown(Q, () => { const a = document.querySelector('#msgs audio.voice'); return a && a.src.startsWith('blob:') && a.readyState >= 1; }, 'Q voice', 15000).catch(() => {});
    const voice = (await api('GET', `/api/conversations/${conv}/messages`, qTok, undefined, base)).messages.filter(m => m.kind === 'voice');
    const audio = await Q.evaluate(() => { const a = document.querySelector('#msgs audio.voice'); return a ? { ready: a.readyState, controls: a.controls, src: a.src.slice(0, 5) } : null; });
    check(recording && voice.length === 1 && audio && audio.controls && audio.src === 'blob:' && audio.ready >= 1,
      'a voice message recorded in the browser arrives as kind `voice` and plays inline with <audio controls>: ' + JSON.stringify(audio));

    // --- search: results grouped by conversation, the match marked, paging, open at the message
    const other = (await api('POST', '/api/conversations', pTok, { kind: 'group', name: 'Garden', members: [qu] }, base)).conv;
    const post = (c, body, i) => fetch(base + `/api/conversations/${c}/messages`, { method: 'POST', headers: { Authorization: 'Bearer ' + pTok, 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: 'm' + c + '-' + i, kind: 'text', body }) });
    // 36 hits: more than a page of 30; the recipe, newest of them, puts both conversations on page 1
    for (let i = 0; i < 35; i++) await post(other, 'Creme number ' + i, i);
    await post(conv, 'the creme brûlée recipe', 'r');
    for (let i = 0; i < 160; i++) await post(conv, 'filler ' + i, i);
    // the index makes a message searchable within a commit interval of its ack
    let target;
    for (let i = 0; i < 50 && !target; i++) {
      target = (await api('GET', `/api/search?q=recipe&conv=${conv}`, pTok, undefined, base)).hits[0];
      if (!target || (await api('GET', '/api/search?q=creme&limit=100', pTok, undefined, base)).hits.length < 36) { target = undefined; await sleep(100); }
    }
    await P.evaluate(() => localStorage.removeItem('chatnode.cache.' + S.me));   // a fresh device: nothing of the old history held
    await P.reload(); await P.waitForSelector('#app:not(.hidden)'); await waitShown(P, () => document.querySelector('#connDot').classList.contains('on'), 'P live');
    await P.type('#search', 'creme');
    await waitShown(P, () => document.querySelectorAll('#hits li.hit').length > 0, 'hits', 10000);
    const groups = await P.$$eval('#hits .hithead', l => l.map(e => e.textContent));
    const marks = await P.$$eval('#hits li.hit mark', l => l.map(e => e.textContent));
    check(groups.length === 2 && groups.includes('Garden'), 'search results are grouped by conversation: ' + JSON.stringify(groups));
    check(marks.includes('Creme') && marks.includes('creme'), 'the match is marked, case folded (' + JSON.stringify([...new Set(marks)]) + ')');
    const hasNext = await P.$('#moreHits');
    const before = await P.$$eval('#hits li.hit', l => l.length);
    if (hasNext) {
      await P.click('#moreHits');
      await waitShown(P, n => document.querySelectorAll('#hits li.hit').length > n, 'next page', 10000, before).catch(() => {});
      check((await P.$$eval('#hits li.hit', l => l.length)) === 36, 'More results pages with the `next` cursor (30, then 36 hits in all)');
    } else check(false, `More results: the node's search answered no \`next\` (${before} hits in one page)`);
    await axe(P, 'grouped search results (desktop, light)');
    await P.screenshot({ path: SHOTS + '/43-search-grouped.png' });
    await P.evaluate((c, s) => document.querySelector(`#hits li.hit[data-conv="${c}"][data-seq="${s}"] button`).click(), conv, target.seq);
    await waitShown(P, s => document.querySelector(`#msgs .flash[data-seq="${s}"]`), 'opened at the hit', 10000, target.seq);
    const around = await P.evaluate(c => { const k = [...S.msgs.get(c).keys()]; return { n: k.length, min: Math.min(...k), gap: !!document.querySelector('#msgs button.more') }; }, conv);
    check(around.min < target.seq && around.n < 120 && around.gap, `a hit opens its conversation at the message, history loaded around it (${around.n} held from seq ${around.min}, a "Load newer" at the gap)`);
    await P.screenshot({ path: SHOTS + '/44-opened-at-hit.png' });
    await P.$eval('#search', e => { e.value = ''; e.dispatchEvent(new Event('input')); });

    // --- push: the toggle asks permission on click only, subscribes, the node gets the subscription
    check(await P.evaluate(() => Notification.permission) === 'granted', 'notifications permission granted (overridePermissions)');
    await P.click('#settingsBtn');
    await P.waitForSelector('#notifyToggle');
    await axe(P, 'settings with the notifications switch (desktop, light)');
    await P.click('#notifyToggle');
    await waitShown(P, () => document.querySelector('#notifyMsg').dataset.push, 'push toggle settled', 20000).catch(() => {});
    const pushState = await P.$eval('#notifyMsg', e => [e.dataset.push, e.dataset.why || '', e.textContent]);
    let subs = (await api('GET', '/api/push/subscriptions', pTok, undefined, base)).subscriptions;
    console.log('push toggle with the real PushManager: ' + JSON.stringify(pushState));
    // headless Chromium has no push service: the browser side of subscribing is stood in for by a key pair
    // made here (same JSON a PushSubscription gives), so the node side and the delivery can be checked
    const ecdh = crypto.createECDH('prime256v1'); ecdh.generateKeys();
    const authSecret = crypto.randomBytes(16);
    if (pushState[0] !== 'on') {
      await P.$eval('#notifyToggle', e => e.click()); await sleep(300);   // off again
      const fake = { endpoint: mockOrigin + '/push/' + sfx, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') } };
      await P.evaluate(f => {
        PushManager.prototype.getSubscription = async () => window.__sub || null;
        PushManager.prototype.subscribe = async o => (window.__sub = { endpoint: f.endpoint, options: o, toJSON: () => f, unsubscribe: async () => { window.__sub = null; return true; } });
      }, fake);
      await P.$eval('#notifyMsg', e => { delete e.dataset.push; });
      await P.click('#notifyToggle');
      await waitShown(P, () => document.querySelector('#notifyMsg').dataset.push, 'push toggle settled (2)', 20000);
      subs = (await api('GET', '/api/push/subscriptions', pTok, undefined, base)).subscriptions;
    }
    check(subs.length === 1 && (pushState[0] === 'on' || subs[0].endpoint === mockOrigin + '/push/' + sfx),
      `the switch subscribes with the node's VAPID key and the node holds the subscription (${subs.length}; real PushManager: ${pushState[0]} ${pushState[1]})`);
    await P.keyboard.press('Escape');

    // hidden tab: a notification through the Notification API and the count in the title
    await openWith(P, 'Garden');
    await P.evaluate(() => { Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }); document.dispatchEvent(new Event('visibilitychange')); });
    const unread0 = (await api('GET', `/api/conversations/${conv}`, pTok, undefined, base)).unread;
    await Q.evaluate(c => { for (let i = 0; i < 3; i++) queueSend(c, 'text', 'ping hidden ' + i); }, conv);
    await waitShown(P, n => document.title.startsWith(`(${n}) `), 'title count', 10000, unread0 + 3).catch(() => {});
    const title = await P.title();
    check(title === `(${unread0 + 3}) chatnode`, 'while the page is hidden the tab title counts unread: ' + title);
    await waitShown(P, () => navigator.serviceWorker.getRegistration().then(r => r && r.getNotifications()).then(l => l && l.length > 0), 'notification', 10000).catch(() => {});
    const notes = await P.evaluate(() => navigator.serviceWorker.getRegistration().then(r => r.getNotifications()).then(l => l.map(n => [n.title, n.body, n.tag, n.icon.slice(0, 14)])));
    check(notes.length === 1 && notes[0][0] === qu && notes[0][1] === 'ping hidden 2' && notes[0][2] === 'conv-' + conv && notes[0][3] === 'data:image/png',
      'a hidden page shows one notification per conversation (tag), newest text, the conversation icon: ' + JSON.stringify(notes));

    // app closed: the node pushes to the subscription; that payload delivered to the service worker shows the notification
    await P.evaluate(() => navigator.serviceWorker.getRegistration().then(r => r.getNotifications()).then(l => l.forEach(n => n.close())));
    await P.close();
    await sleep(500);
    const n0 = pushes.length;
    await Q.evaluate(c => queueSend(c, 'text', 'are you asleep'), conv);
    for (let i = 0; i < 50 && pushes.length === n0; i++) await sleep(100);
    let payload = null;
    try { payload = pushes.length > n0 ? decrypt(pushes[pushes.length - 1].body, ecdh, authSecret) : null; } catch (e) { payload = { error: e.message }; }
    const h0 = (pushes[pushes.length - 1] || {}).headers || {};
    check(payload && payload.conv === conv && payload.title === qu && payload.body === 'are you asleep' && h0.topic === String(conv) && /^vapid t=/.test(h0.authorization || ''),
      'with the app closed the node pushes to the subscription (VAPID, Topic, aes128gcm decrypted here): ' + JSON.stringify(payload));
    const P2 = await ctxP.newPage(); watch('P2', P2);
    const regs = [];
    await P2.goto(base + '/'); await P2.waitForSelector('#app:not(.hidden)');
    const pc = await P2.createCDPSession();
    pc.on('ServiceWorker.workerRegistrationUpdated', e => regs.push(...e.registrations));
    await pc.send('ServiceWorker.enable'); await sleep(500);
    const reg = regs.find(r => r.scopeURL === base + '/');
    if (reg && payload && !payload.error) {
      await P2.evaluate(() => { window.ws && ws.close(); });
      await pc.send('ServiceWorker.deliverPushMessage', { origin: base, registrationId: reg.registrationId, data: JSON.stringify(payload) });
      await waitShown(P2, () => navigator.serviceWorker.getRegistration().then(r => r.getNotifications()).then(l => l.some(n => n.tag.startsWith('conv-'))), 'pushed notification', 10000).catch(() => {});
      const pn = await P2.evaluate(() => navigator.serviceWorker.getRegistration().then(r => r.getNotifications()).then(l => l.map(n => [n.title, n.body, n.tag, n.data]))).catch(() => []);
      check(pn.length === 1 && pn[0][0] === qu && pn[0][1] === 'are you asleep' && pn[0][2] === 'conv-' + conv,
        'the node\'s push, delivered to the service worker (DevTools deliverPushMessage), shows its notification: ' + JSON.stringify(pn));
    } else check(false, 'service worker registration found for deliverPushMessage (' + regs.length + ' registrations)');
    // a click on it: the notificationclick handler's body, run in the service worker (a system
    // notification cannot be clicked headless, and a synthetic event may not waitUntil)
    const swTarget = await browser.waitForTarget(t => t.type() === 'service_worker' && t.url().startsWith(base), { timeout: 5000 }).catch(() => null);
    const sw = swTarget && await swTarget.worker();
    const openBefore = await P2.evaluate(() => S.open);
    if (sw) {
      await sw.evaluate(async () => { const [n] = await self.registration.getNotifications(); const data = n && n.data; if (n) n.close(); await openFromNotification(data); });
      await waitShown(P2, c => S.open === c, 'opened by the notification click', 10000, conv).catch(() => {});
    }
    check(!!sw && openBefore !== conv && await P2.evaluate(c => S.open === c, conv),
      `clicking the notification (its handler, in the service worker) opens its conversation in the open window (before: ${openBefore}, sw: ${!!sw})`);
    // a notification click lands on #conv=ID when no window is open: that opens the conversation
    await P2.goto(base + '/#conv=' + conv); await P2.waitForSelector('#app:not(.hidden)');
    await waitShown(P2, c => S.open === c, 'opened from #conv=', 10000, conv).catch(() => {});
    check(await P2.evaluate(c => S.open === c && !location.hash, conv), 'opening /#conv=ID (what a notification click opens) shows that conversation');
    await ctxP.close(); await ctxQ.close();
  } finally {
    await browser.close();
    mock.close();
    extra.splice(extra.indexOf(node), 1); await killProc(node);
  }
};

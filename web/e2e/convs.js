// Issue 22 in the browser: replies, reactions, edits, recall, mentions and the group panel,
// between two users in two pages (a desktop driven by keyboard, a 375 px phone by taps),
// against the real node. test.js calls it with its helpers.
module.exports = async function convs(x) {
  const { browser, BASE, api, check, sleep, waitShown, register, openWith, sendText, axe, setDark, SHOTS, watch, sfx } = x;
  const ctxP = await browser.createBrowserContext(), ctxQ = await browser.createBrowserContext();
  const P = await ctxP.newPage(), Q = await ctxQ.newPage();
  await P.setViewport({ width: 1100, height: 760 });
  await Q.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  watch('P', P); watch('Q', Q);
  const pu = 'vera' + sfx, qu = 'walt' + sfx, xu = 'xena' + sfx;
  const xTok = (await api('POST', '/api/register', null, { username: xu, password: 'password123' })).token;
  await register(P, pu); await register(Q, qu);
  const pTok = await P.evaluate(() => S.token);
  const g = await api('POST', '/api/conversations', pTok, { kind: 'group', name: 'Convs', members: [qu, xu] });
  await openWith(P, 'Convs'); await openWith(Q, 'Convs');
  await waitShown(Q, c => S.open === c && S.loaded.has(c), 'Q opened Convs', 10000, g.conv);

  // a row of the open conversation by its text: [found, seq]
  const rowSeq = (page, text) => page.evaluate(t => {
    const r = [...document.querySelectorAll('#msgs .msg[data-seq]')].find(e => e.querySelector('.text')?.textContent === t);
    return r ? Number(r.dataset.seq) : 0;
  }, text);
  const waitRow = (page, text, what) => waitShown(page, t => [...document.querySelectorAll('#msgs .msg[data-seq] .text')].some(e => e.textContent === t), what, 10000, text);
  const inView = (page, seq) => page.evaluate(s => {
    const el = document.querySelector(`#msgs [data-seq="${s}"]`), box = document.querySelector('#msgs').getBoundingClientRect();
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom;
  }, seq);

  // --- reply: Q (phone) taps ⋯ on P's message, Reply, sends; the quote scrolls to the target
  await sendText(P, 'quote target');
  await waitRow(Q, 'quote target', 'Q sees the target');
  const tSeq = await rowSeq(Q, 'quote target');
  await Q.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"] .more-btn`).click(), tSeq);
  await Q.waitForSelector('.menu .menuitem');
  const menuBox = await Q.$eval('.menu', m => { const r = m.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom, innerWidth, innerHeight]; });
  check(menuBox[0] >= 0 && menuBox[1] <= menuBox[4] && menuBox[2] >= 0 && menuBox[3] <= menuBox[5], 'at 375 px the message menu fits on screen: ' + JSON.stringify(menuBox.map(Math.round)));
  const smallest = await Q.$$eval('.menu .menuitem', l => Math.min(...l.map(b => Math.min(b.getBoundingClientRect().width, b.getBoundingClientRect().height))));
  check(smallest >= 40, `at 375 px every menu item is a usable tap target (smallest side ${Math.round(smallest)} px)`);
  await axe(Q, 'the message menu (phone, light)');
  await setDark(Q, true); await axe(Q, 'the message menu (phone, dark)');
  await Q.screenshot({ path: SHOTS + '/40-phone-menu-dark.png' }); await setDark(Q, false);
  await Q.evaluate(() => [...document.querySelectorAll('.menu .menuitem')].find(b => b.textContent === 'Reply').click());
  await Q.waitForSelector('#composeBar:not(.hidden)');
  // 60 messages from xena over HTTP: the target leaves the newest page
  for (let i = 0; i < 60; i++) {
    const r = await fetch(`${BASE}/api/conversations/${g.conv}/messages`, { method: 'POST', headers: { Authorization: 'Bearer ' + xTok, 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: 'fill' + i, kind: 'text', body: 'filler ' + i }) });
    if (r.status !== 201) { check(false, 'HTTP send answers 201: ' + r.status); break; }
  }
  await waitRow(Q, 'filler 59', 'Q gets the fillers');
  await Q.type('#text', 'my reply'); await Q.click('#sendBtn');
  await waitShown(Q, () => S.outbox.size === 0, 'Q reply acked');
  const stored = (await api('GET', `/api/conversations/${g.conv}/messages?limit=1`, pTok)).messages[0];
  check(stored.body === 'my reply' && stored.reply_to === tSeq, 'the reply is stored with reply_to the target: ' + JSON.stringify([stored.body, stored.reply_to, tSeq]));
  // a fresh device: the cached history of the old page would hold the target already
  // (no render may write it back before the reload)
  await P.evaluate(() => { Storage.prototype.setItem = () => {}; localStorage.removeItem('chatnode.cache.' + S.me); });
  await P.reload(); await P.waitForSelector('#app:not(.hidden)');
  await waitShown(P, () => document.querySelector('#connDot').classList.contains('on'), 'P live');
  await openWith(P, 'Convs');
  await waitShown(P, () => [...document.querySelectorAll('#msgs .quote')].some(q => q.textContent.includes('quote target')), 'P sees the quote with its target text');
  check(!(await P.evaluate(s => S.msgs.get(S.open).has(s), tSeq)), 'after a reload the target is not in the loaded pages');
  await P.evaluate(() => [...document.querySelectorAll('#msgs .quote')].pop().click());
  await waitShown(P, s => document.querySelector(`#msgs [data-seq="${s}"].flash`), 'P scrolled to the target', 10000, tSeq);
  check(await inView(P, tSeq), 'clicking the quote loads older pages and scrolls to the target');

  // --- react: P by keyboard (focus a message, Enter opens the menu, Enter on 👍); Q sees the chip
  const rSeq = await rowSeq(P, 'my reply');
  await P.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"]`).focus(), rSeq);
  await P.keyboard.press('Enter');
  await P.waitForSelector('.menu .menuitem');
  check(await P.evaluate(() => document.activeElement.closest('.menu') !== null), 'Enter on a focused message opens its menu with focus inside');
  await P.keyboard.press('ArrowRight'); await P.keyboard.press('ArrowLeft');
  check(await P.evaluate(() => document.activeElement.textContent === '👍'), 'arrow keys move in the menu');
  await P.keyboard.press('Escape');
  check(await P.evaluate(() => !document.querySelector('.menu')), 'Esc closes the menu');
  await P.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"]`).focus(), rSeq);
  await P.keyboard.press('ContextMenu');
  await P.waitForSelector('.menu .menuitem');
  await P.keyboard.press('Enter');
  const chip = (page, seq) => page.evaluate(s => {
    const b = document.querySelector(`#msgs [data-seq="${s}"] .rchip`);
    return b ? [b.textContent.replace(/\s+/g, ' ').trim(), b.getAttribute('aria-pressed'), b.title] : null;
  }, seq);
  await waitShown(Q, s => document.querySelector(`#msgs [data-seq="${s}"] .rchip`), 'Q sees the reaction chip', 10000, rSeq);
  let qc = await chip(Q, rSeq);
  check(qc[0] === '👍 1' && qc[1] === 'false' && qc[2].includes(pu), 'the other page sees the chip with its count and who reacted: ' + JSON.stringify(qc));
  await Q.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"] .rchip`).click(), rSeq);
  await waitShown(P, s => document.querySelector(`#msgs [data-seq="${s}"] .rchip`)?.textContent.includes('2'), 'P sees 2', 10000, rSeq);
  qc = await chip(Q, rSeq);
  const pc = await chip(P, rSeq);
  check(qc[0] === '👍 2' && qc[1] === 'true' && pc[0] === '👍 2' && pc[1] === 'true', 'a second reaction: count 2 on both pages, each caller\'s highlighted: ' + JSON.stringify([qc, pc]));
  await P.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"] .rchip`).click(), rSeq);
  await waitShown(Q, s => document.querySelector(`#msgs [data-seq="${s}"] .rchip`)?.textContent.includes('1'), 'Q sees 1 again', 10000, rSeq);
  check((await chip(Q, rSeq))[2] === qu || (await chip(Q, rSeq))[2].includes(qu), 'toggling the own chip takes the reaction back');

  // --- edit: Up in the empty composer edits the last own message; the other page shows "edited"
  await sendText(P, 'edit me');
  await waitRow(Q, 'edit me', 'Q sees edit me');
  const eSeq = await rowSeq(Q, 'edit me');
  await P.focus('#text'); await P.keyboard.press('ArrowUp');
  await P.waitForSelector('#composeBar:not(.hidden)');
  check(await P.$eval('#text', e => e.value) === 'edit me', 'Up in an empty composer starts editing the last own message');
  await P.$eval('#text', e => { e.value = ''; }); await P.type('#text', 'edited text'); await P.keyboard.press('Enter');
  await waitShown(Q, s => document.querySelector(`#msgs [data-seq="${s}"] .text`)?.textContent === 'edited text', 'Q sees the edit', 10000, eSeq);
  check(await Q.evaluate(s => !!document.querySelector(`#msgs [data-seq="${s}"] .edited`), eSeq), 'the other page shows the new text with an "edited" marker');
  check(await P.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"] .text`)?.textContent === 'edited text' && !!document.querySelector(`#msgs [data-seq="${s}"] .edited`), eSeq), 'the editor\'s page shows it edited too');
  check(await Q.evaluate(() => ![...document.querySelectorAll('#msgs .text')].some(e => e.textContent === 'edited text' && !e.closest('[data-seq]'))), 'the edit event itself is not shown as a message');

  // --- recall from the menu
  await P.evaluate(s => document.querySelector(`#msgs [data-seq="${s}"] .more-btn`).click(), eSeq);
  await P.evaluate(() => [...document.querySelectorAll('.menu .menuitem')].find(b => b.textContent === 'Recall').click());
  await P.waitForSelector('dialog[open] button[value=ok]'); await P.click('dialog[open] button[value=ok]');
  await waitShown(Q, s => document.querySelector(`#msgs [data-seq="${s}"] .recalled`), 'Q sees the recall', 10000, eSeq);
  check(true, 'recall from the menu: the other page shows "message recalled"');

  // --- mentions: autocomplete by keyboard on P; Q (on the list) gets an @ badge
  await Q.click('#backBtn');
  await P.focus('#text'); await P.type('#text', 'hi @wal');
  await P.waitForSelector('#mentionList:not(.hidden) li');
  const opts = await P.$$eval('#mentionList li', l => l.map(e => e.textContent));
  check(opts.length === 1 && opts[0].includes(qu), 'typing @wal lists the matching member: ' + JSON.stringify(opts));
  await P.keyboard.press('Enter');
  check(await P.$eval('#text', e => e.value) === `hi @${qu} `, 'Enter picks the member into the text');
  await P.type('#text', 'look'); await P.keyboard.press('Enter');
  await waitShown(Q, c => document.querySelector(`#convList li[data-conv="${c}"] .badge.at`), 'Q sees the @ badge', 10000, g.conv);
  check(true, 'an unread mention shows an @ badge in the list');
  const mstored = (await api('GET', `/api/conversations/${g.conv}/messages?limit=1`, pTok)).messages.pop();
  check(JSON.stringify(mstored.mentions) === JSON.stringify([qu]), 'the message is sent with mentions: ' + JSON.stringify(mstored.mentions));
  await openWith(Q, 'Convs');
  await waitShown(Q, () => document.querySelector('#msgs .mention.me'), 'Q sees the mention highlighted');
  check(await Q.$eval('#msgs .mention.me', e => e.textContent) === '@' + qu, 'the mention is highlighted in the text');
  await sleep(500);
  await Q.click('#backBtn');
  await waitShown(Q, c => !document.querySelector(`#convList li[data-conv="${c}"] .badge.at`), 'the @ badge goes once read', 10000, g.conv);
  check(true, 'reading the conversation clears the @ badge');
  await openWith(Q, 'Convs');

  // --- group panel: rename, make admin, remove a member, mute; buttons by role; readable errors
  const openPanel = async page => {
    if (await page.$eval('#members', e => e.classList.contains('hidden'))) await page.click('#membersBtn');
    await page.waitForSelector('#groupBtn'); await page.click('#groupBtn');
    await page.waitForSelector('#groupPanel[open] #gClose');
  };
  await openPanel(Q);
  check(await Q.evaluate(() => !document.querySelector('#gName') && !document.querySelector('#groupPanel [id^=gRemove]') && !document.querySelector('#groupPanel [id^=gAdmin]')),
    'a plain member sees no rename, remove or make-admin buttons');
  await Q.type('#gAdd', 'nosuchuser' + sfx); await Q.click('#gAddBtn');
  await waitShown(Q, () => document.querySelector('#gMsg').textContent.length > 0, 'Q sees an error');
  const qerr = await Q.$eval('#gMsg', e => e.textContent);
  check(!/[a-z]+_[a-z]+|^4\d\d/.test(qerr), 'a refused change is said readably: ' + qerr);
  await Q.click('#gMute');
  await waitShown(Q, () => document.querySelector('#gMute')?.getAttribute('aria-pressed') === 'true', 'Q muted');
  check((await api('GET', '/api/conversations/' + g.conv, await Q.evaluate(() => S.token))).muted === true, 'mute from the group panel is stored on the node');
  await axe(Q, 'the group panel (phone, light)');
  await setDark(Q, true); await axe(Q, 'the group panel (phone, dark)');
  await Q.screenshot({ path: SHOTS + '/41-phone-group-panel-dark.png' }); await setDark(Q, false);
  await Q.click('#gClose');

  await openPanel(P);
  await P.$eval('#gName', e => { e.value = ''; }); await P.type('#gName', 'Convs two'); await P.click('#gRename');
  await waitShown(Q, () => document.querySelector('#cTitle').textContent === 'Convs two', 'Q sees the new name');
  check(true, 'rename in the group panel: the other page shows the new name');
  await P.click('#gAdmin-' + qu);
  await waitShown(P, u => document.querySelector(`#groupPanel li[data-user="${u}"] .role`), 'P sees Q as admin', 10000, qu);
  await waitShown(Q, u => (S.convs.get(S.open).admins || []).includes(u), 'Q learns it is admin', 10000, qu);
  check(true, 'make admin: the member is shown as admin and the node says so');
  await P.click('#gRemove-' + xu);
  await P.waitForSelector('dialog[open] button[value=ok]'); await P.click('dialog[open] button[value=ok]');
  await waitShown(P, u => !document.querySelector(`#groupPanel li[data-user="${u}"]`), 'xena removed', 10000, xu);
  await waitShown(Q, u => !(S.convs.get(S.open).members || []).includes(u), 'Q sees xena gone', 10000, xu);
  check(true, 'remove member in the group panel: both pages see the new member list');
  await axe(P, 'the group panel (desktop, light)');
  await setDark(P, true); await axe(P, 'the group panel (desktop, dark)'); await setDark(P, false);
  await P.keyboard.press('Escape');
  await openPanel(Q);
  check(await Q.evaluate(() => !!document.querySelector('#gName') && !document.querySelector('#groupPanel [id^=gAdmin]')), 'an admin may rename but not change admins');
  await Q.click('#gClose');
  await ctxP.close(); await ctxQ.close();
};

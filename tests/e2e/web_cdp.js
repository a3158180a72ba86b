// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// Drives headless Chromium over the DevTools protocol for web_test.sh, with
// node's standard library only (node 18, Debian 12's, has no WebSocket:
// a minimal client is below).
//
//   node web_cdp.js CHROMIUM URL OUTDIR SITE
//
// Opens URL at 1280x800, waits for <body data-state="ready">, then the
// drill-down of SITE (#/site/SITE) and of that site's worst customer (and
// that customer's history over 24 h, when the aggregator keeps history),
// and the overview at phone size. Writes to OUTDIR:
//   overview.png site.png customer.png overview-phone.png   screenshots
//   overview.tsv site.tsv customer.tsv   every [data-value] element:
//       kind TAB name TAB half TAB q TAB value TAB text TAB level
//   buckets.tsv   the histogram's bars: name TAB half TAB slot TAB n
//   heat-sites.tsv history-site.tsv history-customer.tsv history-customer-24h.tsv
//       the history charts' points and the heatmaps' cells (see dumpHistory)
//   result.json   {errors: [...], sites: [...], customer: ID, ...}
// Console errors, uncaught exceptions and failed loads are collected in
// errors; the exit status is 0 when the page could be driven at all (the
// test judges the rest), 1 otherwise.
'use strict';

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const [chromium, url, outdir, site] = process.argv.slice(2);
if (!chromium || !url || !outdir || site === undefined) {
  console.error('usage: web_cdp.js CHROMIUM URL OUTDIR SITE');
  process.exit(2);
}

// the profile, and TMPDIR for what chromium leaves there (its singleton socket)
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-chromium-'));
fs.mkdirSync(path.join(profile, 'tmp'));
const flags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-sync', '--disable-component-update',
  '--disable-quic', '--disable-extensions', '--no-default-browser-check',
  '--password-store=basic', '--use-mock-keychain', '--hide-scrollbars',
  '--user-data-dir=' + path.join(profile, 'data'), '--remote-debugging-port=0', '--window-size=1280,800',
  'about:blank',
];
// its own process group, so that cleanup() takes its helpers down with it
const browser = spawn(chromium, flags, {
  stdio: ['ignore', 'ignore', 'pipe'], detached: true,
  env: Object.assign({}, process.env, { TMPDIR: path.join(profile, 'tmp') }),
});
let browserLog = '';

function cleanup() {
  try { process.kill(-browser.pid, 'SIGKILL'); } catch (e) { /* gone */ }
  try { fs.rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
const watchdog = setTimeout(() => fail('timed out after 90 s'), 90000);

function fail(msg) {
  console.error('web_cdp: ' + msg);
  if (browserLog) console.error(browserLog.split('\n').slice(-20).join('\n'));
  cleanup();
  process.exit(1);
}

function wsUrl() {
  return new Promise((resolve, reject) => {
    browser.stderr.on('data', (d) => {
      browserLog += d.toString();
      const m = browserLog.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    browser.on('exit', (code) => reject(new Error('chromium exited with ' + code)));
  });
}

// ---- a minimal WebSocket client (RFC 6455), enough for the DevTools socket ----

function wsFrame(op, payload) {
  const mask = crypto.randomBytes(4);
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 2 : n < 65536 ? 4 : 10);
  head[0] = 0x80 | op;
  if (n < 126) {
    head[1] = 0x80 | n;
  } else if (n < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// Resolves to { send(text), close(), onmessage: (text) => ... }.
function wsConnect(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const key = crypto.randomBytes(16).toString('base64');
    const chunks = [];
    let buf = Buffer.alloc(0);
    let open = false;
    let frags = [];
    const ws = {
      onmessage: null,
      send: (text) => sock.write(wsFrame(0x1, Buffer.from(text))),
      close: () => sock.end(),
    };
    sock.on('connect', () => sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\n` +
      `Host: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    sock.on('error', (e) => (open ? fail('DevTools socket: ' + e.message) : reject(e)));
    sock.on('data', (d) => {
      chunks.push(d);
      buf = Buffer.concat([buf, ...chunks.splice(0)]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, end).toString().split('\r\n')[0];
        if (!/^HTTP\/1\.1 101/.test(status)) {
          reject(new Error('DevTools socket handshake: ' + status));
          return;
        }
        buf = buf.subarray(end + 4);
        open = true;
        resolve(ws);
      }
      for (;;) {	// whole frames; the server's are not masked
        if (buf.length < 2) return;
        const fin = buf[0] & 0x80, op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 0x9) {
          sock.write(wsFrame(0xa, payload));
        } else if (op === 0x8) {
          sock.end();
        } else if (op === 0x0 || op === 0x1 || op === 0x2) {
          frags.push(Buffer.from(payload));
          if (fin) {
            const text = Buffer.concat(frags).toString();
            frags = [];
            if (ws.onmessage) ws.onmessage(text);
          }
        }
      }
    });
  });
}

// ---- a minimal CDP session ---------------------------------------------------

class Cdp {
  constructor(ws) {
    this.ws = ws;
    this.id = 0;
    this.pending = new Map();
    this.handlers = [];
    ws.onmessage = (text) => {
      const m = JSON.parse(text);
      if (m.id && this.pending.has(m.id)) {
        const { resolve, reject, method } = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) reject(new Error(method + ': ' + m.error.message));
        else resolve(m.result);
      } else if (m.method) {
        for (const h of this.handlers) h(m);
      }
    };
  }

  send(method, params, sessionId) {
    const id = ++this.id;
    const msg = { id, method, params: params || {} };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify(msg));
    });
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function main() {
  fs.mkdirSync(outdir, { recursive: true });
  const ws = await wsConnect(await wsUrl());
  const cdp = new Cdp(ws);
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  const send = (m, p) => cdp.send(m, p, sessionId);
  const errors = [];

  cdp.handlers.push((m) => {
    if (m.sessionId !== sessionId) return;
    const p = m.params;
    if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
      errors.push('console.' + p.type + ': ' + p.args.map((a) => a.value !== undefined ? a.value : a.description).join(' '));
    } else if (m.method === 'Runtime.exceptionThrown') {
      const d = p.exceptionDetails;
      errors.push('exception: ' + ((d.exception && d.exception.description) || d.text) + ' at ' + d.url + ':' + d.lineNumber);
    } else if (m.method === 'Log.entryAdded' && p.entry.level === 'error') {
      errors.push('log: ' + p.entry.text + (p.entry.url ? ' (' + p.entry.url + ')' : ''));
    } else if (m.method === 'Network.loadingFailed' && !p.canceled) {
      errors.push('load failed: ' + p.errorText + ' (' + p.requestId + ')');
    } else if (m.method === 'Network.responseReceived' && p.response.status >= 400) {
      errors.push('HTTP ' + p.response.status + ': ' + p.response.url);
    }
  });
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Network.enable');
  await send('Page.enable');

  const evaluate = async (expr) => {
    const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error('evaluate: ' + r.exceptionDetails.text + ': ' + expr);
    return r.result.value;
  };
  const waitFor = async (expr, what, ms) => {
    const end = Date.now() + (ms || 20000);
    while (Date.now() < end) {
      try {
        if (await evaluate(expr)) return;
      } catch (e) { /* a document on its way in */ }
      await sleep(100);
    }
    throw new Error('waiting for ' + what + ': timed out');
  };
  const shot = async (name) => {
    const r = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: false });
    fs.writeFileSync(path.join(outdir, name), Buffer.from(r.data, 'base64'));
  };
  const size = (w, h, mobile) => send('Emulation.setDeviceMetricsOverride',
    { width: w, height: h, deviceScaleFactor: 1, mobile: !!mobile });
  // every number on the page, as its data attributes say and as shown
  const dump = async (file) => {
    const rows = await evaluate(`[...document.querySelectorAll('[data-value]')]
      .filter((e) => e.tagName !== 'rect')
      .map((e) => [e.dataset.kind, e.dataset.name, e.dataset.half || '', e.dataset.q || '',
                   e.dataset.value, e.textContent.trim(), e.dataset.level || ''].join('\\t'))`);
    fs.writeFileSync(path.join(outdir, file), rows.join('\n') + '\n');
    return rows.length;
  };
  // the history charts and heatmaps in containers SEL: for each, its request and
  // answer's from / to (result.visuals[id]); into FILE every point and cell:
  //   id TAB kind TAB name TAB half TAB q TAB t TAB step TAB value TAB level
  const dumpHistory = async (sel, file) => {
    const got = await evaluate(`[...document.querySelectorAll(${JSON.stringify(sel)})].map((d) => ({
      id: d.id, query: d.dataset.query || '', from: d.dataset.from || '', to: d.dataset.to || '',
      rows_total: d.dataset.rowsTotal || '',
      rows: [...d.querySelectorAll('[data-kind="history"], [data-kind="heat"]')].map((e) =>
        [d.id, e.dataset.kind, e.dataset.name, e.dataset.half || '', e.dataset.q || '', e.dataset.t,
         e.dataset.step || '', e.dataset.value, e.dataset.level || ''].join('\t')),
      excluded: [...d.querySelectorAll('[data-kind="heat-row"][data-excluded="true"]')].map((e) => e.dataset.name),
    }))`);
    const rows = [];
    result.visuals = result.visuals || {};
    for (const g of got) {
      rows.push(...g.rows);
      result.visuals[file + ':' + g.id] = { id: g.id, file, query: g.query, from: g.from, to: g.to,
        rows_total: g.rows_total, points: g.rows.length, excluded: g.excluded };
    }
    fs.writeFileSync(path.join(outdir, file), rows.length ? rows.join('\n') + '\n' : '');
    return rows.length;
  };
  // history is drawn once its requests for the route, range and half are answered
  const historyDrawn = (what) => waitFor(`(document.body.dataset.history || '').includes(${JSON.stringify(what)})`,
    'the history of ' + what, 20000);

  // the page polls every 3 s: wait for a refresh after a change
  const nextRefresh = async () => {
    const t = await evaluate(`document.querySelector('#updated').dataset.time || ''`);
    await waitFor(`(document.querySelector('#updated').dataset.time || '') !== ${JSON.stringify(t)}`, 'a refresh', 10000);
  };

  const result = { errors };
  await size(1280, 800);
  await send('Page.navigate', { url });
  await waitFor(`document.body.dataset.state === 'ready'`, 'the overview');
  result.window = await evaluate(`document.body.dataset.window`);
  result.sites = await evaluate(`[...document.querySelectorAll('#sites tr[data-kind="site"]')].map((e) => e.dataset.name)`);
  result.stale = await evaluate(`[...document.querySelectorAll('#boxes tr.stale')].map((e) => e.dataset.name)`);
  result.badge = await evaluate(`document.querySelector('#health-badge').textContent`);
  result.overview = await dump('overview.tsv');
  // the chosen window and range stand out: the pressed button looks unlike the others
  result.pressed_distinct = await evaluate(`['#windows', '#ranges'].every((g) => {
    const on = document.querySelector(g + ' button.on'), off = document.querySelector(g + ' button:not(.on)');
    if (!on || !off) return false;
    const a = getComputedStyle(on), b = getComputedStyle(off);
    return a.backgroundColor !== b.backgroundColor && a.color !== b.color;
  })`);
  result.history_on = await evaluate(`!document.querySelector('#heat-panel').hidden`);
  if (result.history_on) {
    await historyDrawn('"overview"');
    await dumpHistory('#sites-heat', 'heat-sites.tsv');
  }
  await shot('overview.png');

  // a site's customers: click its link
  await evaluate(`document.querySelector('#sites tr[data-name=' + CSS.escape(${JSON.stringify(site)}) + '] a').click()`);
  await waitFor(`!document.querySelector('#site-panel').hidden && document.querySelectorAll('#customers tr[data-kind="customer"]').length > 0`, 'the site panel');
  await nextRefresh();
  result.site_title = await evaluate(`document.querySelector('#site-title').textContent`);
  result.customers = await evaluate(`[...document.querySelectorAll('#customers tr[data-kind="customer"]')].map((e) => e.dataset.name)`);
  result.site = await dump('site.tsv');
  result.site_excluded = await evaluate(`[...document.querySelectorAll('#customers tr[data-excluded="true"]')].map((e) => e.dataset.name)`);
  if (result.history_on) {
    await historyDrawn('"site"');
    await dumpHistory('#site-line-access, #site-line-internet, #customers-heat', 'history-site.tsv');
  }
  await shot('site.png');

  // its worst customer: click the first row
  result.customer = result.customers[0];
  await evaluate(`document.querySelector('#customers tr[data-kind="customer"] a').click()`);
  await waitFor(`!document.querySelector('#customer-panel').hidden && document.querySelectorAll('#hist-chart rect[data-kind="bucket"]').length > 0`, 'the customer panel');
  await nextRefresh();
  if (result.history_on) {
    await historyDrawn('"customer"');
    await dumpHistory('#line-access, #line-internet', 'history-customer.tsv');
  }
  result.customer_title = await evaluate(`document.querySelector('#customer-title').textContent`);
  result.customer_excluded = await evaluate(`!!document.querySelector('#customer-summary [data-excluded="true"]')`);
  result.customer_rows = await dump('customer.tsv');
  const bars = await evaluate(`[...document.querySelectorAll('#hist-chart rect[data-kind="bucket"]')]
    .map((e) => [e.dataset.name, e.dataset.half, e.dataset.slot, e.dataset.value].join('\\t'))`);
  fs.writeFileSync(path.join(outdir, 'buckets.tsv'), bars.join('\n') + '\n');
  result.lines = await evaluate(`[...document.querySelectorAll('#customer-panel .chart path[data-q]')].map((e) => e.dataset.half + ' ' + e.dataset.q)`);
  await shot('customer.png');
  if (result.history_on) {	// another range: asked and drawn again
    await evaluate(`document.querySelector('#ranges button[data-range="24h"]').click()`);
    await historyDrawn('"24h"');
    await dumpHistory('#line-access, #line-internet', 'history-customer-24h.tsv');
  }

  // a phone
  await size(390, 844, true);
  await send('Page.navigate', { url: url.replace(/#.*$/, '') });
  await waitFor(`document.body.dataset.state === 'ready'`, 'the overview on a phone');
  result.phone_overflow = await evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`);
  await shot('overview-phone.png');

  await sleep(300);	// late console messages
  fs.writeFileSync(path.join(outdir, 'result.json'), JSON.stringify(result, null, 1) + '\n');
  clearTimeout(watchdog);
  try { await cdp.send('Browser.close'); } catch (e) { /* closing */ }
  ws.close();
}

main().then(() => {
  cleanup();
  process.exit(0);
}, (e) => fail(e.message));

// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
// pingfold overview page: polls the aggregator's /api (docs/http.md) and
// draws the site tree, box health and the drill-down. Plain JS, no build.
//
// Every number shown carries its source in data attributes, so a test can
// read it back and compare it with the query API:
//   data-kind="fleet|site|customer|box|bucket" data-name="<entity>"
//   data-half="access|internet" data-q="p50_ms|p95_ms|p99_ms|count|..."
//   data-value="<the number as the API gave it>" ("" when there is none)
// <body data-state="ready"> once the first overview has been drawn, and
// data-window="<the window shown>".
'use strict';

const HALVES = ['access', 'internet'];
const QS = ['p50_ms', 'p95_ms', 'p99_ms'];
const POLL_MS = 3000;
const HISTORY_MS = 3600 * 1000;
const HISTORY_EVERY_MS = 5000;

const state = {
  config: { green_ms: 50, yellow_ms: 100, default_window: '5m' },
  window: localStorage.getItem('pf.window') || '5m',
  route: { kind: 'overview' },
  timer: null,
  lastHistory: 0,
  seq: 0,
  names: new Map(),	// customer id -> name, from /api/customers
};

// ---- helpers -----------------------------------------------------------

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

const SVGNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path) {
  const r = await fetch(path, { cache: 'no-store' });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(path + ': HTTP ' + r.status);
  }
  if (!r.ok) throw new Error(body && body.error ? body.error : path + ': HTTP ' + r.status);
  return body;
}

function query(args) {
  return api('api/query?q=' + encodeURIComponent(JSON.stringify(args)));
}

function fmtMs(v) {
  if (v === undefined || v === null) return '–';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

function fmtCount(v) {
  return Number(v).toLocaleString('en-US');
}

function level(v) {
  if (v === undefined || v === null) return 'none';
  if (v < state.config.green_ms) return 'green';
  if (v < state.config.yellow_ms) return 'yellow';
  return 'red';
}

function numCell(kind, name, half, q, v, text, extra) {
  const td = el('td', Object.assign({
    class: 'num', 'data-kind': kind, 'data-name': name, 'data-half': half, 'data-q': q,
    'data-value': v === undefined || v === null ? '' : String(v),
  }, extra || {}), text);
  return td;
}

// The four cells of a half: p50, p95, p99 (coloured), sample count.
function halfCells(tr, kind, name, half, h) {
  for (const q of QS) {
    const v = h ? h[q] : undefined;
    const td = numCell(kind, name, half, q, v, fmtMs(v),
      { 'data-level': level(v), 'data-label': half + ' ' + q.replace('_ms', '') });
    td.classList.add('lvl-' + level(v));
    if (half === 'internet' && q === 'p50_ms') td.classList.add('split');
    tr.appendChild(td);
  }
  const n = h ? h.count : 0;
  const td = numCell(kind, name, half, 'count', n, fmtCount(n), { 'data-label': half + ' samples' });
  td.classList.add('count');
  tr.appendChild(td);
}

function ago(s) {
  if (s < 1) return 'now';
  if (s < 90) return Math.round(s) + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}

// ---- routing: #/ , #/site/PATH , #/customer/ID ----------------------------

function parseRoute() {
  const h = location.hash.replace(/^#\/?/, '');
  const m = h.match(/^(site|customer)\/(.*)$/);
  if (m) return { kind: m[1], name: decodeURIComponent(m[2]) };
  return { kind: 'overview' };
}

function link(kind, name) {
  return '#/' + kind + '/' + encodeURIComponent(name);
}

// ---- overview --------------------------------------------------------------

function siteLabel(path) {
  const parts = path.split('/');
  return { depth: parts.length - 1, leaf: parts[parts.length - 1] };
}

function drawSites(ov) {
  const tbody = $('#sites tbody');
  const rows = [];
  const fleet = el('tr', { 'data-kind': 'fleet', 'data-name': '', class: 'fleet' });
  const fa = el('a', { href: link('site', '') }, 'Fleet');
  const fth = el('th', { class: 'name', scope: 'row' });
  fth.appendChild(fa);
  fleet.appendChild(fth);
  for (const half of HALVES) halfCells(fleet, 'fleet', '', half, ov.fleet.halves && ov.fleet.halves[half]);
  rows.push(fleet);

  for (const s of ov.sites) {
    const name = s.name;
    const tr = el('tr', { 'data-kind': 'site', 'data-name': name });
    const lab = siteLabel(name);
    const th = el('th', { class: 'name', scope: 'row', title: name });
    th.style.paddingLeft = (0.6 + lab.depth * 1.2) + 'em';
    const a = el('a', { href: link('site', name) }, lab.leaf);
    th.appendChild(a);
    tr.appendChild(th);
    if (state.route.kind === 'site' && state.route.name === name) tr.classList.add('selected');
    for (const half of HALVES) halfCells(tr, 'site', name, half, s.halves && s.halves[half]);
    rows.push(tr);
  }
  if (state.route.kind === 'site' && state.route.name === '') fleet.classList.add('selected');
  tbody.replaceChildren(...rows);
}

function drawBoxes(health) {
  const tbody = $('#boxes tbody');
  const boxes = (health && health.boxes) || [];
  const rows = [];
  let stale = 0;
  for (const b of boxes) {
    const tr = el('tr', { 'data-kind': 'box', 'data-name': b.box });
    if (b.stale) {
      tr.classList.add('stale');
      stale++;
    }
    const th = el('th', { class: 'name', scope: 'row' }, b.box);
    tr.appendChild(th);
    // the agent's hooks: missing, overtaken or not running now = blind
    const hs = b.stats || {};
    const blindNow = (hs.hook_missing || 0) + (hs.hook_not_first || 0) + (hs.hook_not_running || 0);
    const st = el('td', { 'data-kind': 'box', 'data-name': b.box, 'data-q': 'stale',
      'data-value': String(b.stale), 'data-blind': String(blindNow > 0),
      class: b.stale || blindNow ? 'state bad' : 'state good' },
    b.stale ? 'STALE' : blindNow ? 'BLIND' : 'ok');
    tr.appendChild(st);
    tr.appendChild(numCell('box', b.box, '', 'last_seen_s_ago', b.last_seen_s_ago, ago(b.last_seen_s_ago)));
    tr.appendChild(numCell('box', b.box, '', 'interval_s', b.interval_s, b.interval_s + ' s'));
    for (const q of ['deltas', 'dups', 'gaps', 'recovered', 'lost', 'samples']) {
      const td = numCell('box', b.box, '', q, b[q], fmtCount(b[q]));
      if ((q === 'lost' || q === 'dups') && b[q] > 0) td.classList.add('warn');
      tr.appendChild(td);
    }
    for (const q of ['hook_reattached', 'hook_blind_intervals']) {
      const td = numCell('box', b.box, '', q, hs[q] || 0, fmtCount(hs[q] || 0));
      if (q === 'hook_blind_intervals' && hs[q] > 0) td.classList.add('warn');
      tr.appendChild(td);
    }
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  const badge = $('#health-badge');
  badge.textContent = boxes.length + (boxes.length === 1 ? ' box' : ' boxes') +
    (stale ? ', ' + stale + ' stale' : ', all fresh');
  badge.className = 'badge ' + (stale ? 'bad' : 'good');
  badge.setAttribute('data-stale', String(stale));
}

// The overview's "worst" answer: ["top", "customer", "access", "p95", "10", W].
function drawWorst(top) {
  const rows = [];
  let rank = 0;
  for (const it of (top && top.items) || []) {
    const tr = el('tr', { 'data-kind': 'top', 'data-name': it.name, 'data-rank': String(++rank) });
    tr.appendChild(el('td', { class: 'num rank' }, String(rank)));
    const th = el('th', { class: 'name', scope: 'row' });
    const label = state.names.get(it.name);
    th.appendChild(el('a', { href: link('customer', it.name) }, label || it.name));
    if (label && label !== it.name) th.appendChild(el('small', {}, ' ' + it.name));
    tr.appendChild(th);
    const td = numCell('top', it.name, 'access', 'p95_ms', it.value_ms, fmtMs(it.value_ms), { 'data-level': level(it.value_ms) });
    td.classList.add('lvl-' + level(it.value_ms));
    tr.appendChild(td);
    tr.appendChild(numCell('top', it.name, 'access', 'count', it.count, fmtCount(it.count)));
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = el('tr');
    tr.appendChild(el('td', { colspan: '4', class: 'empty' }, 'no samples in this window'));
    rows.push(tr);
  }
  $('#worst tbody').replaceChildren(...rows);
}

// ---- a site's customers ------------------------------------------------------

function sortValue(c, key) {
  const [half, q] = key.split('.');
  const h = c.query && c.query.halves && c.query.halves[half];
  return h && h.count ? h[q] : -Infinity;
}

function countOf(c) {
  const h = c.query && c.query.halves;
  return h ? h.access.count + h.internet.count : 0;
}

function drawCustomers(sc) {
  const key = $('#sort').value;
  const list = sc.customers.slice().sort((a, b) =>
    (sortValue(b, key) - sortValue(a, key)) || (countOf(b) - countOf(a)) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows = [];
  let rank = 0;
  for (const c of list) {
    const tr = el('tr', { 'data-kind': 'customer', 'data-name': c.id, 'data-rank': String(++rank) });
    const th = el('th', { class: 'name', scope: 'row', title: c.site });
    const a = el('a', { href: link('customer', c.id) }, c.name || c.id);
    th.appendChild(a);
    if (c.name && c.name !== c.id) th.appendChild(el('small', {}, ' ' + c.id));
    tr.appendChild(th);
    for (const half of HALVES) {
      halfCells(tr, 'customer', c.id, half, c.query && c.query.halves && c.query.halves[half]);
    }
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = el('tr');
    tr.appendChild(el('td', { colspan: '9', class: 'empty' }, 'no customers in this site'));
    rows.push(tr);
  }
  $('#customers tbody').replaceChildren(...rows);
}

// ---- a customer ----------------------------------------------------------------

function drawSummary(id, ans) {
  const box = $('#customer-summary');
  const t = el('table', { class: 'grid small' });
  const head = el('tr');
  for (const s of ['', 'p50', 'p90', 'p95', 'p99', 'min', 'max', 'mean', 'samples']) head.appendChild(el('th', {}, s));
  t.appendChild(head);
  for (const half of HALVES) {
    const h = ans.halves[half];
    const tr = el('tr', { 'data-half': half });
    tr.appendChild(el('th', { scope: 'row' }, half));
    for (const q of ['p50_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'min_ms', 'max_ms', 'mean_ms']) {
      const td = numCell('customer', id, half, q, h[q], fmtMs(h[q]), { 'data-level': level(h[q]) });
      if (q !== 'min_ms' && q !== 'mean_ms') td.classList.add('lvl-' + level(h[q]));
      tr.appendChild(td);
    }
    tr.appendChild(numCell('customer', id, half, 'count', h.count, fmtCount(h.count)));
    t.appendChild(tr);
  }
  box.replaceChildren(t);
}

// le (seconds) as a short label: 1.2 ms, 35 ms, 2.1 s, 600 µs
function fmtLe(s) {
  if (s === null) return '∞';
  const ms = s * 1000;
  if (ms < 1) return Math.round(ms * 1000) + ' µs';
  if (ms < 10) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(1) + ' s';
}

function drawHistogram(id, ans) {
  const W = 760, H = 260, L = 48, R = 10, T = 12, B = 42;
  const div = $('#hist-chart');
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'histogram' });
  const bySlot = new Map();
  let lo = Infinity, hi = -Infinity, max = 0;
  for (const half of HALVES) {
    for (const [slot, le, n] of ans.halves[half].buckets) {
      const e = bySlot.get(slot) || { le, n: { access: 0, internet: 0 } };
      e.n[half] = n;
      bySlot.set(slot, e);
      lo = Math.min(lo, slot);
      hi = Math.max(hi, slot);
      max = Math.max(max, n);
    }
  }
  if (!bySlot.size) {
    s.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no samples in this window'));
    div.replaceChildren(s);
    return;
  }
  lo = Math.max(0, lo - 2);
  hi = hi + 2;
  const nslots = hi - lo + 1;
  const bw = (W - L - R) / nslots;
  const y = (n) => T + (H - T - B) * (1 - n / max);
  // y axis: 0, max/2, max
  for (const f of [0, 0.5, 1]) {
    const v = Math.round(max * f);
    s.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'gridline' }));
    s.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtCount(v)));
  }
  // thresholds as vertical lines where they fall
  for (let slot = lo; slot <= hi; slot++) {
    const up = Math.pow(2, (slot - 160) / 8) * 1000;
    const down = Math.pow(2, (slot - 161) / 8) * 1000;
    for (const [t, cls] of [[state.config.green_ms, 'thr-yellow'], [state.config.yellow_ms, 'thr-red']]) {
      if (t > down && t <= up) {
        const x = L + (slot - lo + (Math.log2(t / down) * 8)) * bw;
        s.appendChild(svg('line', { x1: x, x2: x, y1: T, y2: H - B, class: 'thr ' + cls }));
      }
    }
  }
  for (let slot = lo; slot <= hi; slot++) {
    const e = bySlot.get(slot);
    const x = L + (slot - lo) * bw;
    if (e) {
      HALVES.forEach((half, i) => {
        const n = e.n[half];
        if (!n) return;
        const r = svg('rect', {
          x: x + i * bw / 2 + 0.5, y: y(n), width: Math.max(bw / 2 - 1, 1), height: H - B - y(n),
          class: 'bar ' + half, 'data-kind': 'bucket', 'data-name': id, 'data-half': half,
          'data-slot': String(slot), 'data-value': String(n),
        });
        r.appendChild(svg('title', {}, `${half} ≤ ${fmtLe(e.le)}: ${fmtCount(n)}`));
        s.appendChild(r);
      });
    }
    // x labels every 4 slots (factor sqrt 2)
    if ((slot - 160) % 8 === 0 || (nslots <= 24 && (slot - 160) % 4 === 0)) {
      const le = slot >= 209 ? null : Math.pow(2, (slot - 160) / 8);
      s.appendChild(svg('line', { x1: x + bw, x2: x + bw, y1: H - B, y2: H - B + 4, class: 'axis' }));
      s.appendChild(svg('text', { x: x + bw, y: H - B + 16, 'text-anchor': 'middle', class: 'tick' }, fmtLe(le)));
    }
  }
  s.appendChild(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
  s.appendChild(svg('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'label' }, 'RTT (bucket upper bound, log scale)'));
  div.replaceChildren(s);
}

// History of one customer's 1m percentiles, kept in localStorage for an hour.
function historyKey(id) { return 'pf.hist.' + id; }

function loadHistory(id) {
  try {
    return JSON.parse(localStorage.getItem(historyKey(id))) || [];
  } catch (e) {
    return [];
  }
}

function addHistory(id, ans) {
  const now = Date.now();
  const h = loadHistory(id).filter((p) => now - p.t <= HISTORY_MS);
  const p = { t: now };
  for (const half of HALVES) {
    const x = ans.halves[half];
    p[half] = x.count ? [x.p50_ms, x.p95_ms, x.p99_ms] : null;
  }
  h.push(p);
  try {
    localStorage.setItem(historyKey(id), JSON.stringify(h));
  } catch (e) { /* full: the chart still gets this session's points */ }
  return h;
}

function drawLine(div, half, hist) {
  const W = 760, H = 200, L = 48, R = 10, T = 10, B = 28;
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': half + ' percentiles' });
  const now = Date.now();
  const t0 = now - HISTORY_MS;
  const pts = hist.filter((p) => p[half]);
  let max = state.config.yellow_ms * 1.2;
  for (const p of pts) max = Math.max(max, p[half][2]);
  const x = (t) => L + (W - L - R) * (t - t0) / HISTORY_MS;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const v of [0, state.config.green_ms, state.config.yellow_ms, max]) {
    s.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v),
      class: v === state.config.green_ms ? 'thr thr-yellow' : v === state.config.yellow_ms ? 'thr thr-red' : 'gridline' }));
    s.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtMs(v)));
  }
  for (let m = 0; m <= 60; m += 10) {
    const t = now - m * 60000;
    s.appendChild(svg('text', { x: x(t), y: H - 8, 'text-anchor': m ? 'middle' : 'end', class: 'tick' }, m ? '-' + m + ' min' : 'now'));
  }
  ['p50', 'p95', 'p99'].forEach((q, i) => {
    if (!pts.length) return;
    const d = pts.map((p, j) => (j ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p[half][i]).toFixed(1)).join(' ');
    s.appendChild(svg('path', { d, class: 'line ' + q, 'data-half': half, 'data-q': q + '_ms',
      'data-points': String(pts.length) }));
    if (pts.length < 90) {	// few points: mark them, a lone one has no line
      for (const p of pts) {
        s.appendChild(svg('circle', { cx: x(p.t).toFixed(1), cy: y(p[half][i]).toFixed(1), r: 2.5, class: 'dot ' + q }));
      }
    }
    const last = pts[pts.length - 1];
    s.appendChild(svg('text', { x: W - R - 2, y: y(last[half][i]) - 3, 'text-anchor': 'end', class: 'line-label ' + q }, q));
  });
  if (!pts.length) {
    s.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' },
      'collecting: one point every ' + HISTORY_EVERY_MS / 1000 + ' s while this page is open'));
  }
  div.replaceChildren(s);
}

// ---- the loop ----------------------------------------------------------------

function showError(msg) {
  const b = $('#error');
  if (msg) {
    b.textContent = msg;
    b.hidden = false;
  } else {
    b.hidden = true;
  }
}

function showPanels() {
  const r = state.route;
  $('#site-panel').hidden = r.kind !== 'site';
  $('#customer-panel').hidden = r.kind !== 'customer';
  if (r.kind === 'site') $('#site-title').textContent = r.name ? 'Customers of ' + r.name : 'All customers';
}

async function refresh() {
  const seq = ++state.seq;
  const w = state.window;
  const r = state.route;
  try {
    if (!state.namesAt || Date.now() - state.namesAt > 60000) await loadNames();
    const jobs = [api('api/overview?w=' + encodeURIComponent(w))];
    if (r.kind === 'site') {
      jobs.push(api('api/site_customers?site=' + encodeURIComponent(r.name) + '&w=' + encodeURIComponent(w)));
    } else if (r.kind === 'customer') {
      jobs.push(query(['customer', r.name, w]));
      const due = Date.now() - state.lastHistory >= HISTORY_EVERY_MS - 200;
      jobs.push(due ? query(['customer', r.name, '1m']) : Promise.resolve(null));
    }
    const [ov, x, y] = await Promise.all(jobs);
    if (seq !== state.seq) return;	// a newer refresh started meanwhile
    drawSites(ov);
    drawBoxes(ov.health);
    drawWorst(ov.worst);
    if (r.kind === 'site') drawCustomers(x);
    if (r.kind === 'customer') {
      drawSummary(r.name, x);
      drawHistogram(r.name, x);
      const hist = y ? addHistory(r.name, y) : loadHistory(r.name);
      if (y) state.lastHistory = Date.now();
      drawLine($('#line-access'), 'access', hist);
      drawLine($('#line-internet'), 'internet', hist);
    }
    document.body.setAttribute('data-window', ov.window);
    for (const e of document.querySelectorAll('.win')) e.textContent = ov.window;
    $('#updated').textContent = 'updated ' + new Date(ov.time_ms).toLocaleTimeString();
    $('#updated').setAttribute('data-time', String(ov.time_ms));
    showError(null);
    document.body.setAttribute('data-state', 'ready');
  } catch (e) {
    showError('cannot reach the aggregator: ' + e.message);
  }
}

function schedule(now) {
  clearTimeout(state.timer);
  const run = async () => {
    await refresh();
    state.timer = setTimeout(run, POLL_MS);
  };
  state.timer = setTimeout(run, now ? 0 : POLL_MS);
}

// Names for ids (the worst list and the customer title); refreshed every minute.
async function loadNames() {
  try {
    const all = await api('api/customers');
    state.names = new Map(all.customers.map((c) => [c.id, c.name]));
    state.sites = new Map(all.customers.map((c) => [c.id, c.site]));
    state.namesAt = Date.now();
  } catch (e) { /* ids stand in for names */ }
}

async function customerName(id) {
  await loadNames();
  const name = state.names.get(id), site = state.sites && state.sites.get(id);
  if (name !== undefined && state.route.kind === 'customer' && state.route.name === id) {
    const t = $('#customer-title');
    t.textContent = (name || id) + ' (' + id + ')';
    if (site) {
      t.appendChild(document.createTextNode(' — '));
      t.appendChild(el('a', { href: link('site', site), title: 'the customers of ' + site }, site));
    }
  }
}

function onRoute() {
  state.route = parseRoute();
  state.lastHistory = 0;
  showPanels();
  if (state.route.kind === 'customer') {
    $('#customer-title').textContent = 'Customer ' + state.route.name;
    customerName(state.route.name);
  }
  schedule(true);
}

function setWindow(w) {
  state.window = w;
  localStorage.setItem('pf.window', w);
  for (const b of document.querySelectorAll('#windows button')) {
    b.classList.toggle('on', b.dataset.window === w);
    b.setAttribute('aria-pressed', String(b.dataset.window === w));
  }
}

async function init() {
  try {
    state.config = Object.assign(state.config, await api('api/config'));
  } catch (e) {
    showError('cannot reach the aggregator: ' + e.message);
  }
  const params = new URLSearchParams(location.search);
  const windows = state.config.windows || ['10s', '1m', '5m', '15m', '1h'];
  if (windows.includes(params.get('w'))) state.window = params.get('w');
  if (!windows.includes(state.window)) state.window = state.config.default_window || '5m';
  setWindow(state.window);
  $('#legend').textContent = `green < ${state.config.green_ms} ms ≤ yellow < ${state.config.yellow_ms} ms ≤ red`;
  for (const b of document.querySelectorAll('#windows button')) {
    b.addEventListener('click', () => {
      setWindow(b.dataset.window);
      schedule(true);
    });
  }
  $('#sort').addEventListener('change', () => schedule(true));
  window.addEventListener('hashchange', onRoute);
  onRoute();
}

init();

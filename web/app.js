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
const HISTORY_EVERY_MS = 30000;
const HEAT_CUSTOMERS = 30;	// a site's heatmap: its 30 worst customers

const state = {
  config: { green_ms: 50, yellow_ms: 100, default_window: '5m' },
  window: localStorage.getItem('pf.window') || '5m',
  range: localStorage.getItem('pf.range') || '24h',
  heatHalf: 'access',
  route: { kind: 'overview' },
  timer: null,
  historyKey: '',
  historyAt: 0,
  seq: 0,
  names: new Map(),	// customer id -> name, from /api/customers
  excluded: new Set(),	// customer ids marked "excluded" (--exclude)
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
    const excluded = !!(c.query && c.query.excluded);
    const tr = el('tr', { 'data-kind': 'customer', 'data-name': c.id, 'data-rank': String(++rank),
      'data-excluded': String(excluded) });
    const th = el('th', { class: 'name', scope: 'row', title: c.site });
    const a = el('a', { href: link('customer', c.id) }, c.name || c.id);
    th.appendChild(a);
    if (c.name && c.name !== c.id) th.appendChild(el('small', {}, ' ' + c.id));
    if (excluded) {
      tr.classList.add('excluded');
      th.appendChild(el('span', { class: 'tag', title: 'expected high latency: left out of the site, ' +
        'box and fleet figures and the worst lists' }, 'excluded'));
    }
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
  if (ans.excluded) {
    box.prepend(el('p', { class: 'note excluded', 'data-excluded': 'true' },
      'Excluded (expected high latency): its own numbers only; left out of its site, its box, ' +
      'the fleet and the worst lists.'));
  }
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

// ---- history: charts and heatmaps from the history on disk -----------------
//
// The aggregator's ["history", ...] and ["heatmap", ...] answers
// (--history-dir). Each chart or heatmap container carries the request it
// drew (data-query) and the answer's from / to (data-from, data-to), so a
// test can ask the same; each point is <circle data-kind="history"
// data-name data-half data-q data-t data-value>, each heatmap cell
// <rect data-kind="heat" data-name data-t data-step data-value data-level>.

// a range: how far back, and the step of each kind of entity
const RANGES = {
  '1h': { minute: 60, customer: 300 },
  '24h': { minute: 900, customer: 900 },
  '7d': { minute: 7200, customer: 7200 },
  '30d': { minute: 28800, customer: 28800 },
};
const RANGE_S = { '1h': 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 };

function stepOf(kind) {
  return RANGES[state.range][kind === 'customer' ? 'customer' : 'minute'];
}

// a time label fit for the range: 14:05, or Nov 29 14:00
function fmtTime(t, span) {
  const d = new Date(t * 1000);
  const hm = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  if (span <= 86400) return hm;
  return d.toLocaleDateString('en-US', { month: 'short', day: 'numeric' }) + (span <= 2 * 86400 ? ' ' + hm : '');
}

function historyQuery(kind, name) {
  const q = ['history', kind];
  if (kind !== 'fleet') q.push(name);
  return q.concat([state.range, '0s', String(stepOf(kind))]);
}

function heatQuery(of, site) {
  const q = ['heatmap', of, site, state.range, '0s', String(stepOf(of === 'sites' ? 'site' : 'customer')),
    state.heatHalf, 'p95'];
  if (of === 'customers') q.push('worst=' + HEAT_CUSTOMERS);
  return q;
}

function noHistory(div, what) {
  const s = svg('svg', { viewBox: '0 0 760 80', role: 'img', 'aria-label': what });
  s.appendChild(svg('text', { x: 380, y: 45, 'text-anchor': 'middle', class: 'empty' },
    'no history: the aggregator runs without --history-dir'));
  div.replaceChildren(s);
}

function mark(div, req, ans) {
  div.setAttribute('data-query', JSON.stringify(req));
  div.setAttribute('data-from', String(ans.from));
  div.setAttribute('data-to', String(ans.to));
}

// p50 / p95 / p99 of one half of a history answer, a line per quantile
// (broken where a step has no point), a dot per point.
function drawHistory(div, kind, name, half, req, ans) {
  const W = 760, H = 200, L = 48, R = 10, T = 10, B = 28;
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': half + ' percentiles' });
  const span = ans.to - ans.from, step = ans.step_s;
  const pts = ans.points.filter((p) => p[half] && p[half].count);
  let max = state.config.yellow_ms * 1.2;
  for (const p of pts) max = Math.max(max, p[half].p99_ms);
  const x = (t) => L + (W - L - R) * Math.min(Math.max((t + step / 2 - ans.from) / span, 0), 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const v of [0, state.config.green_ms, state.config.yellow_ms, max]) {
    s.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v),
      class: v === state.config.green_ms ? 'thr thr-yellow' : v === state.config.yellow_ms ? 'thr thr-red' : 'gridline' }));
    s.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtMs(v)));
  }
  for (let i = 0; i <= 6; i++) {
    const t = ans.from + span * i / 6;
    s.appendChild(svg('text', { x: L + (W - L - R) * i / 6, y: H - 8,
      'text-anchor': i === 0 ? 'start' : i === 6 ? 'end' : 'middle', class: 'tick' }, fmtTime(t, span)));
  }
  ['p50', 'p95', 'p99'].forEach((q) => {
    const key = q + '_ms';
    let d = '', prev = null;
    for (const p of pts) {
      d += (prev !== null && p.t - prev <= step ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p[half][key]).toFixed(1) + ' ';
      prev = p.t;
    }
    if (!pts.length) return;
    s.appendChild(svg('path', { d: d.trim(), class: 'line ' + q, 'data-half': half, 'data-q': key,
      'data-points': String(pts.length) }));
    for (const p of pts) {
      const c = svg('circle', { cx: x(p.t).toFixed(1), cy: y(p[half][key]).toFixed(1), r: pts.length < 60 ? 2.5 : 1.5,
        class: 'dot ' + q, 'data-kind': 'history', 'data-name': name, 'data-half': half, 'data-q': key,
        'data-t': String(p.t), 'data-step': String(step), 'data-value': String(p[half][key]),
        'data-level': level(p[half][key]) });
      c.appendChild(svg('title', {}, `${fmtTime(p.t, 2 * 86400)}: ${q} ${fmtMs(p[half][key])} ms, ${fmtCount(p[half].count)} samples`));
      s.appendChild(c);
    }
    const last = pts[pts.length - 1];
    s.appendChild(svg('text', { x: W - R - 2, y: y(last[half][key]) - 3, 'text-anchor': 'end', class: 'line-label ' + q }, q));
  });
  if (!pts.length) {
    s.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' },
      'no ' + half + ' samples in the history of the last ' + state.range));
  }
  mark(div, req, ans);
  div.replaceChildren(s);
}

// Rows x time, each cell coloured by its value with the tables' thresholds.
// Rows may have their own step (customers are kept per five minutes).
function drawHeat(div, rowKind, req, ans) {
  const rows = ans.rows || [];
  const W = 1200, L = 200, R = 8, T = 6, RH = 16, B = 22;
  const H = T + Math.max(rows.length, 1) * RH + B;
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'heatmap' });
  const span = ans.to - ans.from, cw = W - L - R;
  const x = (t) => L + cw * Math.min(Math.max((t - ans.from) / span, 0), 1);
  rows.forEach((r, i) => {
    const yy = T + i * RH;
    const excluded = rowKind === 'customer' && state.excluded.has(r.name);
    const label = rowKind === 'customer' ? (state.names.get(r.name) || r.name) : r.name;
    const a = svg('a', { href: link(rowKind, r.name) });
    const txt = svg('text', { x: L - 6, y: yy + RH - 4, 'text-anchor': 'end',
      class: 'rowname' + (excluded ? ' excluded' : ''), 'data-kind': 'heat-row', 'data-name': r.name,
      'data-excluded': String(excluded) }, (excluded ? '⊘ ' : '') + (label.length > 30 ? '…' + label.slice(-29) : label));
    txt.appendChild(svg('title', {}, r.name + (excluded ? ' (excluded: expected high latency)' : '')));
    a.appendChild(txt);
    s.appendChild(a);
    r.values.forEach((v, k) => {
      const t = r.from + k * r.step_s;
      const x0 = x(t), x1 = x(t + r.step_s);
      if (x1 <= x0) return;
      const lv = v === null ? 'none' : level(v);
      const c = svg('rect', { x: x0.toFixed(2), y: yy + 1, width: (x1 - x0).toFixed(2), height: RH - 2,
        class: 'cell lvl-' + lv, 'data-kind': 'heat', 'data-name': r.name, 'data-t': String(t),
        'data-step': String(r.step_s), 'data-value': v === null ? '' : String(v), 'data-level': lv });
      c.appendChild(svg('title', {}, `${r.name} ${fmtTime(t, 2 * 86400)}: ` +
        (v === null ? 'no samples' : `${ans.half} p${Math.round(ans.quantile * 100)} ${fmtMs(v)} ms`)));
      s.appendChild(c);
    });
  });
  if (!rows.length) {
    s.appendChild(svg('text', { x: W / 2, y: T + RH - 2, 'text-anchor': 'middle', class: 'empty' },
      'nothing in the history of the last ' + state.range));
  }
  for (let i = 0; i <= 6; i++) {
    const t = ans.from + span * i / 6;
    s.appendChild(svg('text', { x: L + cw * i / 6, y: H - 6,
      'text-anchor': i === 0 ? 'start' : i === 6 ? 'end' : 'middle', class: 'tick' }, fmtTime(t, span)));
  }
  mark(div, req, ans);
  div.setAttribute('data-rows-total', String(ans.rows_total));
  div.replaceChildren(s);
}

// What the route shows from history: [div, request, draw(answer)] jobs.
function historyJobs() {
  const r = state.route, jobs = [];
  const charts = (prefix, kind, name) => {
    const req = historyQuery(kind, name);
    jobs.push([req, (ans) => {
      for (const half of HALVES) drawHistory($(prefix + half), kind, name, half, req, ans);
    }]);
  };
  const sreq = heatQuery('sites', '');
  jobs.push([sreq, (ans) => drawHeat($('#sites-heat'), 'site', sreq, ans)]);
  if (r.kind === 'site') {
    charts('#site-line-', r.name ? 'site' : 'fleet', r.name);
    const creq = heatQuery('customers', r.name);
    jobs.push([creq, (ans) => {
      drawHeat($('#customers-heat'), 'customer', creq, ans);
      $('#customers-heat-title').textContent = ans.rows_total > ans.rows.length ?
        `the ${ans.rows.length} worst of ${fmtCount(ans.rows_total)} by their highest ${ans.half} p95` :
        `${ans.half} p95 per column`;
    }]);
  } else if (r.kind === 'customer') {
    charts('#line-', 'customer', r.name);
  }
  return jobs;
}

// History changes once a minute: asked again every HISTORY_EVERY_MS, or at once
// when the route, the range or the half changes.
async function refreshHistory(force) {
  if (!state.config.history) {
    for (const id of ['#line-access', '#line-internet']) noHistory($(id), 'history');
    return;
  }
  const key = JSON.stringify([state.route, state.range, state.heatHalf]);
  if (!force && key === state.historyKey && Date.now() - state.historyAt < HISTORY_EVERY_MS) return;
  const jobs = historyJobs();
  const answers = await Promise.all(jobs.map(([req]) => query(req)));
  if (key !== JSON.stringify([state.route, state.range, state.heatHalf])) return;	// moved on meanwhile
  jobs.forEach(([, draw], i) => draw(answers[i]));
  state.historyKey = key;
  state.historyAt = Date.now();
  document.body.setAttribute('data-history', key);
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
    }
    const [ov, x] = await Promise.all(jobs);
    if (seq !== state.seq) return;	// a newer refresh started meanwhile
    drawSites(ov);
    drawBoxes(ov.health);
    drawWorst(ov.worst);
    if (r.kind === 'site') drawCustomers(x);
    if (r.kind === 'customer') {
      drawSummary(r.name, x);
      drawHistogram(r.name, x);
    }
    await refreshHistory(false);
    document.body.setAttribute('data-window', ov.window);
    for (const e of document.querySelectorAll('.win')) e.textContent = ov.window;
    for (const e of document.querySelectorAll('.range')) e.textContent = state.range;
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
    state.excluded = new Set(all.customers.filter((c) => c.excluded).map((c) => c.id));
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
  showPanels();
  if (state.route.kind === 'customer') {
    $('#customer-title').textContent = 'Customer ' + state.route.name;
    customerName(state.route.name);
  }
  schedule(true);
}

// The button of a group (#windows, #ranges) whose data-KEY is v, pressed.
function press(group, key, v) {
  for (const b of document.querySelectorAll(group + ' button')) {
    b.classList.toggle('on', b.dataset[key] === v);
    b.setAttribute('aria-pressed', String(b.dataset[key] === v));
  }
}

function setWindow(w) {
  state.window = w;
  localStorage.setItem('pf.window', w);
  press('#windows', 'window', w);
}

function setRange(r) {
  state.range = r;
  localStorage.setItem('pf.range', r);
  press('#ranges', 'range', r);
  for (const e of document.querySelectorAll('.range')) e.textContent = r;
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
  if (RANGE_S[params.get('r')]) state.range = params.get('r');
  if (!RANGE_S[state.range]) state.range = '24h';
  setRange(state.range);
  const hist = !!state.config.history;
  $('#ranges').hidden = !hist;
  $('#heat-panel').hidden = !hist;
  for (const e of document.querySelectorAll('#site-panel .history')) e.hidden = !hist;
  for (const b of document.querySelectorAll('#ranges button')) {
    b.addEventListener('click', () => {
      setRange(b.dataset.range);
      schedule(true);
    });
  }
  $('#heat-half').addEventListener('change', () => {
    state.heatHalf = $('#heat-half').value;
    schedule(true);
  });
  window.addEventListener('hashchange', onRoute);
  onRoute();
}

init();

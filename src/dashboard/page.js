'use strict';
// Dashboard page: polls ./stats and draws it; polls ./history for the capacity charts. Everything that came from miners or the upstream is
// put into the DOM with textContent / setAttribute only, never parsed as HTML.
(function () {
  var REFRESH_MS = 5000, TIMEOUT_MS = 3000, DASH = '\u2014';
  // History changes by the hour: a minute between loads is plenty. Charts for the largest machines.
  var HISTORY_MS = 60000, HISTORY_MACHINES = 12, HOUR_MS = 3600000;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var st = {
    data: null, skew: 0, lastOk: 0, failSince: 0, why: '',
    sort: { accounts: { key: 'capacity_tib', dir: -1 }, machines: { key: 'capacity_tib', dir: -1 } },
    open: { accounts: new Set(), machines: new Set() },
    range: '24h', hist: { docs: null, at: 0, seq: 0, key: '' }
  };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
  function str(v) { return typeof v === 'string' && v !== '' ? v : null; }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
  function setText(id, text, title) {
    var e = $(id);
    e.textContent = text === null || text === undefined ? DASH : text;
    if (title) e.title = title; else e.removeAttribute('title');
  }

  function fmtInt(v) { v = num(v); return v === null ? DASH : Math.round(v).toLocaleString('en-US'); }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  // Seconds as minutes:seconds (minutes may exceed 59).
  function fmtMinSec(v) {
    v = num(v);
    if (v === null || v < 0) return DASH;
    v = Math.round(v);
    return Math.floor(v / 60).toLocaleString('en-US') + ':' + pad2(v % 60);
  }
  // Capacity given in TiB, shown in binary units.
  function fmtCap(tib) {
    tib = num(tib);
    if (tib === null || tib < 0) return DASH;
    if (tib === 0) return '0 B';
    var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'], v = tib * 1073741824, i = 0;
    if (v < 1) return '< 1 KiB';
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2) + ' ' + units[i];
  }
  function fmtAge(ms) {
    ms = num(ms);
    if (ms === null) return DASH;
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min';
    return Math.floor(s / 86400) + ' d';
  }
  function since(ms) { ms = num(ms); return ms === null ? DASH : fmtAge(serverNow() - ms) + ' ago'; }
  function serverNow() { return Date.now() + st.skew; }
  function shortId(id) {
    id = str(id);
    if (id === null) return DASH;
    return id.length > 16 ? id.slice(0, 8) + '\u2026' + id.slice(-6) : id;
  }

  function renderHead(d) {
    $('sim').hidden = d.simulation !== true;
    $('mode').textContent = str(d.mode) || '';
    var up = num(d.uptime_secs);
    $('foot').textContent = 'pocx_aggregator ' + (str(d.version) || '') +
      (up === null ? '' : ' \u00b7 up ' + fmtAge(up * 1000));
  }

  function renderRound(d) {
    var r = obj(d.round);
    setText('r-height', num(r.height) === null ? 'waiting' : '#' + fmtInt(r.height));
    setText('r-bt', fmtInt(r.base_target));
    setText('r-net', fmtCap(r.network_capacity_tib));
    tickRound();
  }
  function tickRound() {
    var r = st.data ? obj(st.data.round) : {}, start = num(r.started_ms);
    setText('r-age', start === null ? DASH : fmtMinSec((serverNow() - start) / 1000));
  }

  function renderUpstream(d) {
    var u = obj(d.upstream), f = obj(u.forwards), reach = u.reachable;
    $('u-dot').className = 'dot' + (reach === true ? ' ok' : reach === false ? ' bad' : '');
    setText('u-reach', reach === true ? 'reachable' : reach === false ? 'unreachable' : DASH);
    setText('u-name', str(u.name), str(u.url));
    setText('u-lat', num(u.latency_ms) === null ? DASH : fmtInt(u.latency_ms) + ' ms');
    setText('u-queue', fmtInt(u.queue_depth) + ' / verify ' + fmtInt(u.verify_queue_depth));
    setText('u-acc', fmtInt(f.accepted));
    setText('u-rej', fmtInt(f.rejected), breakdown(f.rejected_by_code));
    setText('u-drop', fmtInt(f.dropped), breakdown(f.dropped_by_reason));
    setText('u-err', str(u.last_error) || 'none');
    renderEndpoints(arr(u.endpoints));
  }
  // With backups: each endpoint's state, the active one first named as such.
  function renderEndpoints(eps) {
    var many = eps.length > 1;
    $('u-eps-t').hidden = !many;
    $('u-eps').hidden = !many;
    if (!many) return;
    var parts = eps.map(function (e, i) {
      e = obj(e);
      var name = i === 0 ? 'primary' : 'backup ' + i;
      var state = e.reachable === true ? (num(e.latency_ms) === null ? 'up' : fmtInt(e.latency_ms) + ' ms') : 'down';
      if (e.same_chain === false) state += ', other chain';
      return (e.active === true ? '\u25b6 ' : '') + name + ': ' + state;
    });
    var titles = eps.map(function (e) { return str(obj(e).url) || ''; });
    setText('u-eps', parts.join(' \u00b7 '), titles.join('\n'));
  }
  function breakdown(m) {
    return Object.keys(obj(m)).map(function (k) { return k + ': ' + fmtInt(m[k]); }).join(', ');
  }

  function renderBest(d) {
    var b = obj(d.best);
    setText('b-poc', fmtMinSec(b.poc_time));
    setText('b-acc', shortId(b.account), str(b.account));
    setText('b-mach', str(b.machine));
    var raw = num(b.raw_quality);
    // Beyond 2^53 a JS number is no longer exact: say so instead of showing made-up digits.
    setText('b-raw', raw !== null && raw > Number.MAX_SAFE_INTEGER ? '\u2248 ' + raw.toExponential(3) : fmtInt(raw));
  }

  function renderFarm(d) {
    var t = obj(d.totals), s = obj(d.store);
    setText('f-cap', fmtCap(t.farm_capacity_tib));
    setText('f-acc', fmtInt(t.accounts));
    setText('f-mach', fmtInt(t.machines));
    setText('f-active', fmtInt(t.active_machines));
    setText('f-subs', fmtInt(t.submissions));
    setText('f-store', s.ok === true ? 'ok' : s.ok === false ? 'failing' : DASH, str(s.last_error));
  }

  // Round step for the y axis so that four grid lines carry readable minute:second labels.
  function axisStep(max) {
    var steps = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
    for (var i = 0; i < steps.length; i++) if (steps[i] * 4 >= max) return steps[i];
    return Math.ceil(max / 4 / 86400) * 86400;
  }

  function renderChart(d) {
    var host = $('chart'), rounds = arr(d.rounds).slice(0, 30).reverse();
    var pts = rounds.map(function (r) { return num(obj(r).best_poc_time); });
    var vals = pts.filter(function (v) { return v !== null; });
    if (!vals.length) { host.replaceChildren(el('div', 'empty', 'no rounds with a submission yet')); return; }
    // Drawn at the panel's pixel width so labels keep their size on a phone.
    var W = Math.max(280, Math.min(1000, host.clientWidth || 640)), H = 220, L = 48, R = 14, T = 12, B = 26, n = rounds.length;
    var top = axisStep(Math.max.apply(null, vals)) * 4;
    var s = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'best poc_time per round' });
    function x(i) { return n === 1 ? (L + W - R) / 2 : L + (W - L - R) * i / (n - 1); }
    function y(v) { return T + (H - T - B) * (1 - Math.min(v, top) / top); }
    for (var g = 0; g <= 4; g++) {
      var gy = y(top * g / 4);
      sv('line', { x1: L, x2: W - R, y1: gy, y2: gy, 'class': 'grid' }, s);
      sv('text', { x: L - 6, y: gy + 4, 'text-anchor': 'end', 'class': 'axis' }, s).textContent = fmtMinSec(top * g / 4);
    }
    var path = '', pen = false;
    pts.forEach(function (v, i) {
      if (v === null) { pen = false; return; }
      path += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
    });
    sv('path', { d: path, 'class': 'line' }, s);
    [0, Math.floor((n - 1) / 2), n - 1].forEach(function (i, k, all) {
      if (k > 0 && i === all[k - 1]) return;
      var t = sv('text', { x: x(i), y: H - 8, 'text-anchor': n === 1 ? 'middle' : k === 0 ? 'start' : k === 2 ? 'end' : 'middle', 'class': 'axis' }, s);
      t.textContent = num(obj(rounds[i]).height) === null ? '' : '#' + fmtInt(rounds[i].height);
    });
    rounds.forEach(function (r, i) {
      r = obj(r);
      var v = pts[i], acc = r.accepted === true;
      if (acc) sv('path', { d: 'M' + (x(i) - 4).toFixed(1) + ' ' + (H - B + 9) + 'l4 -6l4 6z', 'class': 'mark' }, s);
      if (v === null) return;
      var c = sv('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: acc ? 5 : 4, 'class': acc ? 'pt acc' : 'pt' }, s);
      sv('title', {}, c).textContent = '#' + fmtInt(r.height) + '  ' + fmtMinSec(v) + '  ' +
        shortId(r.best_account) + ' / ' + (str(r.best_machine) || DASH) + (acc ? '  (accepted upstream)' : '');
    });
    host.replaceChildren(s);
  }

  function renderBars(d) {
    var ms = arr(d.machines).map(obj).filter(function (m) { return num(m.capacity_tib) !== null; });
    ms.sort(function (a, b) { return b.capacity_tib - a.capacity_tib; });
    var host = $('bars'), shown = ms.slice(0, 20), max = shown.length ? shown[0].capacity_tib : 0;
    if (!shown.length) { host.replaceChildren(el('div', 'empty', 'no capacity estimates yet')); return; }
    var rows = shown.map(function (m) {
      var row = el('div', m.active === true ? 'bar' : 'bar off'), track = el('div', 'track'), fill = el('div', 'fill');
      var name = el('span', 'name', str(m.machine) || DASH);
      name.title = str(m.machine) || '';
      fill.style.width = (max > 0 ? Math.max(1, 100 * m.capacity_tib / max) : 0).toFixed(1) + '%';
      track.appendChild(fill);
      row.append(name, track, el('span', 'val', fmtCap(m.capacity_tib)));
      return row;
    });
    if (ms.length > shown.length) rows.push(el('div', 'muted', '+ ' + (ms.length - shown.length) + ' more machines'));
    host.replaceChildren.apply(host, rows);
  }

  var TABLES = {
    accounts: { id: 'account', kids: 'machines', other: 'machines', label: 'Account', kidLabel: 'Machines', fmtId: shortId },
    machines: { id: 'machine', kids: 'accounts', other: 'accounts', label: 'Machine', kidLabel: 'Accounts', fmtId: function (v) { return str(v) || DASH; } }
  };
  function columns(kind) {
    var t = TABLES[kind];
    return [
      { key: t.id, label: t.label },
      { key: 'kids', label: t.kidLabel, val: function (r) { return arr(r[t.kids]).length; }, fmt: fmtInt },
      { key: 'capacity_tib', label: 'Capacity', fmt: fmtCap },
      { key: 'rounds_24h', label: 'Rounds 24 h', fmt: fmtInt },
      { key: 'best_poc_time', label: 'Best this round', fmt: fmtMinSec },
      { key: 'last_seen_ms', label: 'Last seen', fmt: since },
      { key: 'active', label: 'Status', val: function (r) { return r.active === true ? 1 : r.active === false ? 0 : null; } }
    ];
  }
  function cellValue(c, r) {
    var v = c.val ? c.val(r) : r[c.key];
    return typeof v === 'string' ? v.toLowerCase() : num(v);
  }

  function buildHead(kind) {
    var tr = el('tr'), s = st.sort[kind];
    columns(kind).forEach(function (c) {
      var th = el('th', s.key === c.key ? 'sorted' : '', c.label + (s.key === c.key ? (s.dir < 0 ? ' \u25be' : ' \u25b4') : ''));
      th.setAttribute('data-key', c.key);
      th.addEventListener('click', function () {
        if (s.key === c.key) s.dir = -s.dir; else { s.key = c.key; s.dir = c.key === TABLES[kind].id ? 1 : -1; }
        buildHead(kind);
        if (st.data) renderTable(kind, st.data);
      });
      tr.appendChild(th);
    });
    $(kind).tHead.replaceChildren(tr);
  }

  function renderTable(kind, d) {
    var t = TABLES[kind], cols = columns(kind), s = st.sort[kind], body = $(kind).tBodies[0];
    var lookup = {};
    arr(d[t.other]).map(obj).forEach(function (o) { var k = str(o[TABLES[t.other].id]); if (k !== null) lookup[k] = o; });
    var col = cols.filter(function (c) { return c.key === s.key; })[0] || cols[0];
    var rows = arr(d[kind]).map(obj).slice();
    rows.sort(function (a, b) {
      var va = cellValue(col, a), vb = cellValue(col, b);
      if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
      return (va < vb ? -1 : va > vb ? 1 : 0) * s.dir;
    });
    if (!rows.length) {
      var none = el('td', 'empty', 'no ' + kind + ' yet');
      none.colSpan = cols.length;
      var only = el('tr');
      only.appendChild(none);
      body.replaceChildren(only);
      return;
    }
    var out = [];
    rows.forEach(function (r) {
      var key = str(r[t.id]) || '', isOpen = st.open[kind].has(key), tr = el('tr', 'row');
      cols.forEach(function (c, i) {
        var td = el('td');
        if (i === 0) {
          var name = el('span', 'name', t.fmtId(r[t.id]));
          name.title = key;
          td.append(el('span', 'exp', isOpen ? '\u25be' : '\u25b8'), name);
        } else if (c.key === 'active') {
          td.appendChild(el('span', r.active === true ? 'st on' : 'st off', r.active === true ? 'active' : r.active === false ? 'inactive' : DASH));
        } else {
          td.textContent = c.fmt(c.val ? c.val(r) : r[c.key]);
        }
        tr.appendChild(td);
      });
      tr.addEventListener('click', function () {
        if (st.open[kind].has(key)) st.open[kind].delete(key); else st.open[kind].add(key);
        if (st.data) renderTable(kind, st.data);
      });
      out.push(tr);
      if (isOpen) out.push(subRow(kind, r, lookup, cols.length));
    });
    body.replaceChildren.apply(body, out);
  }

  function subRow(kind, r, lookup, span) {
    var t = TABLES[kind], o = TABLES[t.other], tr = el('tr', 'sub'), td = el('td');
    td.colSpan = span;
    var kids = arr(r[t.kids]).filter(function (k) { return str(k) !== null; });
    if (!kids.length) td.appendChild(el('span', 'muted', 'no ' + t.kids + ' seen'));
    kids.forEach(function (k) {
      var info = lookup[k] || {}, chip = el('span', 'chip', o.fmtId(k));
      chip.title = k;
      chip.appendChild(el('span', 'muted', fmtCap(info.capacity_tib) + ' \u00b7 ' +
        (info.active === true ? 'active' : info.active === false ? 'inactive' : DASH)));
      td.appendChild(chip);
    });
    tr.appendChild(td);
    return tr;
  }

  // The banner above the cards: every firing alert, one line each; hidden while none fires.
  function renderAlerts(d) {
    var firing = arr(d.alerts).map(obj).filter(function (a) { return a.state === 'firing'; });
    var list = $('alerts-list');
    list.textContent = '';
    firing.forEach(function (a) {
      var li = el('li', null, str(a.message) || str(a.kind) || DASH);
      li.setAttribute('data-kind', str(a.kind) || '');
      li.appendChild(el('span', 'muted', ' \u00b7 ' + (str(a.kind) || '') + ' since ' + since(a.since_ms)));
      list.appendChild(li);
    });
    $('alerts-title').textContent = firing.length === 1 ? '1 ALERT' : firing.length + ' ALERTS';
    $('alerts').hidden = firing.length === 0;
  }

  // The capacity history: the farm's chart and one per machine (the largest first), each from
  // its own ./history answer, with the alert changes in the range marked as flagged lines.
  function historySubjects(d) {
    var ms = arr(d.machines).map(obj).filter(function (m) { return str(m.machine) !== null; });
    ms.sort(function (a, b) { return (num(b.capacity_tib) || 0) - (num(a.capacity_tib) || 0); });
    return ms.slice(0, HISTORY_MACHINES).map(function (m) { return m.machine; });
  }
  function fetchHistory(subject, kind, range) {
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    var url = 'history?subject=' + encodeURIComponent(subject) + '&kind=' + kind + '&range=' + range;
    return fetch(url, { cache: 'no-store', signal: ctl.signal, headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (doc) { clearTimeout(timer); return obj(doc); },
        function () { clearTimeout(timer); return null; });
  }
  function loadHistory() {
    if (!st.data) return;
    var range = st.range, seq = ++st.hist.seq, machines = historySubjects(st.data);
    st.hist.at = Date.now();
    st.hist.key = machines.join('\n');
    var wanted = [fetchHistory('farm', 'farm', range)].concat(machines.map(function (m) { return fetchHistory(m, 'machine', range); }));
    Promise.all(wanted).then(function (docs) {
      if (seq !== st.hist.seq) return; // a newer load (another range) took over
      st.hist.docs = { farm: docs[0], machines: machines.map(function (m, i) { return { name: m, doc: docs[i + 1] }; }) };
      renderHistory();
    });
  }
  function historyDue(d) {
    return !st.hist.at || Date.now() - st.hist.at >= HISTORY_MS || historySubjects(d).join('\n') !== st.hist.key;
  }
  function renderHistory() {
    var h = st.hist.docs;
    if (!h) return;
    drawHistory($('h-farm'), h.farm, 200);
    var plots = [], boxes = arr(h.machines).map(function (m) {
      var box = el('div', 'chart hbox'), title = el('h3', null, m.name), plot = el('div');
      box.setAttribute('data-subject', m.name);
      title.title = m.name;
      box.append(title, plot);
      plots.push({ host: plot, doc: m.doc });
      return box;
    });
    var host = $('h-machines');
    host.replaceChildren.apply(host, boxes);
    // Drawn once in place, at the width the grid gives them.
    plots.forEach(function (p) { drawHistory(p.host, p.doc, 130); });
  }
  function fmtWhen(ms, week) {
    var d = new Date(ms);
    return week ? (d.getMonth() + 1) + '/' + d.getDate() + ' ' + pad2(d.getHours()) + 'h' : pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }
  function drawHistory(host, doc, H) {
    if (!doc) { host.replaceChildren(el('div', 'empty', 'history not available')); return; }
    var week = doc.range === '7d', from = num(doc.from_ms), to = num(doc.to_ms);
    var pts = arr(doc.points).map(obj).filter(function (p) { return num(p.hour_ms) !== null && num(p.capacity_tib) !== null; });
    var marks = arr(doc.alerts).map(obj).filter(function (a) { return num(a.since_ms) !== null; });
    if (from === null || to === null || to <= from) { host.replaceChildren(el('div', 'empty', 'history not available')); return; }
    if (!pts.length && !marks.length) { host.replaceChildren(el('div', 'empty', 'no finished rounds in this range yet')); return; }
    var W = Math.max(240, Math.min(1000, host.clientWidth || 640)), L = W < 400 ? 56 : 64, R = 12, T = 10, B = 22;
    var max = pts.reduce(function (m, p) { return Math.max(m, p.capacity_tib); }, 0), top = max > 0 ? max * 1.15 : 1;
    var s = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'capacity per hour' });
    function x(ms) { return L + (W - L - R) * (Math.min(Math.max(ms, from), to) - from) / (to - from); }
    function y(v) { return T + (H - T - B) * (1 - v / top); }
    [0, 0.5, 1].forEach(function (f) {
      var gy = y(top * f);
      sv('line', { x1: L, x2: W - R, y1: gy, y2: gy, 'class': 'grid' }, s);
      sv('text', { x: L - 6, y: gy + 4, 'text-anchor': 'end', 'class': 'axis' }, s).textContent = fmtCap(top * f);
    });
    var ticks = W < 400 ? 2 : 4;
    for (var k = 0; k <= ticks; k++) {
      var t = from + (to - from) * k / ticks;
      sv('text', { x: x(t), y: H - 6, 'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle', 'class': 'axis' }, s).textContent = fmtWhen(t, week);
    }
    // One point per hour at its middle; a missing hour breaks the line.
    var path = '', last = null;
    pts.forEach(function (p) {
      var px = x(p.hour_ms + HOUR_MS / 2).toFixed(1), py = y(p.capacity_tib).toFixed(1);
      path += (last !== null && p.hour_ms - last <= HOUR_MS ? 'L' : 'M') + px + ' ' + py;
      last = p.hour_ms;
    });
    if (path) sv('path', { d: path, 'class': 'line' }, s);
    pts.forEach(function (p) {
      var c = sv('circle', { cx: x(p.hour_ms + HOUR_MS / 2).toFixed(1), cy: y(p.capacity_tib).toFixed(1), r: H > 150 ? 3 : 2.5, 'class': 'pt' }, s);
      sv('title', {}, c).textContent = fmtWhen(p.hour_ms, true) + '  ' + fmtCap(p.capacity_tib) + '  \u00b7 ' +
        fmtInt(p.rounds) + ' rounds \u00b7 ' + fmtInt(p.submissions) + ' submissions';
    });
    marks.forEach(function (a) {
      var cls = a.state === 'firing' ? ' fire' : ' res', ax = x(a.since_ms).toFixed(1);
      var g = sv('g', { 'class': 'alert-mark', 'data-kind': str(a.kind) || '' }, s);
      sv('line', { x1: ax, x2: ax, y1: T, y2: H - B, 'class': 'amark' + cls }, g);
      var flag = sv('path', { d: 'M' + ax + ' ' + T + 'l7 4l-7 4z', 'class': 'aflag' + cls }, g);
      sv('title', {}, flag).textContent = (str(a.kind) || '') + ' ' + (a.state === 'firing' ? 'fired' : 'resolved') + ' ' +
        fmtWhen(a.since_ms, true) + ': ' + (str(a.message) || DASH);
    });
    host.replaceChildren(s);
  }

  function render(d) {
    [renderHead, renderAlerts, renderRound, renderUpstream, renderBest, renderFarm, renderChart, renderBars,
      function (x) { renderTable('accounts', x); }, function (x) { renderTable('machines', x); }]
      .forEach(function (f) {
        try { f(d); } catch (e) { if (window.console) console.error(e); }
      });
  }

  function tick() {
    tickRound();
    var age = st.lastOk ? fmtAge(Date.now() - st.lastOk) + ' ago' : 'never';
    $('updated').textContent = st.lastOk ? 'updated ' + age : 'connecting\u2026';
    if (st.failSince) {
      $('stale-text').textContent = 'the aggregator is not answering (' + st.why + ') \u2014 ' +
        (st.lastOk ? 'figures below are from ' + age : 'no data yet');
    }
  }

  function setStale(why) {
    if (!st.failSince) st.failSince = Date.now();
    st.why = why;
    $('stale').hidden = false;
    document.body.classList.add('is-stale');
    tick();
  }
  function setFresh() {
    st.failSince = 0;
    $('stale').hidden = true;
    document.body.classList.remove('is-stale');
  }

  function refresh() {
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    fetch('stats', { cache: 'no-store', signal: ctl.signal, headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (d) {
        clearTimeout(timer);
        if (!d || typeof d !== 'object' || Array.isArray(d)) throw new Error('unexpected answer');
        st.data = d;
        st.lastOk = Date.now();
        if (num(d.now_ms) !== null) st.skew = d.now_ms - st.lastOk;
        setFresh();
        render(d);
        tick();
        if (historyDue(d)) loadHistory();
      })
      .catch(function (e) {
        clearTimeout(timer);
        var name = e && e.name, msg = String(e && e.message);
        setStale(name === 'AbortError' ? 'timed out' : name === 'SyntaxError' ? 'unreadable answer' :
          /^(HTTP|unexpected)/.test(msg) ? msg : 'no connection');
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (st.data) renderChart(st.data); renderHistory(); }, 150);
  });
  Array.prototype.forEach.call(document.querySelectorAll('#history .switch button'), function (b) {
    b.addEventListener('click', function () {
      st.range = b.getAttribute('data-range') === '7d' ? '7d' : '24h';
      Array.prototype.forEach.call(document.querySelectorAll('#history .switch button'), function (o) {
        o.className = o === b ? 'on' : '';
      });
      loadHistory();
    });
  });
  buildHead('accounts');
  buildHead('machines');
  setInterval(tick, 1000);
  refresh();
})();

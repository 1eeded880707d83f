/* stampede report, 4 of 4: the page — reads the JSON block and draws one run, two
   runs compared, or a sweep. After drawing, the body's data-rendered attribute holds
   the number of charts drawn; errors land in its data-errors (see the page head). */
(function (S) {
  "use strict";
  var C = S.C, fmtMs = S.fmtMs, fmtPct = S.fmtPct, fmtSec = S.fmtSec, hasData = S.hasData;
  var timeChart = S.timeChart, healthBand = S.healthBand, drawCurves = S.drawCurves;
  var box = S.box, make = S.make, axis = S.axis, shade = S.shade, vline = S.vline;

  var D;
  try {
    D = JSON.parse(document.getElementById("stampede-data").textContent);
  } catch (e) {
    S.fail("data", e);
    return;
  }

  function runRuns(run) { return [{ marks: run.marks }]; }

  function drawRun(run, curves) {
    var tc = document.getElementById("time-charts");
    var slo = run.slo;
    var runs = runRuns(run);
    // A connected population's first chart is its connected clients.
    if (run.held) S.drawHeld(tc, run, runs);
    healthBand(tc, run);

    var load = [
      { label: "planned first logins", values: run.planned, colour: C.muted, dash: [5, 4], width: 1.2 },
      { label: "first attempts", values: run.first, colour: C.c1 },
      { label: "retries", values: run.retries, colour: C.c2 },
      { label: "logins ok", values: run.ok, colour: C.c3, width: 2.2 },
      { label: "logins failed", values: run.failed, colour: C.c4 },
    ];
    if (hasData(run.relogins)) load.push({ label: "relogins", values: run.relogins, colour: C.c6 });
    // The clients the confirmation probe silenced give up at once, thousands in one
    // window: on the load's own axis they squashed the storm's retries into its bottom
    // fifth. They get the right axis; the clients' own give-ups stay on the left.
    var m = run.marks, inProbe = function (t) { return m.probe_from != null && t >= m.probe_from - 1e-9 && (m.probe_to == null || t < m.probe_to); };
    var own = run.gave_up.map(function (v, i) { return inProbe(run.t[i]) ? null : v; });
    var silenced = run.gave_up.map(function (v, i) { return inProbe(run.t[i]) ? v : null; });
    if (hasData(own)) load.push({ label: "gave up", values: own, colour: C.c5 });
    if (hasData(silenced)) load.push({ label: "silenced by the probe (right axis)", values: silenced, colour: C.c5, dash: [2, 2], right: true, points: true });
    timeChart(tc, { title: "Login load", sub: "per second: first attempts vs retries vs completed logins (retry amplification is the gap)", t: run.t, series: load, runs: runs, height: 250 });
    // An HTTP/2 run's connections: a drain's GOAWAY wave and the reconnects after it.
    if (run.h2) S.drawH2(tc, run, runs);

    timeChart(tc, {
      title: "Success rate", sub: "completed logins that succeeded, per window", t: run.t, fmt: fmtPct,
      series: [{ label: "success", values: run.success, colour: C.c3, width: 2 }],
      range: function (u, mn) {
        var lo = Math.min(mn == null ? 0 : mn, slo ? slo.success_pct : 100);
        return [Math.max(0, Math.floor(lo - Math.max(2, (100 - lo) * 0.1))), 100.5];
      },
      hlines: slo ? [{ y: slo.success_pct, colour: C.bad, text: "SLO " + slo.success_pct + " %" }] : [],
      runs: runs,
    });

    var pcts = function (p) {
      return [
        { label: "p50", values: p.p50, colour: C.c1 },
        { label: "p90", values: p.p90, colour: C.c6 },
        { label: "p99", values: p.p99, colour: C.c2, width: 2.2 },
        { label: "max", values: p.max, colour: C.c4, width: 1.2, dash: [3, 3] },
      ];
    };
    var sloLine = slo ? [{ y: slo.p99_ms, colour: C.bad, text: "SLO p99 " + fmtMs(slo.p99_ms) }] : [];
    timeChart(tc, { title: "Latency from the intended instant", sub: "what users felt (coordinated omission corrected), log scale", t: run.t, series: pcts(run.latency), log: true, fmt: fmtMs, hlines: sloLine, runs: runs, height: 240 });
    timeChart(tc, { title: "Service time", sub: "from the actual send, log scale; a gap to the chart above is time spent waiting to be sent", t: run.t, series: pcts(run.service), log: true, fmt: fmtMs, hlines: sloLine, runs: runs, height: 200 });

    if (run.outcomes.length) {
      timeChart(tc, { title: "Outcome classes", sub: "attempts per second by how they ended, stacked", t: run.t, series: S.stackedSeries(run.outcomes), runs: runs, height: 230 });
    }
    timeChart(tc, {
      title: "Clients locked out and attempts in flight", sub: "locked out: wanted to log in and were not logged in at the window's end; those who gave up stay so, apart from those still trying", t: run.t,
      series: [
        { label: "locked out", values: run.locked_out, colour: C.c4, width: 1.2, dash: [3, 3] },
        { label: "still trying", values: run.locked_out.map(function (n, i) { return n - run.locked_gave_up[i]; }), colour: C.c4, width: 2.2 },
        { label: "gave up", values: run.locked_gave_up, colour: C.c5, width: 1.6 },
        { label: "in flight (max)", values: run.in_flight, colour: C.c1 },
      ],
      runs: runs,
    });
    timeChart(tc, {
      title: "Load generator send lag", sub: "actual send − intended instant; if this grows, the generator, not the target, is behind", t: run.t, fmt: fmtMs,
      series: [
        { label: "p99", values: run.lag.p99, colour: C.c5 },
        { label: "max", values: run.lag.max, colour: C.c9, dash: [3, 3] },
      ],
      runs: runs, height: 160,
    });
    // One chart per metric name: its label sets are lines of it.
    metricGroups(run.target).forEach(function (g) {
      timeChart(tc, {
        title: "Target: " + g.name,
        sub: run.target_t.length > run.t.length
          ? "scraped from the target's metrics; past the end-of-run line, while the target drained"
          : "scraped from the target's metrics",
        t: run.target_t,
        shared: run.target_t.length === run.t.length,
        series: g.series.map(function (kv, i) {
          return { label: kv[0], values: kv[1], colour: [C.c6, C.c1, C.c5, C.c8, C.c7][i % 5], width: 2 };
        }),
        runs: runs, height: 160,
      });
    });

    drawCurves(curves, slo, function (l) { return !/^step /.test(l); }, "Login latency: baseline vs storm and after", "percentile plot; service time dashed");
    drawCurves(curves, slo, function (l) { return /^step /.test(l); }, "Per login step", "latency from each step's intended start, whole run");
  }


  /* The target's series grouped by metric name (`rate(x{a="b"}) /s` and `x{c="d"}` are
     charts `rate(x) /s` and `x`), in first-seen order. */
  function metricGroups(target) {
    var groups = [], at = {};
    target.forEach(function (kv) {
      var name = kv[0].replace(/\{[^}]*\}/, "");
      if (!(name in at)) { at[name] = groups.length; groups.push({ name: name, series: [] }); }
      groups[at[name]].series.push(kv);
    });
    return groups;
  }

  /* ---- two runs ---- */
  function align(t, run, values) {
    var at = {};
    run.t.forEach(function (v, i) { at[v.toFixed(3)] = i; });
    return t.map(function (v) { var i = at[v.toFixed(3)]; return i === undefined ? null : values[i]; });
  }
  /* A run's time axis and marks moved by -dt: dt = its trigger puts the trigger at 0. */
  function shifted(r, dt) {
    var m = r.marks, s = function (v) { return v == null ? v : v - dt; };
    var marks = Object.assign({}, m, {
      trigger: s(m.trigger), storm_end: s(m.storm_end), end: s(m.end), recovered: s(m.recovered),
      relapsed: s(m.relapsed), metastable_since: s(m.metastable_since),
      probe_from: s(m.probe_from), probe_to: s(m.probe_to), probe_healed: s(m.probe_healed),
      actions: (m.actions || []).map(function (a) { return Object.assign({}, a, { at: a.at - dt }); }),
    });
    return Object.assign({}, r, { t: r.t.map(function (v) { return v - dt; }), marks: marks });
  }
  function drawCompare(d) {
    var tc = document.getElementById("time-charts");
    var b = d.base, n = d.new;
    // Runs whose baselines differ in length are compared from their triggers: what
    // matters is the target's answer to the storm, not where the storm sat in the run.
    if (b.marks.trigger !== n.marks.trigger) {
      b = shifted(b, b.marks.trigger);
      n = shifted(n, n.marks.trigger);
      var hint = document.getElementById("time-hint");
      if (hint) hint.textContent = "Seconds from each run's trigger (their baselines differ in length: base "
        + fmtSec(d.base.marks.trigger) + ", new " + fmtSec(d.new.marks.trigger)
        + "). Base dashed, new solid; each run's storm end and recovery are marked.";
    }
    var seen = {}, t = [];
    b.t.concat(n.t).forEach(function (v) { var k = v.toFixed(3); if (!seen[k]) { seen[k] = 1; t.push(v); } });
    t.sort(function (x, y) { return x - y; });
    var same = b.marks.trigger === n.marks.trigger && b.marks.storm_end === n.marks.storm_end;
    var runs = [{ marks: b.marks, who: "base", dash: [6, 4], faint: true, shared: same }, { marks: n.marks, who: "new", plain: same }];
    /* One series per run: new in a palette colour (`key`, e.g. "c2"), solid; base in
       that colour's pale tint ("b2"), dashed: pairs read as one figure, the runs apart. */
    var both = function (label, pick, key, extra) {
      return [
        Object.assign({ label: "base " + label, values: align(t, b, pick(b)), colour: C["b" + key.slice(1)], dash: [6, 4], width: 1.6 }, extra || {}),
        Object.assign({ label: "new " + label, values: align(t, n, pick(n)), colour: C[key], width: 2.2 }, extra || {}),
      ];
    };
    var sum = function (r) { return r.first.map(function (v, i) { return v + r.retries[i]; }); };
    healthBand(tc, b, "base");
    healthBand(tc, n, "new");
    timeChart(tc, { title: "Login load", sub: "per second", t: t, runs: runs, height: 250,
      series: both("attempts", sum, "c2").concat(both("logins ok", function (r) { return r.ok; }, "c3")).concat(both("first attempts", function (r) { return r.first; }, "c1")) });
    var slo = n.slo;
    timeChart(tc, { title: "Success rate", t: t, runs: runs, fmt: fmtPct, series: both("success", function (r) { return r.success; }, "c3"),
      range: function (u, mn) { var lo = Math.min(mn == null ? 0 : mn, slo ? slo.success_pct : 100); return [Math.max(0, Math.floor(lo - 2)), 100.5]; },
      hlines: slo ? [{ y: slo.success_pct, colour: C.bad, text: "new SLO " + slo.success_pct + " %" }] : [] });
    timeChart(tc, { title: "Latency p99 from the intended instant", sub: "log scale", t: t, runs: runs, log: true, fmt: fmtMs, height: 240,
      series: both("p99", function (r) { return r.latency.p99; }, "c2").concat(both("p50", function (r) { return r.latency.p50; }, "c1")),
      hlines: slo ? [{ y: slo.p99_ms, colour: C.bad, text: "new SLO p99 " + fmtMs(slo.p99_ms) }] : [] });
    timeChart(tc, { title: "Clients locked out", t: t, runs: runs, series: both("locked out", function (r) { return r.locked_out; }, "c4") });
    n.target.forEach(function (kv, i) {
      var bs = b.target.filter(function (x) { return x[0] === kv[0]; })[0];
      var s = [{ label: "new " + kv[0], values: align(t, n, kv[1]), colour: C.c6, width: 2.2 }];
      if (bs) s.unshift({ label: "base " + kv[0], values: align(t, b, bs[1]), colour: C.b6, dash: [6, 4], width: 1.6 });
      timeChart(tc, { title: "Target: " + kv[0], t: t, runs: runs, series: s, height: 160 });
    });
    drawCurves(d.curves, slo, function () { return true; }, "Login latency, both runs", "base dashed");
  }

  /* ---- sweep ---- */
  function drawSweep(d) {
    var sc = document.getElementById("sweep-charts");
    var el = box(sc, "Recovery time against storm intensity", "median of the recovered runs, with their range; bars: share of runs that did not recover");
    var L = d.levels, x = L.map(function (l) { return l.intensity; });
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.4, 60] }) : undefined;
    var opts = {
      height: 340,
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false, range: function () {
          var lo = x[0], hi = x[x.length - 1], pad = x.length > 1 ? (hi - lo) / (x.length - 1) / 2 : 0.5;
          return [lo - pad, hi + pad];
        } },
        y: { range: function (u, mn, mx) { return [0, (mx || 1) * 1.15]; } },
        pct: { range: [0, 100] },
      },
      axes: [
        axis(Object.assign({ label: "storm intensity", labelSize: 22 },
          x.length <= 24 ? { splits: function () { return x; }, values: function (u, v) { return v.map(String); } } : {})),
        axis({ size: 64, values: function (u, v) { return v.map(fmtSec); }, label: "recovery time", labelSize: 22 }),
        axis({ scale: "pct", side: 1, size: 50, grid: { show: false }, values: function (u, v) { return v.map(function (p) { return p + "%"; }); } }),
      ],
      series: [
        { label: "intensity", value: function (u, v) { return v == null ? "–" : String(v); } },
        { label: "not recovered", scale: "pct", stroke: C.bad, fill: C.down, width: 1, paths: bars, points: { show: false }, value: function (u, v) { return fmtPct(v); } },
        { label: "fastest", stroke: C.c1, width: 1, dash: [3, 3], value: function (u, v) { return fmtSec(v); } },
        { label: "slowest", stroke: C.c1, width: 1, dash: [3, 3], value: function (u, v) { return fmtSec(v); } },
        { label: "median recovery", stroke: C.c1, width: 2.5, points: { show: true, size: 7 }, value: function (u, v) { return fmtSec(v); } },
      ],
      hooks: {
        drawClear: [function (u) {
          if (d.safe_up_to != null && x.length) { u.ctx.save(); shade(u, x[0], d.safe_up_to, "rgba(46, 160, 67, 0.10)"); u.ctx.restore(); }
        }],
        draw: [function (u) {
          vline(u, d.first_failure, C.warn, "first failure", [4, 3], 1);
          vline(u, d.cliff, C.bad, "cliff: most runs do not recover", [], 0);
        }],
      },
    };
    make(el, opts, [x, L.map(function (l) { return l.not_recovered_pct; }), L.map(function (l) { return l.min_s; }),
      L.map(function (l) { return l.max_s; }), L.map(function (l) { return l.median_s; })], false);
  }

  function draw() {
    S.readColours();
    // A run that could not start has no charts on its page: nothing was sent.
    if (D.kind === "run") { if (document.getElementById("time-charts")) drawRun(D.run, D.curves); }
    else if (D.kind === "compare") drawCompare(D);
    else if (D.kind === "sweep") { if (document.getElementById("sweep-charts")) drawSweep(D); }
  }

  function drawAll() {
    try { draw(); } catch (e) { S.fail("charts", e); }
    document.body.setAttribute("data-rendered", String(S.charts.length));
  }

  drawAll();

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      S.charts.forEach(function (c) { c.u.setSize({ width: Math.max(300, c.el.clientWidth), height: c.height }); });
    }, 100);
  });
  if (window.matchMedia) {
    var mq = window.matchMedia("(prefers-color-scheme: dark)");
    var redraw = function () { S.clear(); drawAll(); };
    if (mq.addEventListener) mq.addEventListener("change", redraw);
  }
})(window.stampede);

/* stampede report: draws the charts from the JSON block with uPlot.
   Time charts share one x axis (seconds from the start): drag to zoom all of them,
   double-click to zoom out. After drawing, the body's data-rendered attribute holds the number
   of charts drawn; errors land in its data-errors (see the page head). */
(function () {
  "use strict";
  var errors = window.__stampedeErrors || (window.__stampedeErrors = []);
  function fail(where, e) {
    errors.push(where + ": " + ((e && e.message) || e));
    document.body.setAttribute("data-errors", errors.join(" | "));
  }
  if (window.__pwned !== undefined) document.body.setAttribute("data-pwned", "1");

  var D;
  try {
    D = JSON.parse(document.getElementById("stampede-data").textContent);
  } catch (e) {
    fail("data", e);
    return;
  }

  var C = {};
  function readColours() {
    var s = getComputedStyle(document.documentElement);
    var v = function (n) { return s.getPropertyValue(n).trim(); };
    ["fg", "muted", "grid", "line", "storm", "down", "good", "warn", "bad", "healthy",
     "unhealthy", "unjudged", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]
      .forEach(function (n) { C[n] = v("--" + n); });
  }
  var PR = function () { return window.devicePixelRatio || 1; };

  /* ---- number formats ---- */
  function fmtNum(v) {
    if (v == null || isNaN(v)) return "–";
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return String(+v.toFixed(1));
    return String(+v.toFixed(2));
  }
  function fmtMs(v) {
    if (v == null || isNaN(v)) return "–";
    if (v >= 1000) return +(v / 1000).toFixed(v >= 10000 ? 1 : 2) + " s";
    if (v >= 10) return v.toFixed(0) + " ms";
    return +v.toFixed(2) + " ms";
  }
  function fmtPct(v) { return v == null ? "–" : +v.toFixed(2) + " %"; }
  function fmtSec(v) {
    if (v == null) return "–";
    if (Math.abs(v) < 60) return +v.toFixed(2) + "s";
    var sign = v < 0 ? "−" : "", a = Math.abs(v);
    var m = Math.floor(a / 60), s = +(a - m * 60).toFixed(1);
    return sign + m + "m" + (s ? " " + s + "s" : "");
  }
  function nines(x) {
    var q = 100 * (1 - Math.pow(10, -x));
    return +q.toFixed(Math.max(0, Math.round(x) - 2)) + "%";
  }

  /* ---- chart plumbing ---- */
  var charts = [];      // every uPlot instance: { u, el, height }
  var timeCharts = [];  // those sharing the time axis
  var syncing = false;

  function box(parent, title, sub) {
    var el = document.createElement("div");
    el.className = "chart";
    var h = document.createElement("h3");
    h.textContent = title;
    if (sub) {
      var s = document.createElement("span");
      s.className = "sub";
      s.textContent = " — " + sub;
      h.appendChild(s);
    }
    el.appendChild(h);
    parent.appendChild(el);
    return el;
  }

  function make(el, opts, data, shared) {
    opts.width = Math.max(300, el.clientWidth || 1000);
    var u = new uPlot(opts, data, el);
    charts.push({ u: u, el: el, height: opts.height });
    if (shared) timeCharts.push(u);
    return u;
  }

  function syncX(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    try {
      var mn = u.scales.x.min, mx = u.scales.x.max;
      timeCharts.forEach(function (o) {
        if (o !== u && (o.scales.x.min !== mn || o.scales.x.max !== mx)) o.setScale("x", { min: mn, max: mx });
      });
    } finally { syncing = false; }
  }

  function axis(o) {
    return Object.assign({
      stroke: C.muted,
      grid: { stroke: C.grid, width: 1 },
      ticks: { stroke: C.grid, width: 1 },
      font: "12px system-ui, sans-serif",
      labelFont: "12px system-ui, sans-serif",
    }, o);
  }
  function timeAxis(show) {
    return axis({
      show: show !== false,
      values: function (u, vals) { return vals.map(fmtSec); },
    });
  }

  /* ---- annotations: storm, down time, recovery ---- */
  function clampX(u, v) {
    var L = u.bbox.left, R = L + u.bbox.width;
    return Math.max(L, Math.min(R, u.valToPos(v, "x", true)));
  }
  function shade(u, a, b, fill) {
    if (a == null || b == null || !(b > a)) return;
    var x0 = clampX(u, a), x1 = clampX(u, b);
    if (x1 <= x0) return;
    u.ctx.fillStyle = fill;
    u.ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
  }
  function label(u, x, row, text, colour, right) {
    var ctx = u.ctx, pr = PR();
    ctx.font = 11 * pr + "px system-ui, sans-serif";
    ctx.fillStyle = colour;
    ctx.textAlign = right ? "right" : "left";
    ctx.fillText(text, x + (right ? -4 : 4) * pr, u.bbox.top + (17 + 13 * row) * pr);
  }
  function vline(u, at, colour, text, dash, row) {
    if (at == null) return;
    var x = u.valToPos(at, "x", true), pr = PR();
    if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
    var ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5 * pr;
    ctx.setLineDash((dash || []).map(function (d) { return d * pr; }));
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    if (text) {
      u.ctx.font = 11 * pr + "px system-ui, sans-serif";
      var right = x + u.ctx.measureText(text).width + 8 * pr > u.bbox.left + u.bbox.width;
      label(u, x, row || 0, text, colour, right);
    }
    ctx.restore();
  }
  function hline(u, y, colour, text, scale) {
    if (y == null) return;
    var sc = u.scales[scale || "y"];
    if (sc.min == null || y < sc.min || y > sc.max) return;
    var yy = u.valToPos(y, scale || "y", true), pr = PR(), ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5 * pr;
    ctx.setLineDash([6 * pr, 4 * pr]);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, yy);
    ctx.lineTo(u.bbox.left + u.bbox.width, yy);
    ctx.stroke();
    ctx.font = 11 * pr + "px system-ui, sans-serif";
    ctx.fillStyle = colour;
    ctx.textAlign = "right";
    ctx.fillText(text, u.bbox.left + u.bbox.width - 4 * pr, yy - 4 * pr);
    ctx.restore();
  }

  /* Marks of one run; `who` prefixes the labels when two runs share a chart. */
  /* The storm is a strip along the top, the down time a tint: they overlap. */
  function stormStrip(u, m, row) {
    if (!m || !(m.storm_end > m.trigger)) return;
    var x0 = clampX(u, m.trigger), x1 = clampX(u, m.storm_end), h = 5 * PR();
    if (x1 <= x0) return;
    u.ctx.fillStyle = C.warn;
    u.ctx.fillRect(x0, u.bbox.top + row * h, x1 - x0, h);
  }
  function shading(u, m, faint, row) {
    if (!m) return;
    stormStrip(u, m, row || 0);
    if (faint) return;
    if (m.recovered != null) shade(u, m.trigger, m.recovered, C.down);
    if (m.relapsed != null) shade(u, m.relapsed, m.end, C.down);
    if (m.recovered == null && m.down) shade(u, m.trigger, m.end, C.down);
  }
  /* Lines and labels of one run `r` ({ marks, who, dash, shared, plain }): `shared`,
     the other run has the same trigger and storm end and draws them, unprefixed
     (`plain`). */
  function lines(u, r) {
    var m = r.marks, who = r.who, dash = r.dash;
    if (!m) return;
    var p = who ? who + ": " : "", row = who === "base" ? 2 : 0;
    if (!r.shared) {
      vline(u, m.trigger, C.muted, (r.plain ? "" : p) + "trigger", dash || [], row);
      vline(u, m.storm_end, C.muted, (r.plain ? "" : p) + "storm ends", dash || [4, 3], row);
    }
    vline(u, m.recovered, C.good, p + "recovered", dash || [], row);
    vline(u, m.relapsed, C.bad, p + "relapsed", dash || [], row);
    vline(u, m.metastable_since, C.c5, p + "load back at baseline", dash || [2, 2], row + 1);
    (m.actions || []).forEach(function (a) {
      vline(u, a.at, C.warn, p + a.label, dash || [6, 2], row + 2);
    });
    if (m.recovered == null && m.down && u.valToPos(m.trigger, "x", true) < u.bbox.left + u.bbox.width - 120 * PR()) {
      label(u, clampX(u, m.end), row + 1, p + m.headline.toLowerCase() + " →", C.bad, true);
    }
  }
  function markHooks(runs, hlines) {
    return {
      drawClear: [function (u) {
        u.ctx.save();
        runs.forEach(function (r) { if (!r.shared) shading(u, r.marks, r.faint, r.who === "base" ? 1 : 0); });
        u.ctx.restore();
      }],
      draw: [function (u) {
        runs.forEach(function (r) { lines(u, r); });
        (hlines || []).forEach(function (h) { hline(u, h.y, h.colour, h.text, h.scale); });
      }],
      setScale: [syncX],
    };
  }

  function hasData(vals) {
    for (var i = 0; i < vals.length; i++) if (vals[i] != null && vals[i] > 0) return true;
    return false;
  }

  /* A chart on the shared time axis.
     spec: { title, sub, t, series: [{ label, values, colour, dash, width, fill, fmt, stepped, raw }],
             log, fmt, range, runs: [{ marks, who, dash, faint }], hlines, height, stepped } */
  function timeChart(parent, spec) {
    var el = box(parent, spec.title, spec.sub);
    var log = spec.log && spec.series.some(function (s) { return hasData(s.values); });
    var fmt = spec.fmt || fmtNum;
    var y = log
      ? { distr: 3, log: 10, range: function (u, mn, mx) {
          var lo = mn, hi = mx;
          (spec.hlines || []).forEach(function (h) { if (h.y > 0) { lo = lo == null ? h.y : Math.min(lo, h.y); hi = hi == null ? h.y : Math.max(hi, h.y); } });
          if (lo == null || hi == null || !(lo > 0)) return [0.1, 1000];
          return uPlot.rangeLog(lo, hi, 10, true);
        } }
      : { range: spec.range || function (u, mn, mx) {
          var hi = mx == null ? 1 : mx;
          (spec.hlines || []).forEach(function (h) { hi = Math.max(hi, h.y); });
          return [Math.min(0, mn == null ? 0 : mn), hi > 0 ? hi * 1.15 : 1];
        } };
    var stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    var series = [{ label: "time", value: function (u, v) { return fmtSec(v); } }];
    spec.series.forEach(function (s) {
      series.push({
        label: s.label,
        stroke: s.colour,
        width: s.width || 1.6,
        dash: s.dash,
        fill: s.fill,
        spanGaps: false,
        paths: s.stepped ? stepped : undefined,
        points: { show: false },
        value: function (u, v, si, i) {
          if (s.raw) return i == null ? "–" : (s.fmt || fmt)(s.raw[i]);
          return (s.fmt || fmt)(v);
        },
      });
    });
    var opts = {
      height: spec.height || 210,
      cursor: { sync: { key: "time" }, drag: { x: true, y: false } },
      scales: { x: { time: false }, y: y },
      axes: [timeAxis(), axis({ size: 64, values: function (u, vals) { return vals.map(fmt); } })],
      series: series,
      hooks: markHooks(spec.runs || [], spec.hlines),
    };
    return make(el, opts, [spec.t].concat(spec.series.map(function (s) { return s.values; })), true);
  }

  var HEALTH = ["not judged", "healthy", "unhealthy", "unjudged (too few logins)"];
  function healthBand(parent, run, who) {
    var el = box(parent, (who ? who + ": " : "") + "window health",
      "green healthy, red unhealthy against the SLO, grey too few completed logins to judge");
    var t = run.t, ws = run.window_s;
    var colour = function (h) { return [C.line, C.healthy, C.unhealthy, C.unjudged][h] || C.line; };
    var opts = {
      height: 74,
      cursor: { sync: { key: "time" }, drag: { x: true, y: false }, points: { show: false } },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [timeAxis(), axis({ show: false })],
      series: [
        { label: "time", value: function (u, v) { return fmtSec(v); } },
        {
          label: "health", stroke: "transparent", points: { show: false },
          value: function (u, v, si, i) {
            if (i == null) return "–";
            var r = run.health_reason[i];
            return HEALTH[run.health[i]] + (r ? " — " + r : "");
          },
        },
      ],
      hooks: {
        drawClear: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          for (var i = 0; i < t.length; i++) {
            var x0 = clampX(u, t[i]), x1 = clampX(u, t[i] + ws);
            if (x1 <= x0) continue;
            ctx.fillStyle = colour(run.health[i]);
            ctx.fillRect(x0, u.bbox.top, x1 - x0 + 0.5, u.bbox.height);
          }
          stormStrip(u, run.marks, 0);
          ctx.restore();
        }],
        draw: [function (u) {
          var m = run.marks;
          [m.trigger, m.storm_end, m.recovered, m.relapsed].forEach(function (at, i) {
            vline(u, at, i === 2 ? C.good : i === 3 ? C.bad : C.fg, null, i === 1 ? [4, 3] : [], 0);
          });
        }],
        setScale: [syncX],
      },
    };
    return make(el, opts, [t, t.map(function () { return 0.5; })], true);
  }

  function outcomeColour(k, i) {
    if (k === "ok") return C.c3;
    if (/retry_after/.test(k)) return C.c5;
    if (k === "timeout") return C.c2;
    if (/^http_5/.test(k)) return C.c4;
    if (/^http_4/.test(k)) return C.c8;
    if (/refused|reset|connect|tls/.test(k)) return C.c7;
    if (/throttled|unstarted/.test(k)) return C.c9;
    return [C.c1, C.c6, C.c8][i % 3];
  }

  /* The outcome classes stacked: drawn top-down, each filled to zero over the ones
     before, so the fills stack without bands; the legend shows each class's own rate. */
  function stackedSeries(outcomes) {
    var n = outcomes.length ? outcomes[0][1].length : 0, acc = [], out = [];
    for (var i = 0; i < n; i++) acc.push(0);
    outcomes.forEach(function (o, k) {
      acc = acc.map(function (a, i) { return a + (o[1][i] || 0); });
      out.push({ label: o[0], values: acc.slice(), raw: o[1], colour: outcomeColour(o[0], k), fill: outcomeColour(o[0], k), width: 1, stepped: true });
    });
    return out.reverse();
  }

  function runRuns(run) { return [{ marks: run.marks }]; }

  function drawRun(run, curves) {
    var tc = document.getElementById("time-charts");
    var slo = run.slo;
    var runs = runRuns(run);
    healthBand(tc, run);

    var load = [
      { label: "planned first logins", values: run.planned, colour: C.muted, dash: [5, 4], width: 1.2 },
      { label: "first attempts", values: run.first, colour: C.c1 },
      { label: "retries", values: run.retries, colour: C.c2 },
      { label: "logins ok", values: run.ok, colour: C.c3, width: 2.2 },
      { label: "logins failed", values: run.failed, colour: C.c4 },
    ];
    if (hasData(run.relogins)) load.push({ label: "relogins", values: run.relogins, colour: C.c6 });
    if (hasData(run.gave_up)) load.push({ label: "gave up", values: run.gave_up, colour: C.c5 });
    timeChart(tc, { title: "Login load", sub: "per second: first attempts vs retries vs completed logins (retry amplification is the gap)", t: run.t, series: load, runs: runs, height: 250 });

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
      timeChart(tc, { title: "Outcome classes", sub: "attempts per second by how they ended, stacked", t: run.t, series: stackedSeries(run.outcomes), runs: runs, height: 230 });
    }
    timeChart(tc, {
      title: "Clients locked out and attempts in flight", sub: "locked out: wanted to log in and were not logged in at the window's end", t: run.t,
      series: [
        { label: "locked out", values: run.locked_out, colour: C.c4, width: 2 },
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
    run.target.forEach(function (kv, i) {
      timeChart(tc, {
        title: "Target: " + kv[0], sub: "scraped from the target's metrics", t: run.t,
        series: [{ label: kv[0], values: kv[1], colour: [C.c6, C.c1, C.c5, C.c8, C.c7][i % 5], width: 2 }],
        runs: runs, height: 160,
      });
    });

    drawCurves(curves, slo, function (l) { return !/^step /.test(l); }, "Login latency: baseline vs storm and after", "percentile plot; service time dashed");
    drawCurves(curves, slo, function (l) { return /^step /.test(l); }, "Per login step", "latency from each step's intended start, whole run");
  }

  function drawCurves(curves, slo, pick, title, sub) {
    var dc = document.getElementById("dist-charts");
    var picked = curves.series.filter(function (c) { return pick(c.label); });
    if (!picked.length) return;
    var el = box(dc, title, sub);
    var palette = [C.c1, C.c4, C.c2, C.c3, C.c5, C.c6, C.c7, C.c8];
    var maxX = curves.x[curves.x.length - 1] || 1;
    var series = [{ label: "percentile", value: function (u, v) { return v == null ? "–" : nines(v); } }];
    picked.forEach(function (c, i) {
      var base = /^base: /.test(c.label), service = /service time/.test(c.label);
      var colour = service ? C.c2 : palette[(/baseline/.test(c.label) ? 0 : /storm/.test(c.label) ? 1 : i + 3) % palette.length];
      series.push({
        label: c.label + " (" + c.count.toLocaleString("en-US") + ")",
        stroke: colour, width: service ? 1.4 : 2.2,
        dash: base ? [6, 4] : service ? [2, 3] : undefined,
        points: { show: false }, spanGaps: false,
        value: function (u, v) { return fmtMs(v); },
      });
    });
    var hl = slo ? [{ y: slo.p99_ms, colour: C.bad, text: "SLO p99 " + fmtMs(slo.p99_ms) }] : [];
    var opts = {
      height: 280,
      cursor: { sync: { key: "dist-" + title }, drag: { x: true, y: false } },
      scales: {
        x: { time: false, range: [0, Math.max(1, Math.ceil(maxX))] },
        y: { distr: 3, log: 10, range: function (u, mn, mx) {
          if (mn == null || !(mn > 0)) return [0.1, 1000];
          if (slo) { mn = Math.min(mn, slo.p99_ms); mx = Math.max(mx, slo.p99_ms); }
          return uPlot.rangeLog(mn, mx, 10, true);
        } },
      },
      axes: [
        axis({
          splits: function (u) { var s = []; for (var i = 0; i <= Math.ceil(u.scales.x.max); i++) s.push(i); return s; },
          values: function (u, vals) { return vals.map(function (v) { return nines(v); }); },
          label: "percentile (log scale of 1/(1−q))", labelSize: 22,
        }),
        axis({ size: 64, values: function (u, vals) { return vals.map(fmtMs); } }),
      ],
      series: series,
      hooks: { draw: [function (u) { hl.forEach(function (h) { hline(u, h.y, h.colour, h.text); }); }] },
    };
    make(el, opts, [curves.x].concat(picked.map(function (c) { return c.ms.map(function (v) { return v > 0 ? v : null; }); })), false);
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
    var both = function (label, pick, colour, extra) {
      return [
        Object.assign({ label: "base " + label, values: align(t, b, pick(b)), colour: colour, dash: [6, 4], width: 1.4 }, extra || {}),
        Object.assign({ label: "new " + label, values: align(t, n, pick(n)), colour: colour, width: 2.2 }, extra || {}),
      ];
    };
    var sum = function (r) { return r.first.map(function (v, i) { return v + r.retries[i]; }); };
    healthBand(tc, b, "base");
    healthBand(tc, n, "new");
    timeChart(tc, { title: "Login load", sub: "per second", t: t, runs: runs, height: 250,
      series: both("attempts", sum, C.c2).concat(both("logins ok", function (r) { return r.ok; }, C.c3)).concat(both("first attempts", function (r) { return r.first; }, C.c1)) });
    var slo = n.slo;
    timeChart(tc, { title: "Success rate", t: t, runs: runs, fmt: fmtPct, series: both("success", function (r) { return r.success; }, C.c3),
      range: function (u, mn) { var lo = Math.min(mn == null ? 0 : mn, slo ? slo.success_pct : 100); return [Math.max(0, Math.floor(lo - 2)), 100.5]; },
      hlines: slo ? [{ y: slo.success_pct, colour: C.bad, text: "new SLO " + slo.success_pct + " %" }] : [] });
    timeChart(tc, { title: "Latency p99 from the intended instant", sub: "log scale", t: t, runs: runs, log: true, fmt: fmtMs, height: 240,
      series: both("p99", function (r) { return r.latency.p99; }, C.c2).concat(both("p50", function (r) { return r.latency.p50; }, C.c1)),
      hlines: slo ? [{ y: slo.p99_ms, colour: C.bad, text: "new SLO p99 " + fmtMs(slo.p99_ms) }] : [] });
    timeChart(tc, { title: "Clients locked out", t: t, runs: runs, series: both("locked out", function (r) { return r.locked_out; }, C.c4) });
    n.target.forEach(function (kv, i) {
      var bs = b.target.filter(function (x) { return x[0] === kv[0]; })[0];
      var s = [{ label: "new " + kv[0], values: align(t, n, kv[1]), colour: C.c6, width: 2.2 }];
      if (bs) s.unshift({ label: "base " + kv[0], values: align(t, b, bs[1]), colour: C.c6, dash: [6, 4], width: 1.4 });
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
    readColours();
    if (D.kind === "run") drawRun(D.run, D.curves);
    else if (D.kind === "compare") drawCompare(D);
    else if (D.kind === "sweep") drawSweep(D);
  }

  function clear() {
    charts.forEach(function (c) { c.u.destroy(); c.el.remove(); });
    charts = [];
    timeCharts = [];
  }

  function drawAll() {
    try { draw(); } catch (e) { fail("charts", e); }
    document.body.setAttribute("data-rendered", String(charts.length));
  }

  drawAll();

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (c) { c.u.setSize({ width: Math.max(300, c.el.clientWidth), height: c.height }); });
    }, 100);
  });
  if (window.matchMedia) {
    var mq = window.matchMedia("(prefers-color-scheme: dark)");
    var redraw = function () { clear(); drawAll(); };
    if (mq.addEventListener) mq.addEventListener("change", redraw);
  }
})();

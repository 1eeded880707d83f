/* stampede report, 1 of 4: colours, number formats and the charts themselves, drawn
   by uPlot from what page.js hands them. Every part of the page script shares one
   namespace, window.stampede (S): this file, marks.js (the annotations), held.js (a
   connected population's charts) and page.js.
   Time charts share one x axis (seconds from the start): drag to zoom all of them,
   double-click to zoom out. */
(function (S) {
  "use strict";
  var errors = window.__stampedeErrors || (window.__stampedeErrors = []);
  function fail(where, e) {
    errors.push(where + ": " + ((e && e.message) || e));
    document.body.setAttribute("data-errors", errors.join(" | "));
  }

  var C = {};
  function readColours() {
    var s = getComputedStyle(document.documentElement);
    var v = function (n) { return s.getPropertyValue(n).trim(); };
    ["fg", "muted", "grid", "line", "storm", "down", "probe", "good", "warn", "bad", "healthy",
     "unhealthy", "unjudged", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9",
     "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]
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
    // Each redraw lays its labels out afresh (see marks.js).
    opts.hooks = opts.hooks || {};
    opts.hooks.drawClear = [S.resetLabels].concat(opts.hooks.drawClear || []);
    var u = new uPlot(opts, data, el);
    charts.push({ u: u, el: el, height: opts.height });
    if (shared) timeCharts.push(u);
    return u;
  }

  function syncX(u, key) {
    // A chart that keeps its own range (see timeChart's `shared`) neither leads nor follows.
    if (key !== "x" || syncing || timeCharts.indexOf(u) < 0) return;
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

  /* An empty axis on `side` (3 left, 1 right) as wide as the charts' value axes (64 px
     left, 72 px right, see timeChart): every chart on the time axis has the same plot
     box, so that a window lines up with itself from chart to chart. */
  function gutter(side) {
    return axis({ side: side, scale: "y", size: side === 1 ? 72 : 64, grid: { show: false }, ticks: { show: false }, values: function (u, vals) { return vals.map(function () { return ""; }); } });
  }

  function hasData(vals) {
    for (var i = 0; i < vals.length; i++) if (vals[i] != null && vals[i] > 0) return true;
    return false;
  }

  /* A chart on the shared time axis.
     spec: { title, sub, t, series: [{ label, values, colour, dash, width, fill, fmt, stepped, raw, right, points }],
             log, fmt, range, runs: [{ marks, who, dash, faint }], hlines, height, stepped, shared,
             rightFmt, rightRange }
     Series marked `right` are drawn against a second, linear axis on the right (from 0),
     formatted by rightFmt: another unit beside the left axis's. */
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
        scale: s.right ? "r" : "y",
        // A series with values in scattered windows (reconnects come in bursts) shows
        // each as a dot: without neighbours a line has nothing to draw.
        points: s.points ? { show: true, size: 6, fill: s.colour, stroke: s.colour } : { show: false },
        value: function (u, v, si, i) {
          if (s.raw) return i == null ? "–" : (s.fmt || fmt)(s.raw[i]);
          return (s.fmt || fmt)(v);
        },
      });
    });
    var scales = { x: { time: false }, y: y };
    var axes = [timeAxis(), axis({ size: 64, values: function (u, vals) { return vals.map(fmt); } })];
    if (spec.series.some(function (s) { return s.right; })) {
      var rfmt = spec.rightFmt || fmtNum;
      scales.r = { range: spec.rightRange || function (u, mn, mx) { return [0, mx > 0 ? mx * 1.15 : 1]; } };
      axes.push(axis({ scale: "r", side: 1, size: 72, grid: { show: false }, values: function (u, vals) { return vals.map(rfmt); } }));
    } else {
      axes.push(gutter(1));
    }
    var opts = {
      height: spec.height || 210,
      cursor: { sync: { key: "time" }, drag: { x: true, y: false } },
      scales: scales,
      axes: axes,
      series: series,
      hooks: S.markHooks(spec.runs || [], spec.hlines),
    };
    // A chart whose time runs past the others' (the target's drain after the run) keeps
    // its own range: zooming the others would cut it back to theirs.
    return make(el, opts, [spec.t].concat(spec.series.map(function (s) { return s.values; })), spec.shared !== false);
  }

  var HEALTH = ["not judged", "healthy", "unhealthy", "unjudged (too few logins)", "tolerated (noise or an isolated miss)"];
  function healthBand(parent, run, who) {
    var el = box(parent, (who ? who + ": " : "") + "window health",
      "green healthy, red unhealthy against the SLO, grey too few completed logins to judge, amber a tolerated miss (noise or isolated)");
    var t = run.t, ws = run.window_s;
    var colour = function (h) { return [C.line, C.healthy, C.unhealthy, C.unjudged, C.warn][h] || C.line; };
    var opts = {
      height: 74,
      cursor: { sync: { key: "time" }, drag: { x: true, y: false }, points: { show: false } },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      // The gutters of the charts under it, so that a window sits above its own values.
      axes: [timeAxis(), gutter(3), gutter(1)],
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
            var x0 = S.clampX(u, t[i]), x1 = S.clampX(u, t[i] + ws);
            if (x1 <= x0) continue;
            ctx.fillStyle = colour(run.health[i]);
            ctx.fillRect(x0, u.bbox.top, x1 - x0 + 0.5, u.bbox.height);
          }
          S.stormStrip(u, run.marks, 0);
          ctx.restore();
        }],
        draw: [function (u) {
          var m = run.marks;
          [m.trigger, m.storm_end, m.recovered, m.relapsed].forEach(function (at, i) {
            S.vline(u, at, i === 2 ? C.good : i === 3 ? C.bad : C.fg, null, i === 1 ? [4, 3] : [], 0);
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
    if (k === "timeout_midanswer") return C.c6;
    if (/^http_5/.test(k)) return C.c4;
    if (/^http_4/.test(k)) return C.c8;
    if (/^ws_close_/.test(k)) return C.c5;
    if (/heartbeat/.test(k)) return C.c2;
    if (k === "reboot") return C.c9;
    if (/refused|reset|connect|tls/.test(k)) return C.c7;
    if (/throttled|unstarted/.test(k)) return C.c9;
    return [C.c1, C.c6, C.c8][i % 3];
  }

  /* The outcome classes stacked: drawn top-down, each filled to zero over the ones
     before, so the fills stack without bands; the legend shows each class's own rate.
     `extra` is merged into each series (e.g. { right: true }); `alpha` thins the fills
     so that lines drawn over them stay readable. */
  function stackedSeries(outcomes, extra, alpha) {
    var n = outcomes.length ? outcomes[0][1].length : 0, acc = [], out = [];
    for (var i = 0; i < n; i++) acc.push(0);
    outcomes.forEach(function (o, k) {
      acc = acc.map(function (a, i) { return a + (o[1][i] || 0); });
      var colour = outcomeColour(o[0], k);
      out.push(Object.assign({ label: o[0], values: acc.slice(), raw: o[1], colour: colour, fill: alpha ? tint(colour, alpha) : colour, width: 1, stepped: true }, extra || {}));
    });
    return out.reverse();
  }
  /* A #rrggbb colour at `alpha`; any other colour as it is. */
  function tint(colour, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour || "");
    if (!m) return colour;
    return "rgba(" + [1, 2, 3].map(function (i) { return parseInt(m[i], 16); }).join(", ") + ", " + alpha + ")";
  }


  function drawCurves(curves, slo, pick, title, sub) {
    var dc = document.getElementById("dist-charts");
    var picked = curves.series.filter(function (c) { return pick(c.label); });
    if (!picked.length) return;
    var el = box(dc, title, sub);
    var palette = ["1", "4", "2", "3", "5", "6", "7", "8"];
    var maxX = curves.x[curves.x.length - 1] || 1;
    var series = [{ label: "percentile", value: function (u, v) { return v == null ? "–" : nines(v); } }];
    picked.forEach(function (c, i) {
      var base = /^base: /.test(c.label), service = /service time/.test(c.label);
      var hue = service ? "2" : palette[(/baseline/.test(c.label) ? 0 : /storm/.test(c.label) ? 1 : i + 3) % palette.length];
      // A base run's curves take the pale tint of the new run's colour (see drawCompare).
      var colour = C[(base ? "b" : "c") + hue];
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
      hooks: { draw: [function (u) { hl.forEach(function (h) { S.hline(u, h.y, h.colour, h.text); }); }] },
    };
    make(el, opts, [curves.x].concat(picked.map(function (c) { return c.ms.map(function (v) { return v > 0 ? v : null; }); })), false);
  }


  function clear() {
    charts.forEach(function (c) { c.u.destroy(); c.el.remove(); });
    // Emptied in place: the other files hold this very array as S.charts.
    charts.length = 0;
    timeCharts.length = 0;
  }

  S.charts = charts;
  S.C = C;
  S.PR = PR;
  Object.assign(S, {
    fail: fail, readColours: readColours, fmtNum: fmtNum, fmtMs: fmtMs, fmtPct: fmtPct, fmtSec: fmtSec,
    box: box, make: make, syncX: syncX, axis: axis, hasData: hasData, timeChart: timeChart,
    healthBand: healthBand, stackedSeries: stackedSeries, tint: tint, drawCurves: drawCurves, clear: clear,
  });
})(window.stampede = window.stampede || {});

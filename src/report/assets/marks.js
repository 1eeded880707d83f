/* stampede report, 2 of 3: what is drawn over the charts — the storm strip, the time
   the target was down, the turning points (trigger, storm end, recovery, operator
   actions) and the SLO lines, with their labels. */
(function (S) {
  "use strict";
  var C = S.C, PR = S.PR;

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
      setScale: [S.syncX],
    };
  }

  Object.assign(S, {
    clampX: clampX, shade: shade, vline: vline, hline: hline, stormStrip: stormStrip, markHooks: markHooks,
  });
})(window.stampede);

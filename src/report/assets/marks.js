/* stampede report, 2 of 4: what is drawn over the charts — the storm strip, the time
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
  /* ---- labels: laid out, not just drawn ----
     A label takes the first of its candidate places that stays inside the plot,
     overlaps no label placed before it and crosses no horizontal line (an SLO line
     once struck through its own label, and the SLO label sat on the verdict's); when
     it can, it also keeps clear of the vertical lines. Every line is drawn before any
     label, so each label knows them all. What was placed is kept on the chart element
     (data-labels: plot box, horizontal lines and label boxes in CSS pixels, and the
     left axis's range) for people and tests. */
  // Pixels: the text, the box it is given (a row apart from the next, less a gap).
  var FONT = 11, BOX = 13, ROW = 14;
  function layout(u) { return u._marks || resetLabels(u); }
  function resetLabels(u) { return (u._marks = { boxes: [], ys: [], xs: [] }); }

  function fits(u, b, L, strict) {
    var pr = PR(), bb = u.bbox, pad = pr, gap = 12 * pr;
    if (b[0] < bb.left || b[2] > bb.left + bb.width || b[1] < bb.top || b[3] > bb.top + bb.height) return false;
    // Side by side on one row, two labels a few pixels apart read as one ("retries
    // silenced healed, retries silenced"): they keep a word's gap.
    var hit = function (o) { return b[0] < o[2] + gap && o[0] < b[2] + gap && b[1] < o[3] + pad && o[1] < b[3] + pad; };
    if (L.boxes.some(hit)) return false;
    if (L.ys.some(function (y) { return y >= b[1] - pr && y <= b[3] + pr; })) return false;
    return !strict || !L.xs.some(function (x) { return x >= b[0] - pr && x <= b[2] + pr; });
  }

  function publish(u, L) {
    var el = u.root && u.root.parentNode, pr = PR(), bb = u.bbox;
    if (!el) return;
    var css = function (v) { return Math.round(v / pr * 10) / 10; };
    el.setAttribute("data-labels", JSON.stringify({
      plot: [bb.left, bb.top, bb.left + bb.width, bb.top + bb.height].map(css),
      hlines: L.ys.map(css),
      labels: L.boxes.map(function (b) { return [css(b[0]), css(b[1]), css(b[2]), css(b[3]), b[4]]; }),
      // The left axis's range, as drawn: what one tall series did to everyone's scale.
      y: u.scales.y ? [u.scales.y.min, u.scales.y.max] : null,
    }));
  }

  /* Draws `text` at the first of `candidates` ({ x, y: the text's top, align }) that fits. */
  function place(u, text, colour, candidates) {
    var ctx = u.ctx, pr = PR(), L = layout(u);
    ctx.save();
    ctx.font = FONT * pr + "px system-ui, sans-serif";
    var w = ctx.measureText(text).width;
    var boxes = candidates.map(function (c) {
      var x0 = c.align === "right" ? c.x - w : c.x;
      return [x0, c.y, x0 + w, c.y + BOX * pr];
    });
    var first = function (strict) { return boxes.filter(function (b) { return fits(u, b, L, strict); })[0]; };
    var b = first(true) || first(false) || boxes[0];
    ctx.fillStyle = colour;
    ctx.textAlign = "left";
    // uPlot leaves the canvas with its own baseline: the box assumes the text's top.
    ctx.textBaseline = "top";
    ctx.fillText(text, b[0], b[1] + pr);
    ctx.restore();
    L.boxes.push(b.concat([text]));
    publish(u, L);
  }

  /* Beside a vertical line at x, from `row` down: on `side` ("right" of the line or
     "left" of it) first, then on the other side. */
  function beside(u, x, row, side) {
    var pr = PR(), out = [];
    [side, side === "right" ? "left" : "right"].forEach(function (s) {
      for (var r = row; r < row + 6; r++) {
        out.push({ x: x + (s === "right" ? 4 : -4) * pr, y: u.bbox.top + (7 + ROW * r) * pr, align: s === "right" ? "left" : "right" });
      }
    });
    return out;
  }
  /* Along a horizontal line at yy: above it at the right end, below it, then the same
     at the left end and in the middle. */
  function along(u, yy) {
    var pr = PR(), bb = u.bbox, above = yy - (3 + BOX) * pr, below = yy + 3 * pr;
    var right = bb.left + bb.width - 4 * pr, left = bb.left + 4 * pr, mid = bb.left + bb.width / 2;
    return [
      { x: right, y: above, align: "right" }, { x: right, y: below, align: "right" },
      { x: left, y: above, align: "left" }, { x: left, y: below, align: "left" },
      { x: mid, y: above, align: "left" }, { x: mid, y: below, align: "left" },
    ];
  }

  /* ---- lines ---- */
  function xOf(u, at) {
    if (at == null) return null;
    var x = u.valToPos(at, "x", true);
    return x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1 ? null : x;
  }
  function yOf(u, y, scale) {
    if (y == null) return null;
    var sc = u.scales[scale || "y"];
    return sc.min == null || y < sc.min || y > sc.max ? null : u.valToPos(y, scale || "y", true);
  }
  function stroke(u, colour, dash, x0, y0, x1, y1) {
    var ctx = u.ctx, pr = PR();
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5 * pr;
    ctx.setLineDash((dash || []).map(function (d) { return d * pr; }));
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    ctx.restore();
  }
  function drawV(u, x, colour, dash) {
    layout(u).xs.push(x);
    stroke(u, colour, dash, x, u.bbox.top, x, u.bbox.top + u.bbox.height);
  }
  function drawH(u, yy, colour) {
    layout(u).ys.push(yy);
    stroke(u, colour, [6, 4], u.bbox.left, yy, u.bbox.left + u.bbox.width, yy);
  }
  /* One vertical line at `at` with its label, drawn now (charts with few marks). */
  function vline(u, at, colour, text, dash, row) {
    var x = xOf(u, at);
    if (x == null) return;
    drawV(u, x, colour, dash);
    if (text) place(u, text, colour, beside(u, x, row || 0, "right"));
  }
  /* One horizontal line at `y` with its label, drawn now. */
  function hline(u, y, colour, text, scale) {
    var yy = yOf(u, y, scale);
    if (yy == null) return;
    drawH(u, yy, colour);
    place(u, text, colour, along(u, yy));
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
    // Down until the confirmation probe healed it, or to the end; the probe's span
    // (retries silenced) is tinted apart.
    var downTo = m.probe_healed != null ? m.probe_healed : m.end;
    if (m.recovered != null) shade(u, m.trigger, m.recovered, C.down);
    if (m.relapsed != null) shade(u, m.relapsed, downTo, C.down);
    if (m.recovered == null && m.down) shade(u, m.trigger, downTo, C.down);
    if (m.probe_from != null) shade(u, m.probe_from, m.probe_to, C.probe);
  }
  /* The marks of one run `r` ({ marks, who, dash, shared, plain }) as { x, colour,
     dash, text, row, side }: `shared`, the other run has the same trigger and storm
     end and draws them, unprefixed (`plain`). The verdict's label ("metastable →")
     has no line of its own. */
  function marksOf(u, r) {
    var m = r.marks, who = r.who, dash = r.dash, out = [];
    if (!m) return out;
    var p = who ? who + ": " : "", row = who === "base" ? 2 : 0;
    var add = function (at, colour, text, d, rw) {
      var x = xOf(u, at);
      if (x != null) out.push({ x: x, colour: colour, dash: dash || d, text: text, row: rw, side: "right", line: true });
    };
    if (!r.shared) {
      add(m.trigger, C.muted, (r.plain ? "" : p) + "trigger", [], row);
      add(m.storm_end, C.muted, (r.plain ? "" : p) + "storm ends", [4, 3], row);
    }
    add(m.recovered, C.good, p + "recovered", [], row);
    add(m.relapsed, C.bad, p + "relapsed", [], row);
    add(m.metastable_since, C.c5, p + "load back at baseline", [2, 2], row + 1);
    add(m.probe_from, C.c5, p + "retries silenced", [3, 3], row + 2);
    add(m.probe_healed, C.good, p + "healed, retries silenced", [], row + 2);
    (m.actions || []).forEach(function (a) { add(a.at, C.warn, p + a.label, [6, 2], row + 2); });
    if (m.recovered == null && m.down && u.valToPos(m.trigger, "x", true) < u.bbox.left + u.bbox.width - 120 * PR()) {
      out.push({ x: clampX(u, m.end), colour: C.bad, text: p + m.headline.toLowerCase() + " →", row: row + 1, side: "left", line: false });
    }
    return out;
  }
  function markHooks(runs, hlines) {
    return {
      drawClear: [function (u) {
        u.ctx.save();
        runs.forEach(function (r) { if (!r.shared) shading(u, r.marks, r.faint, r.who === "base" ? 1 : 0); });
        u.ctx.restore();
      }],
      draw: [function (u) {
        var marks = [].concat.apply([], runs.map(function (r) { return marksOf(u, r); }));
        var hs = (hlines || []).map(function (h) { return { yy: yOf(u, h.y, h.scale), colour: h.colour, text: h.text }; })
          .filter(function (h) { return h.yy != null; });
        hs.forEach(function (h) { drawH(u, h.yy, h.colour); });
        marks.forEach(function (k) { if (k.line) drawV(u, k.x, k.colour, k.dash); });
        marks.forEach(function (k) { place(u, k.text, k.colour, beside(u, k.x, k.row, k.side)); });
        hs.forEach(function (h) { place(u, h.text, h.colour, along(u, h.yy)); });
      }],
      setScale: [S.syncX],
    };
  }

  Object.assign(S, {
    clampX: clampX, shade: shade, vline: vline, hline: hline, stormStrip: stormStrip, markHooks: markHooks,
    resetLabels: resetLabels,
  });
})(window.stampede);

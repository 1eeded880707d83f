/* stampede report, 3 of 4: a connected population's charts, the first on its page —
   clients connected against those that should be online, with the drop wave (drops per
   second, stacked by cause) and the reconnects on the right axis; then how long the
   reconnects took. page.js draws them before everything else when run.held is there. */
(function (S) {
  "use strict";
  var C = S.C;

  function drawHeld(tc, run, runs) {
    var h = run.held;
    var perS = function (v) { return v == null || isNaN(v) ? "–" : S.fmtNum(v) + "/s"; };
    var series = [
      { label: "connected", values: h.connected, colour: C.c3, width: 2.6 },
      { label: "should be online", values: h.online, colour: C.muted, dash: [5, 4], width: 1.4 },
    ];
    if (h.slo_pct != null) {
      series.push({ label: "SLO: " + h.slo_pct + " % of should be online", values: h.least, colour: C.bad, dash: [2, 3], width: 1.2 });
    }
    series = series
      .concat(S.stackedSeries(h.drops.map(function (d) { return ["drops: " + d[0], d[1]]; }), { right: true, fmt: perS }, 0.45))
      .concat([{ label: "connects ok", values: h.connects_ok, colour: C.c1, width: 1.8, right: true, fmt: perS }]);
    S.timeChart(tc, {
      title: "Connected clients",
      sub: "left: clients holding their connection vs those that should be online; right, per second: drops stacked by cause, and connects that succeeded",
      t: run.t, series: series, runs: runs, height: 300, rightFmt: perS,
      // Headroom on both axes: the marks' labels take the top rows, clear of the
      // connected line and of the drop wave's bars.
      range: function (u, mn, mx) { return [0, (mx > 0 ? mx : 1) * 1.35]; },
      rightRange: function (u, mn, mx) { return [0, (mx > 0 ? mx : 1) * 1.6]; },
    });

    var sloLine = run.slo ? [{ y: run.slo.p99_ms, colour: C.bad, text: "SLO p99 " + S.fmtMs(run.slo.p99_ms) + " (heartbeats)" }] : [];
    S.timeChart(tc, {
      title: "Reconnect time",
      sub: "from the drop to connected again (the user's outage), in the window it ended; heartbeat and upgrade p99 for comparison, log scale",
      t: run.t, log: true, fmt: S.fmtMs, hlines: sloLine, runs: runs, height: 220,
      series: [
        { label: "reconnect p50", values: h.reconnect.p50, colour: C.c1, points: true },
        { label: "reconnect p99", values: h.reconnect.p99, colour: C.c2, width: 2.2, points: true },
        { label: "reconnect max", values: h.reconnect.max, colour: C.c4, width: 1.2, dash: [3, 3], points: true },
        { label: "heartbeat p99", values: h.heartbeat_p99, colour: C.c6 },
        { label: "upgrade p99", values: h.upgrade_p99, colour: C.c5, dash: [5, 3] },
      ],
    });
  }

  S.drawHeld = drawHeld;
})(window.stampede);

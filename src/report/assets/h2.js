/* stampede report: an HTTP/2 run's connections chart, after the login load — per
   second, the connections the server dropped (stacked by cause: a gateway's drain is a
   wave of goaway/NO_ERROR), the connections opened (the reconnect wave after it) and
   the streams sent again after a GOAWAY; the streams on the right axis. page.js draws
   it when run.h2 is there. */
(function (S) {
  "use strict";
  var C = S.C;

  function drawH2(tc, run, runs) {
    var h = run.h2;
    var perS = function (v) { return v == null || isNaN(v) ? "–" : S.fmtNum(v) + "/s"; };
    var series = S.stackedSeries(h.drops.map(function (d) { return ["dropped: " + d[0], d[1]]; }), { fmt: perS }, 0.45)
      .concat([
        { label: "connections opened", values: h.connects, colour: C.c1, width: 2.2, fmt: perS },
        { label: "streams sent again after a GOAWAY", values: h.goaway_retried, colour: C.c2, width: 1.4, fmt: perS, points: true },
        { label: "streams (right axis)", values: h.streams, colour: C.muted, width: 1.2, dash: [4, 3], right: true, fmt: perS },
      ]);
    S.timeChart(tc, {
      title: "HTTP/2 connections",
      sub: "per second: connections the server dropped, stacked by cause; connections opened (the reconnect wave); streams above a GOAWAY's last-stream-id sent again; right: all streams",
      t: run.t, series: series, runs: runs, height: 260, fmt: perS, rightFmt: perS,
      range: function (u, mn, mx) { return [0, (mx > 0 ? mx : 1) * 1.35]; },
      rightRange: function (u, mn, mx) { return [0, (mx > 0 ? mx : 1) * 1.35]; },
    });
  }

  S.drawH2 = drawH2;
})(window.stampede);

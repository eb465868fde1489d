// Draw one person's time line with the plotly.js bundled in the plotly package (no CDN).
// Rows share one date axis: EDSS with events, relapses and treatments; SDMT and timed tests;
// MRI findings; device trends; lifestyle.
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("timeline");
    var src = document.getElementById("timeline-data");
    if (!el || !src || typeof Plotly === "undefined") { return; }
    var tl = JSON.parse(src.textContent);
    var traces = [], shapes = [], annotations = [];
    var dev = Object.keys(tl.device || {});
    var rows = ["edss", "tests", "mri"].concat(dev.length ? ["device"] : []).concat((tl.lifestyle || []).length ? ["life"] : []);
    var weights = {edss: 3, tests: 2, mri: 1, device: 2, life: 1.5};
    var total = rows.reduce(function (a, r) { return a + weights[r]; }, 0);
    var gap = 0.04, y = 1, axis = {}, layout = {};
    rows.forEach(function (r, i) {
      var h = (1 - gap * (rows.length - 1)) * weights[r] / total;
      var name = i === 0 ? "yaxis" : "yaxis" + (i + 1);
      axis[r] = i === 0 ? "y" : "y" + (i + 1);
      layout[name] = {domain: [Math.max(0, y - h), y], title: {text: {edss: "EDSS", tests: "SDMT / s", mri: "MRI", device: "% of start", life: "lifestyle"}[r], font: {size: 11}}, zeroline: false};
      y = y - h - gap;
    });
    var a = tl.assessments || [];
    function col(key) { var d = [], v = []; a.forEach(function (x) { if (x[key] !== null && x[key] !== undefined) { d.push(x.date); v.push(x[key]); } }); return [d, v]; }
    var e = col("edss");
    traces.push({x: e[0], y: e[1], name: "EDSS", mode: "lines+markers", yaxis: axis.edss, line: {color: "#1f4e79"}});
    var colours = {PIRA: "#c0392b", RAW: "#e67e22", undefined: "#7f8c8d", CDI: "#27ae60"};
    ["PIRA", "RAW", "undefined", "CDI"].forEach(function (k) {
      var ev = (tl.events || []).filter(function (x) { return x.type === k; });
      if (!ev.length) { return; }
      traces.push({x: ev.map(function (x) { return x.event_date; }), y: ev.map(function (x) { return x.event_value; }),
        name: k === "undefined" ? "worsening (undefined)" : k, mode: "markers", yaxis: axis.edss,
        marker: {symbol: k === "CDI" ? "triangle-down" : "triangle-up", size: 14, color: colours[k]},
        text: ev.map(function (x) { return k + ": " + x.baseline_value + " → " + x.event_value + ", confirmed " + x.confirmation_date; }),
        hoverinfo: "text+x"});
    });
    (tl.relapses || []).forEach(function (r) {
      shapes.push({type: "line", xref: "x", yref: "paper", x0: r.onset, x1: r.onset, y0: 0, y1: 1, line: {color: "#8e44ad", width: 1, dash: "dot"}});
    });
    if ((tl.relapses || []).length) {
      traces.push({x: tl.relapses.map(function (r) { return r.onset; }), y: tl.relapses.map(function () { return 9.5; }), name: "relapse", mode: "markers", yaxis: axis.edss, marker: {symbol: "star", size: 10, color: "#8e44ad"}});
    }
    var last = a.length ? a[a.length - 1].date : null;
    (tl.treatments || []).forEach(function (t) {
      shapes.push({type: "rect", xref: "x", yref: axis.edss, x0: t.start, x1: t.stop || last || t.start, y0: 0, y1: 0.6, fillcolor: "#95a5a6", opacity: 0.35, line: {width: 0}});
      annotations.push({x: t.start, y: 0.3, xref: "x", yref: axis.edss, text: t.drug || "other treatment", showarrow: false, xanchor: "left", font: {size: 10}});
    });
    var s = col("sdmt");
    traces.push({x: s[0], y: s[1], name: "SDMT", mode: "lines+markers", yaxis: axis.tests, line: {color: "#16a085"}});
    var w = col("t25fw"); traces.push({x: w[0], y: w[1], name: "T25FW (s)", mode: "lines+markers", yaxis: axis.tests, line: {color: "#d35400"}});
    var p = col("nhpt"); traces.push({x: p[0], y: p[1], name: "9HPT (s)", mode: "lines+markers", yaxis: axis.tests, line: {color: "#2c3e50"}});
    var mri = tl.mri || [];
    traces.push({x: mri.map(function (m) { return m.date; }), y: mri.map(function (m) { return (m.n_prl || 0) + (m.n_sel_definite || 0); }),
      name: "MRI (PRL + SEL)", mode: "markers", yaxis: axis.mri,
      marker: {size: 10, color: mri.map(function (m) { return m.active ? "#c0392b" : "#7f8c8d"; })},
      text: mri.map(function (m) { return (m.active ? "active; " : "") + (m.prl_rated ? m.n_prl + " PRL; " : "") + (m.sel_rated ? m.n_sel_definite + " SEL" : ""); }),
      hoverinfo: "text+x"});
    dev.forEach(function (m) {
      var d = tl.device[m], ref = d.values.slice(0, 26).slice().sort(function (u, v) { return u - v; });
      var base = ref.length ? ref[Math.floor(ref.length / 2)] || 1 : 1;
      traces.push({x: d.dates, y: d.values.map(function (v) { return 100 * v / base; }), name: m.replace(/_/g, " ") + (d.unit ? " (" + d.unit + ")" : ""), mode: "lines", yaxis: axis.device,
        text: d.values.map(function (v) { return v + (d.unit ? " " + d.unit : ""); }), hoverinfo: "text+x+name"});
    });
    (tl.device_events || []).forEach(function (d) {
      if (axis.device) { shapes.push({type: "line", xref: "x", yref: "paper", x0: d.onset_date, x1: d.onset_date, y0: 0, y1: 1, line: {color: "#c0392b", width: 1, dash: "dash"}}); }
    });
    if ((tl.device_events || []).length && axis.device) {
      traces.push({x: tl.device_events.map(function (d) { return d.onset_date; }), y: tl.device_events.map(function () { return 100; }), name: "digital worsening", mode: "markers", yaxis: axis.device, marker: {symbol: "x", size: 12, color: "#c0392b"},
        text: tl.device_events.map(function (d) { return d.measure + (d.change_pct !== null ? " " + Math.round(d.change_pct) + " %" : ""); }), hoverinfo: "text+x"});
    }
    if (axis.life) {
      var L = tl.lifestyle;
      traces.push({x: L.map(function (x) { return x.date; }), y: L.map(function (x) { return x.exercise_min_week; }), name: "exercise (min/week)", mode: "lines+markers", yaxis: axis.life});
      traces.push({x: L.map(function (x) { return x.date; }), y: L.map(function (x) { return x.sleep_hours === null ? null : x.sleep_hours * 10; }), name: "sleep (h × 10)", mode: "lines+markers", yaxis: axis.life});
    }
    layout.shapes = shapes;
    layout.annotations = annotations;
    layout.xaxis = {type: "date", anchor: axis[rows[rows.length - 1]]};
    layout.height = 160 * total / 1.5 + 120;
    layout.margin = {l: 55, r: 10, t: 10, b: 40};
    layout.legend = {orientation: "h", y: -0.08};
    layout.hovermode = "closest";
    Plotly.newPlot(el, traces, layout, {responsive: true, displaylogo: false});
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
}());

// One person's time line, drawn with the plotly.js bundled in the plotly package (no CDN).
//
// One lane per unit, sharing one date axis: relapses (their own strip, so a marker never sits on
// data), treatments as named bars, EDSS with the confirmed events on the curve, SDMT points, the
// timed tests as % of the first visit with the band of changes too small to count, and the MRI
// lanes (T2 lesions, new/enlarging and Gd+, PRL, SEL; a click opens that scan's lesion QC). The
// last visit is a dashed line. Phone and wearable data get their own chart over the months they
// cover, one lane per measure, the decline drawn on the measured curve. Colours and marks come
// from smoulder.schema.palette (the same in the PDF report). The legend is HTML, below each chart.
(function () {
  "use strict";
  var DAY = 86400000;

  function iso(t) { return new Date(t).toISOString().slice(0, 10); }
  function ms(d) { return Date.parse(d + "T00:00:00Z"); }
  function fmt(x) { return Math.round(x * 10) / 10; }

  function Lanes(phone) {
    this.lanes = [];
    this.phone = phone;
  }
  Lanes.prototype.add = function (name, title, px, axis) {
    this.lanes.push({name: name, title: title, px: px, axis: axis || {}});
  };
  // A lane title too long for a phone breaks before its explanation (at " (") and gets the room
  // of a second line above its lane, so that it is never cut at the right edge.
  function wrapTitle(title, phone) {
    var at = title.indexOf(" (");
    return phone && title.length > 34 && at > 0 ? title.slice(0, at) + "<br>" + title.slice(at + 1) : title;
  }
  Lanes.prototype.layout = function (top, bottom) {
    var gap = 30, line = 14, layout = {annotations: [], shapes: []}, ids = {}, self = this;
    this.lanes.forEach(function (l) { l.shown = wrapTitle(l.title, self.phone); });
    var extra = function (l) { return l.shown.indexOf("<br>") >= 0 ? line : 0; };
    var total = this.lanes.reduce(function (a, l, i) { return a + l.px + extra(l) + (i ? gap : 0); }, 0);
    var height = total + top + bottom, y = total;
    this.lanes.forEach(function (l, i) {
      y -= extra(l);
      var id = i === 0 ? "y" : "y" + (i + 1), key = i === 0 ? "yaxis" : "yaxis" + (i + 1);
      var hi = y / total, lo = (y - l.px) / total;
      ids[l.name] = id;
      var ax = {domain: [Math.max(0, lo), Math.min(1, hi)], zeroline: false, fixedrange: true,
        automargin: true, tickfont: {size: self.phone ? 10 : 11}};
      Object.keys(l.axis).forEach(function (k) { ax[k] = l.axis[k]; });
      layout[key] = ax;
      layout.annotations.push({text: "<b>" + l.shown.replace("<br>", "</b><br><b>") + "</b>", xref: "paper", yref: "paper", x: 0, y: hi,
        xanchor: "left", yanchor: "bottom", align: "left", showarrow: false, font: {size: self.phone ? 11 : 12, color: "#333"}});
      y -= l.px + gap;
    });
    layout.height = height;
    layout.bottomAxis = ids[this.lanes[this.lanes.length - 1].name];
    layout.ids = ids;
    return layout;
  };

  // The dates drawn: up to today when the data are recent (the gap to today is part of the
  // story); when the last data are more than a year old the axis ends with them, so that they are
  // not squeezed into a corner, and a note at the right says how old they are.
  function span(dates, today, before, after) {
    var lo = Math.min.apply(null, dates), hi = Math.max.apply(null, dates), t = ms(today);
    var stale = t - hi > 365 * DAY;
    var r = [lo - before * DAY, (stale ? hi : Math.max(hi, t)) + after * DAY];
    r.stale = stale ? iso(hi) : null;
    return r;
  }

  function staleNote(layout, range, plain) {
    if (!range.stale) { return; }
    layout.annotations.push({text: (plain ? "nothing recorded after " : "no data after ") + range.stale + " →",
      xref: "paper", x: 1, xanchor: "right", yref: "paper", y: 1, yanchor: "bottom", yshift: 14,
      showarrow: false, font: {size: 10, color: "#8a4b00"}});
  }

  function lastVisitMarks(d, layout, range, plain) {
    staleNote(layout, range, plain);
    var lv = d.last_visit;
    if (lv && ms(lv.date) >= range[0] && ms(lv.date) <= range[1]) {
      layout.shapes.push({type: "line", xref: "x", yref: "paper", x0: lv.date, x1: lv.date, y0: 0, y1: 1,
        line: {color: "#000", width: 1.5, dash: "dash"}});
      layout.annotations.push({text: (plain ? "your last visit " : "last visit ") + lv.date, x: lv.date, xref: "x",
        y: 1, yref: "paper", yanchor: "bottom", xanchor: ms(lv.date) > (range[0] + range[1]) / 2 ? "right" : "left",
        yshift: range.stale ? 0 : 14, showarrow: false, font: {size: 11, color: "#000"}, bgcolor: "rgba(255,255,255,0.85)"});
    }
    var today = ms(d.today);
    if (lv && today - ms(lv.date) > 45 * DAY && today <= range[1]) {
      layout.shapes.push({type: "line", xref: "x", yref: "paper", x0: d.today, x1: d.today, y0: 0, y1: 1,
        line: {color: "#999", width: 1, dash: "dot"}});
    }
  }

  function activityNote(el, mri, recorded, anyActivity, plain) {
    var old = document.getElementById("mri-activity-note");
    if (old) { old.remove(); }
    if (!mri.length || anyActivity) { return; }
    var dates = recorded.map(function (m) { return m.date; }).sort();
    var text;
    if (!recorded.length) {
      text = plain ? "Your scans do not record whether there were new or active lesions." : "No MRI activity recorded on the " + mri.length + (mri.length === 1 ? " scan" : " scans") + " (new/enlarging or Gd+ not reported).";
    } else {
      var n = recorded.length + (recorded.length === 1 ? " scan" : " scans");
      var when = dates.length > 1 ? " (" + dates[0] + " to " + dates[dates.length - 1] + ")" : " (" + dates[0] + ")";
      text = plain ? "No new or active lesions on your " + n + when + "." : "No new/enlarging or Gd+ lesions on the " + n + " with activity recorded" + when + ".";
    }
    var p = document.createElement("p");
    p.id = "mri-activity-note";
    p.className = "lane-note";
    p.textContent = text;
    el.parentNode.insertBefore(p, el.nextSibling);
  }

  function clinic(el, d, phone) {
    var P = d.palette, L = d.labels || {}, plain = d.mode === "plain";
    function c(k) { return (P[k] || {}).colour || "#444"; }
    function sym(k) { return (P[k] || {}).symbol || "circle"; }
    function label(k, text) { return L[k] || text; }
    var a = d.assessments || [], traces = [], lanes = new Lanes(phone);
    function col(key) {
      var x = [], y = [];
      a.forEach(function (v) { if (v[key] !== null && v[key] !== undefined) { x.push(v.date); y.push(v[key]); } });
      return [x, y];
    }
    var dates = a.map(function (v) { return ms(v.date); });
    (d.relapses || []).forEach(function (r) { dates.push(ms(r.onset)); });
    (d.treatments || []).forEach(function (t) { dates.push(ms(t.start)); });
    (d.mri || []).forEach(function (m) { dates.push(ms(m.date)); });
    if (!dates.length) { el.textContent = plain ? "Nothing to show yet." : "No dated data to draw."; return; }
    var range = span(dates, d.today, 60, 30);
    var rows = [];
    var courses = (d.treatments || []).slice().sort(function (p, q) { return p.start < q.start ? -1 : 1; }).map(function (t) {
      var end = t.stop ? ms(t.stop) : ms(d.today), row = 0;
      while (rows[row] !== undefined && rows[row] > ms(t.start)) { row += 1; }
      rows[row] = end;
      return {t: t, row: row, end: iso(end)};
    });
    if ((d.relapses || []).length) { lanes.add("relapse", label("relapse", "Relapses"), 22, {range: [-1, 1], showticklabels: false, showgrid: false}); }
    if (courses.length) { lanes.add("treatment", label("treatment", "Treatment"), 22 * rows.length + 6, {range: [rows.length - 0.4, -0.6], showticklabels: false, showgrid: false}); }
    var e = col("edss");
    if (e[0].length) {
      var top = Math.min(10, Math.max(6.5, Math.ceil(Math.max.apply(null, e[1]) + 1)));
      lanes.add("edss", plain ? "Disability score (0 to 10)" : "EDSS", phone ? 150 : 170, {range: [-0.3, top + 0.3], dtick: 1});
    }
    var s = col("sdmt");
    if (s[0].length && !plain) { lanes.add("sdmt", "SDMT (points)", 90, {}); }
    var w = col("t25fw"), p = col("nhpt");
    if (w[0].length || p[0].length) {
      lanes.add("tests", plain ? "Walking and hand tests (% of your first visit; higher is slower)" : "T25FW, 9HPT (% of first visit; higher is slower)", 110, {ticksuffix: "\u00a0%"});
    }
    var mri = d.mri || [];
    var hasT2 = mri.some(function (m) { return m.t2_lesions !== null; });
    var rated = function (k) { return mri.filter(function (m) { return m[k] !== null; }); };
    function counts(key, other) {
      var top = Math.max.apply(null, [1].concat(mri.map(function (m) { return Math.max(m[key] || 0, other ? m[other] || 0 : 0); })));
      return {range: [-0.2, top * 1.35 + 0.5], nticks: 3, rangemode: "tozero"};
    }
    if (hasT2) { lanes.add("t2", "T2 lesions (count)", 70, {rangemode: "tozero", nticks: 4}); }
    var counted = mri.some(function (m) { return m.new_enlarging !== null || m.gd_enhancing !== null; });
    // a lane only where there is activity to see: scans with no activity recorded, or with none
    // found, are said in words under the chart instead of an empty lane of zeros
    var recorded = mri.filter(function (m) { return m.new_enlarging !== null || m.gd_enhancing !== null || m.active === true || m.active === false; });
    var anyActivity = recorded.some(function (m) { return (m.new_enlarging || 0) > 0 || (m.gd_enhancing || 0) > 0 || m.active === true; });
    // without counts the scans say only "active or not": one row of marks, no count axis
    var yesNo = {range: [-1, 1], showticklabels: false, showgrid: false, zeroline: false};
    if (anyActivity) { lanes.add("activity", counted ? "New/enlarging T2 · Gd+ (count)" : "MRI activity (active or not; counts not recorded)", counted ? 60 : 30, counted ? counts("new_enlarging", "gd_enhancing") : yesNo); }
    activityNote(el, mri, recorded, anyActivity, plain);
    if (rated("n_prl").length) { lanes.add("prl", "PRL (rim lesions, count)", 55, counts("n_prl")); }
    if (rated("n_sel").length) { lanes.add("sel", "SEL (definite, count)", 55, counts("n_sel")); }
    if (!lanes.lanes.length) { el.textContent = "No clinic data to draw."; return; }
    var layout = lanes.layout(34, 30), ids = layout.ids;

    if (ids.relapse) {
      traces.push({x: d.relapses.map(function (r) { return r.onset; }), y: d.relapses.map(function () { return 0; }), yaxis: ids.relapse,
        mode: "markers", marker: {symbol: sym("relapse"), size: 13, color: c("relapse")}, hoverinfo: "text",
        text: d.relapses.map(function (r) { return (plain ? "relapse began " : "relapse onset ") + r.onset + (r.end ? " (to " + r.end + ")" : ""); })});
    }
    courses.forEach(function (k) {
      traces.push({x: [k.t.start, k.end], y: [k.row, k.row], yaxis: ids.treatment, mode: "lines", line: {color: c("treatment"), width: 14},
        hoverinfo: "text", text: (k.t.drug || "other treatment") + ": " + k.t.start + " to " + (k.t.stop || "now")});
      layout.annotations.push({text: k.t.drug || (plain ? "a treatment" : "other treatment"), x: k.t.start, xref: "x", y: k.row, yref: ids.treatment,
        xanchor: "left", yanchor: "middle", xshift: 3, showarrow: false, font: {size: 10, color: "#0b3954"}});
    });
    if (ids.edss) {
      traces.push({x: e[0], y: e[1], yaxis: ids.edss, mode: "lines+markers", line: {color: c("edss"), width: 2},
        marker: {size: 5, color: c("edss")}, hovertemplate: (plain ? "score %{y}" : "EDSS %{y}") + "<br>%{x}<extra></extra>"});
      ["PIRA", "RAW", "undefined", "CDI"].forEach(function (k) {
        var ev = (d.events || []).filter(function (x) { return (x.type || "undefined") === k && x.outcome === "edss"; });
        if (!ev.length) { return; }
        traces.push({x: ev.map(function (x) { return x.event_date; }), y: ev.map(function (x) { return x.event_value; }), yaxis: ids.edss,
          mode: "markers", marker: {symbol: sym(k), size: 15, color: c(k), line: {color: "#fff", width: 1}}, hoverinfo: "text",
          text: ev.map(function (x) { return label(k, k) + ": " + x.baseline_value + " → " + x.event_value + " on " + x.event_date + (x.confirmation_date ? ", confirmed " + x.confirmation_date : ""); })});
      });
    }
    if (ids.sdmt) {
      traces.push({x: s[0], y: s[1], yaxis: ids.sdmt, mode: "lines+markers", line: {color: c("sdmt")}, marker: {symbol: sym("sdmt"), size: 6, color: c("sdmt")},
        hovertemplate: "SDMT %{y} points<br>%{x}<extra></extra>"});
    }
    if (ids.tests) {
      layout.shapes.push({type: "rect", xref: "paper", x0: 0, x1: 1, yref: ids.tests, y0: 80, y1: 120, fillcolor: c("meaningful_band"), opacity: 0.45, line: {width: 0}, layer: "below"});
      [["t25fw", w, plain ? "25-foot walk" : "T25FW"], ["nhpt", p, plain ? "peg test" : "9HPT"]].forEach(function (z) {
        if (!z[1][0].length) { return; }
        var base = z[1][1][0];
        traces.push({x: z[1][0], y: z[1][1].map(function (v) { return 100 * v / base; }), yaxis: ids.tests, mode: "lines+markers",
          line: {color: c(z[0])}, marker: {symbol: sym(z[0]), size: 7, color: c(z[0])}, hoverinfo: "text",
          text: z[1][1].map(function (v, i) { return z[2] + " " + v + "\u00a0s (" + Math.round(100 * v / base) + "\u00a0% of " + base + "\u00a0s) on " + z[1][0][i]; })});
      });
    }
    function mriTrace(lane, list, value, kind, extra) {
      if (!list.length) { return; }
      var t = {x: list.map(function (m) { return m.date; }), y: list.map(value), yaxis: ids[lane], mode: "markers+text",
        marker: {symbol: sym(kind), size: 10, color: c(kind)}, text: list.map(function (m) { return value(m) > 0 ? String(value(m)) : ""; }),
        textposition: "top center", textfont: {size: 10}, cliponaxis: false, hoverinfo: "text",
        hovertext: list.map(function (m) { return (extra ? extra(m) : kind + " " + value(m)) + " on " + m.date + " (click: lesion QC)"; }),
        customdata: list.map(function (m) { return m.date; })};
      traces.push(t);
    }
    if (ids.t2) {
      var t2 = mri.filter(function (m) { return m.t2_lesions !== null; });
      mriTrace("t2", t2, function (m) { return m.t2_lesions; }, "t2_lesions", function (m) { return m.t2_lesions + " T2 lesions"; });
      traces[traces.length - 1].mode = "lines+markers";
      traces[traces.length - 1].line = {color: c("t2_lesions")};
    }
    if (ids.activity) {
      var withCounts = mri.filter(function (m) { return m.new_enlarging !== null || m.gd_enhancing !== null; });
      var quiet = mri.filter(function (m) { return m.new_enlarging === null && m.gd_enhancing === null && m.active === false; });
      var active = mri.filter(function (m) { return m.new_enlarging === null && m.gd_enhancing === null && m.active === true; });
      mriTrace("activity", withCounts.filter(function (m) { return m.new_enlarging !== null; }), function (m) { return m.new_enlarging; }, "new_enlarging", function (m) { return m.new_enlarging + " new/enlarging T2"; });
      mriTrace("activity", withCounts.filter(function (m) { return m.gd_enhancing !== null; }), function (m) { return m.gd_enhancing; }, "gd_enhancing", function (m) { return m.gd_enhancing + " Gd+"; });
      mriTrace("activity", quiet, function () { return 0; }, "mri_quiet", function () { return "no activity"; });
      mriTrace("activity", active, function () { return counted ? 1 : 0; }, "mri_active", function () { return "activity (no counts)"; });
      traces.forEach(function (t) { if (t.yaxis === ids.activity && t.marker.symbol !== sym("new_enlarging") && t.marker.symbol !== sym("gd_enhancing")) { t.mode = "markers"; } });
    }
    if (ids.prl) { mriTrace("prl", rated("n_prl"), function (m) { return m.n_prl; }, "PRL", function (m) { return m.n_prl + " PRL of " + m.n_lesions + " lesions"; }); }
    if (ids.sel) { mriTrace("sel", rated("n_sel"), function (m) { return m.n_sel; }, "SEL", function (m) { return m.n_sel + " definite SEL"; }); }
    lastVisitMarks(d, layout, range, plain);
    layout.xaxis = {type: "date", range: [iso(range[0]), iso(range[1])], anchor: layout.bottomAxis, fixedrange: phone,
      nticks: phone ? 5 : 10, tickfont: {size: phone ? 10 : 11}, showgrid: true};
    var ids2 = layout.ids;
    delete layout.ids; delete layout.bottomAxis;
    layout.margin = {l: phone ? 34 : 48, r: phone ? 8 : 16, t: 34, b: 30};
    layout.showlegend = false;
    layout.hovermode = "closest";
    layout.dragmode = phone ? false : "zoom";
    layout.font = {family: "system-ui, sans-serif"};
    Plotly.newPlot(el, traces, layout, {displayModeBar: false, responsive: true, scrollZoom: false}).then(function () {
      el.on("plotly_click", function (ev) {
        var pt = ev.points && ev.points[0];
        if (pt && pt.customdata && [ids2.t2, ids2.activity, ids2.prl, ids2.sel].indexOf(pt.data.yaxis) >= 0) {
          location.hash = "scan-" + pt.customdata;
        }
      });
    });
  }

  function device(el, d, phone) {
    var P = d.palette, L = d.labels || {}, plain = d.mode === "plain";
    function c(k) { return (P[k] || {}).colour || "#444"; }
    function sym(k) { return (P[k] || {}).symbol || "circle"; }
    var names = Object.keys(d.device || {}).filter(function (m) { return d.device[m].dates.length; });
    if (!names.length) { return; }
    var lanes = new Lanes(phone), traces = [], all = [];
    names.forEach(function (m) {
      var unit = d.units[m] && d.units[m] !== "count" ? " (" + d.units[m] + ")" : "";
      lanes.add(m, d.measure_names[m] + (plain ? "" : unit) + ", weekly", phone ? 110 : 120, {rangemode: "tozero"});
      d.device[m].dates.forEach(function (x) { if (x) { all.push(ms(x)); } });
    });
    var layout = lanes.layout(34, 30), ids = layout.ids;
    var range = span(all, d.today, 14, 14);
    names.forEach(function (m) {
      var s = d.device[m], unit = d.units[m] || "";
      traces.push({x: s.dates, y: s.values, yaxis: ids[m], mode: "lines", line: {color: c(m), width: 1.5},
        hovertemplate: "%{y} " + unit + "<br>week of %{x}<extra></extra>"});
      (d.declines || []).filter(function (x) { return x.measure === m; }).forEach(function (x) {
        var start = Math.max(range[0] + 14 * DAY, ms(x.onset_date) - 182 * DAY);
        if (x.baseline_value !== null) {
          traces.push({x: [iso(start), x.onset_date], y: [x.baseline_value, x.baseline_value], yaxis: ids[m], mode: "lines",
            line: {color: c("device_baseline"), width: 1.5, dash: "dash"}, hoverinfo: "text",
            text: (plain ? "your usual level: " : "baseline ") + fmt(x.baseline_value) + " " + unit});
        }
        var after = {x: [], y: []};
        s.dates.forEach(function (dd, i) { if (dd && dd >= x.onset_date && s.values[i] !== null) { after.x.push(dd); after.y.push(s.values[i]); } });
        traces.push({x: after.x, y: after.y, yaxis: ids[m], mode: "lines", line: {color: c("digital_decline"), width: 2.5}, hoverinfo: "skip"});
        if (x.onset_value !== null) {
          traces.push({x: [x.mark_date || x.onset_date], y: [x.onset_value], yaxis: ids[m], mode: "markers",
            marker: {symbol: sym("digital_decline"), size: 16, color: c("digital_decline"), line: {width: 3, color: c("digital_decline")}},
            hoverinfo: "text", text: (plain ? "a lasting drop began " : "sustained decline from ") + x.onset_date +
              (x.change_pct !== null ? " (" + Math.round(x.change_pct) + "\u00a0%)" : "") +
              (x.after_last_point ? (plain ? ", after your last weekly value (marked on it)" : ", after the last weekly value (marked on it)") : "")});
        }
      });
    });
    lastVisitMarks(d, layout, range, plain);
    layout.xaxis = {type: "date", range: [iso(range[0]), iso(range[1])], anchor: layout.bottomAxis, fixedrange: phone,
      nticks: phone ? 5 : 10, tickfont: {size: phone ? 10 : 11}};
    delete layout.ids; delete layout.bottomAxis;
    layout.margin = {l: phone ? 40 : 56, r: phone ? 8 : 16, t: 34, b: 30};
    layout.showlegend = false;
    layout.hovermode = "closest";
    layout.dragmode = phone ? false : "zoom";
    Plotly.newPlot(el, traces, layout, {displayModeBar: false, responsive: true, scrollZoom: false});
  }

  function localTimes() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (err) { zone = ""; }
    document.querySelectorAll("time[data-local]").forEach(function (t) {
      var when = new Date(t.getAttribute("datetime"));
      if (isNaN(when)) { return; }
      t.textContent = when.toLocaleString(undefined, {day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit"});
    });
    document.querySelectorAll("[data-tz]").forEach(function (e) { e.textContent = zone || "local time"; });
  }

  // the section a link points at is opened, with every folded section around it (an evidence
  // link of the verdict panel, a lesion QC link of the MRI table)
  function openScan() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) { return; }
    var inner = el.querySelector(":scope > details.fold");
    if (inner) { inner.open = true; }
    for (var p = el; p; p = p.parentElement) { if (p.tagName === "DETAILS") { p.open = true; } }
    if (el.tagName === "DETAILS" || inner) { el.scrollIntoView(); }
  }

  // on a phone the secondary sections start folded (one line each: their title and count);
  // without the script, or on a wider screen, everything is open
  function foldOnPhone() {
    if (!window.matchMedia("(max-width: 600px)").matches) { return; }
    document.querySelectorAll("details[data-phone-fold]").forEach(function (d) { d.open = false; });
    // a saved notice leaves open the section it speaks of (the new lifestyle log entry)
    var saved = document.getElementById("saved");
    var shown = saved && document.getElementById(saved.getAttribute("data-opens") || "");
    var fold = shown && shown.querySelector(":scope > details.fold");
    if (fold) { fold.open = true; }
  }

  function draw() {
    localTimes();
    foldOnPhone();
    openScan();
    window.addEventListener("hashchange", openScan);
    document.querySelectorAll("a[href^='#']").forEach(function (a) {
      a.addEventListener("click", function () { setTimeout(openScan, 0); });
    });
    var src = document.getElementById("timeline-data");
    if (!src || typeof Plotly === "undefined") { return; }
    var d = JSON.parse(src.textContent);
    var phone = window.matchMedia("(max-width: 600px)").matches;
    var el = document.getElementById("timeline");
    if (el) { clinic(el, d, phone); }
    var dv = document.getElementById("device-plot");
    if (dv) { device(dv, d, phone); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
}());

// Drawing of the plots shared by the viewer and the report (data from vidjil/plots.py).
// VidjilPlots.curves(div, data), .heatmaps(holder, grids, options), .spectratype(div, data),
// .highlight(div, top). Page behaviour goes through events dispatched on `document`:
//   "vidjil:clone" {detail: {top}}  a clone was highlighted (top: null when the highlight is reset)
//   "vidjil:vj" {detail: {locus, v, j}}  a heatmap cell was clicked
// No external resource, no eval: plotly.js is loaded by the page before this file.
"use strict";

const VidjilPlots = (() => {
  const CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  const DIMMED = 0.15;
  // Sequential scale from near-white (0 reads) to dark blue (the most reads).
  const LIGHT_TO_DARK = [
    [0, "#f7fbff"], [0.125, "#deebf7"], [0.25, "#c6dbef"], [0.375, "#9ecae1"], [0.5, "#6baed6"],
    [0.625, "#4292c6"], [0.75, "#2171b5"], [0.875, "#08519c"], [1, "#08306b"],
  ];

  function dispatch(name, detail) {
    document.dispatchEvent(new CustomEvent(name, {detail: detail}));
  }

  // Clones over time.

  function cloneTop(trace) {
    return trace.meta && trace.meta.top !== undefined ? trace.meta.top : null;
  }

  // Highlights the clone `top` (others dimmed, never hidden); null resets. Returns the highlighted top.
  function highlight(div, top) {
    const traces = div.data || [];
    const index = traces.findIndex((t) => top !== null && cloneTop(t) === top);
    const chosen = index < 0 ? null : top;
    const opacity = traces.map((t, k) => (chosen === null || k === index || cloneTop(t) === null ? 1 : DIMMED));
    const width = traces.map((t, k) => {
      const base = t.meta && t.meta.width ? t.meta.width : 2;
      return k === index ? Math.max(5, base + 2) : base;
    });
    Plotly.restyle(div, {opacity: opacity, "line.width": width});
    div.dataset.highlighted = chosen === null ? "" : String(chosen);
    return chosen;
  }

  // A click on a clone highlights it, a second click (or a double-click) resets.
  function toggle(div, top) {
    const current = div.dataset.highlighted ? Number(div.dataset.highlighted) : null;
    const chosen = highlight(div, top === current ? null : top);
    dispatch("vidjil:clone", {top: chosen});
  }

  function reset(div) {
    if (!div.dataset.highlighted) return;
    highlight(div, null);
    dispatch("vidjil:clone", {top: null});
  }

  function curves(div, data) {
    if (!div || !data || !data.traces) return Promise.resolve();
    const layout = Object.assign({autosize: true}, data.layout);
    return Plotly.newPlot(div, data.traces, layout, CONFIG).then(() => {
      div.on("plotly_legendclick", (event) => {
        const top = cloneTop(event.data[event.curveNumber]);
        if (top !== null) toggle(div, top);
        return false;  // never hide a trace
      });
      // plotly reports the second click of a double-click as a click too (which toggled already)
      div.on("plotly_legenddoubleclick", () => {
        reset(div);
        return false;
      });
      div.on("plotly_click", (event) => {
        const top = event.points.length ? cloneTop(event.points[0].data) : null;
        if (top !== null) toggle(div, top);
      });
      div.on("plotly_doubleclick", () => reset(div));
    });
  }

  // V x J heatmaps.

  function logTicks(max) {
    const vals = [0];
    for (let reads = 1; reads <= Math.max(1, max) * 10; reads *= 10) vals.push(reads);
    return vals.filter((r) => r <= Math.max(1, max));
  }

  function heatmapTrace(grid, log) {
    const max = Math.max(0, ...grid.z.flat());
    const trace = {
      type: "heatmap", x: grid.x, y: grid.y, z: grid.z, text: grid.text, colorscale: LIGHT_TO_DARK,
      zmin: 0, zmax: Math.max(1, max), xgap: 1, ygap: 1,
      hovertemplate: "%{y} × %{x}<br>%{text}<extra></extra>",
      colorbar: {title: {text: "reads"}, thickness: 14},
    };
    if (log) {
      const ticks = logTicks(max);
      trace.z = grid.z.map((row) => row.map((reads) => Math.log10(1 + reads)));
      trace.zmax = Math.log10(1 + Math.max(1, max));
      trace.colorbar.title = {text: "reads (log)"};
      trace.colorbar.tickvals = ticks.map((reads) => Math.log10(1 + reads));
      trace.colorbar.ticktext = ticks.map((reads) => reads.toLocaleString("en"));
    }
    return trace;
  }

  // Rows of 18 px so that every V gene is labelled.
  function heatmapHeight(grid) {
    return Math.max(260, 110 + 18 * grid.y.length);
  }

  function heatmapLayout() {
    return {
      autosize: true,
      margin: {t: 10, r: 10, b: 70},
      xaxis: {title: {text: "J gene"}, type: "category", tickangle: -40},
      yaxis: {title: {text: "V gene"}, type: "category", automargin: true},
      hoverlabel: {align: "left"},
      plot_bgcolor: "#ffffff",
    };
  }

  function heatmap(div, grid, log) {
    div.style.height = heatmapHeight(grid) + "px";
    return Plotly.newPlot(div, [heatmapTrace(grid, log)], heatmapLayout(), CONFIG).then(() => {
      div.on("plotly_click", (event) => {
        const point = event.points[0];
        if (point) dispatch("vidjil:vj", {locus: grid.locus, v: String(point.y), j: String(point.x)});
      });
    });
  }

  let controls = 0;

  // One heatmap per locus of `grids` ({locus: {locus, x, y, z, text, ...}}), each under a heading;
  // options: {log: false, controls: true (a "log colour scale" checkbox), heading: "h3"}.
  function heatmaps(holder, grids, options) {
    if (!holder || !grids) return Promise.resolve();
    const opts = Object.assign({log: false, controls: true, heading: "h3"}, options || {});
    const divs = [];
    holder.replaceChildren();
    if (opts.controls && Object.keys(grids).length) {
      controls += 1;
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = "vj-log-" + controls;
      box.className = "vj-log";
      box.checked = opts.log;
      label.htmlFor = box.id;
      label.append(box, " log colour scale");
      box.addEventListener("change", () => {
        divs.forEach(([div, grid]) => Plotly.react(div, [heatmapTrace(grid, box.checked)], heatmapLayout(), CONFIG));
      });
      holder.append(label);
    }
    const drawn = Object.keys(grids).map((locus) => {
      const title = document.createElement(opts.heading);
      title.textContent = locus;
      const div = document.createElement("div");
      div.className = "plot vj-heatmap";
      div.dataset.locus = locus;
      holder.append(title, div);
      divs.push([div, grids[locus]]);
      return heatmap(div, grids[locus], opts.log);
    });
    return Promise.all(drawn);
  }

  // CDR3 length distribution: {locus: {length: reads}}.
  function spectratype(div, byLocus) {
    if (!div || !byLocus) return Promise.resolve();
    const traces = Object.keys(byLocus).map((locus) => ({
      type: "bar", name: locus, x: Object.keys(byLocus[locus]).map(Number), y: Object.values(byLocus[locus]),
      hovertemplate: "%{x} aa: %{y} reads<extra>" + locus + "</extra>",
    }));
    // Every length labelled over a short span (a lone odd length had no tick), every other one beyond.
    const lengths = traces.flatMap((t) => t.x);
    const span = lengths.length ? Math.max(...lengths) - Math.min(...lengths) : 0;
    const layout = {
      autosize: true, barmode: "group", margin: {t: 10, r: 10},
      xaxis: {title: {text: "CDR3 length (aa)"}, dtick: span > 16 ? 2 : 1}, yaxis: {title: {text: "reads"}},
    };
    return Plotly.newPlot(div, traces, layout, CONFIG);
  }

  return {curves: curves, heatmaps: heatmaps, spectratype: spectratype, highlight: highlight,
          LIGHT_TO_DARK: LIGHT_TO_DARK};
})();
window.VidjilPlots = VidjilPlots;

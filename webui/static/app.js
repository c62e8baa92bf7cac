// Plots of the viewer's pages, from the JSON block #plot-data (no inline script).
"use strict";

function drawCurves(traces) {
  const div = document.getElementById("curves");
  if (!div) return;
  Plotly.newPlot(div, traces, {yaxis: {type: "log", title: "fraction of detected reads"}, hovermode: "closest",
                               margin: {t: 10}});
  div.on("plotly_click", (event) => {
    const index = event.points[0].curveNumber;
    const opacity = traces.map((_, k) => (k === index || k === traces.length - 1 ? 1 : 0.15));
    Plotly.restyle(div, {opacity: opacity});
    const rank = traces[index].customdata ? traces[index].customdata[0] : null;
    document.querySelectorAll("#followed tr").forEach((row) => {
      row.classList.toggle("highlight", rank !== null && row.dataset.rank === String(rank));
    });
    document.getElementById("highlighted").textContent = traces[index].name;
  });
}

function drawGrids(grids) {
  const holder = document.getElementById("vj");
  if (!holder) return;
  Object.keys(grids).forEach((locus) => {
    const title = document.createElement("h3");
    title.textContent = locus;
    const div = document.createElement("div");
    div.className = "plot";
    holder.append(title, div);
    const g = grids[locus];
    Plotly.newPlot(div, [{type: "heatmap", x: g.x, y: g.y, z: g.z, colorscale: "Blues"}],
                   {xaxis: {title: "J"}, yaxis: {title: "V", automargin: true}, margin: {t: 10}});
  });
}

function drawSpectratype(byLocus) {
  const div = document.getElementById("spectratype");
  if (!div) return;
  const traces = Object.keys(byLocus).map((locus) => ({
    type: "bar", name: locus, x: Object.keys(byLocus[locus]).map(Number), y: Object.values(byLocus[locus]),
  }));
  Plotly.newPlot(div, traces, {barmode: "group", xaxis: {title: "CDR3 length (aa)"}, yaxis: {title: "reads"},
                               margin: {t: 10}});
}

document.addEventListener("DOMContentLoaded", () => {
  const block = document.getElementById("plot-data");
  if (!block || typeof Plotly === "undefined") return;
  const data = JSON.parse(block.textContent);
  if (data.curves) drawCurves(data.curves);
  if (data.vj) drawGrids(data.vj);
  if (data.spectratype) drawSpectratype(data.spectratype);
});

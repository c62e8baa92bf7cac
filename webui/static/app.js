// Page behaviour, without inline script: the plots (drawn by plots.js from the
// JSON block #plot-data), the table's answer to plot clicks (vidjil:clone,
// vidjil:vj events) and the clone selection bar (GET links to exports).
"use strict";

function drawPlots() {
  const block = document.getElementById("plot-data");
  if (!block || typeof VidjilPlots === "undefined") return;
  const data = JSON.parse(block.textContent);
  const curves = document.getElementById("curves");
  if (curves && data.curves) VidjilPlots.curves(curves, data.curves);
  const vj = document.getElementById("vj");
  if (vj && data.vj) VidjilPlots.heatmaps(vj, data.vj, {});
  const spectratype = document.getElementById("spectratype");
  if (spectratype && data.spectratype) VidjilPlots.spectratype(spectratype, data.spectratype);
}

function highlightClone(top) {
  document.querySelectorAll("table.clones tbody tr").forEach((row) => {
    row.classList.toggle("highlight", row.dataset.rank === String(top));
  });
  const row = top === null ? null : document.getElementById(`clone-${top}`);
  if (row) {
    row.hidden = false;
    row.scrollIntoView({block: "center"});
  }
}

function showVJFilter(v, j) {
  const line = document.getElementById("vj-filter");
  document.querySelectorAll("table.clones tbody tr").forEach((row) => {
    row.hidden = v !== null && !(row.dataset.v === v && row.dataset.j === j);
  });
  if (line) {
    line.hidden = v === null;
    line.querySelector(".what").textContent = v === null ? "" : `${v} x ${j}`;
  }
}

function filterVJ(v, j) {
  if (document.querySelector("table.clones[data-vj=client]")) {
    showVJFilter(v, j);
    document.getElementById("clones").scrollIntoView();
  } else if (document.getElementById("clone-filter")) {
    // A sample's clones are paged on the server: filter there.
    const url = new URL(window.location.href);
    url.searchParams.set("v", v);
    url.searchParams.set("j", j);
    url.searchParams.delete("page");
    url.hash = "clones";
    window.location.assign(url.toString());
  }
}

function setupSelection() {
  const bar = document.getElementById("selection");
  if (!bar) return;
  const update = () => {
    const ranks = Array.from(document.querySelectorAll("input.pick:checked")).map((box) => box.value);
    bar.querySelector(".count").textContent = `${ranks.length} clone${ranks.length === 1 ? "" : "s"} selected`;
    bar.classList.toggle("empty", ranks.length === 0);
    const query = `?${bar.dataset.param}=${ranks.join(",")}`;
    const links = [...bar.querySelectorAll("a.export")].map((a) => [a, `${bar.dataset.export}.${a.dataset.format}`]);
    links.push([bar.querySelector("a.compare"), bar.dataset.compare]);
    links.forEach(([a, base]) => {
      if (ranks.length) {
        a.href = base + query;
        a.removeAttribute("aria-disabled");
      } else {
        a.removeAttribute("href");
        a.setAttribute("aria-disabled", "true");
      }
    });
  };
  document.addEventListener("change", (event) => {
    if (!event.target.matches("input.pick")) return;
    event.target.closest("tr").classList.toggle("selected", event.target.checked);
    update();
  });
  bar.querySelector("button.clear").addEventListener("click", () => {
    document.querySelectorAll("input.pick:checked").forEach((box) => {
      box.checked = false;
      box.closest("tr").classList.remove("selected");
    });
    update();
  });
  update();
}

// A followed clone's row clicked (not its checkbox or a link): its curve highlighted.
function setupRowHighlight() {
  const curves = document.getElementById("curves");
  const table = document.querySelector("table.clones[data-vj=client]");
  if (!curves || !table || typeof VidjilPlots === "undefined") return;
  table.addEventListener("click", (event) => {
    const row = event.target.closest("tbody tr");
    if (!row || event.target.closest("a, input, label")) return;
    const top = Number(row.dataset.rank);
    const chosen = VidjilPlots.highlight(curves, curves.dataset.highlighted === String(top) ? null : top);
    highlightClone(chosen);
  });
}

document.addEventListener("vidjil:clone", (event) => highlightClone(event.detail.top));
document.addEventListener("vidjil:vj", (event) => filterVJ(event.detail.v, event.detail.j));

document.addEventListener("DOMContentLoaded", () => {
  setupSelection();
  const clear = document.querySelector("#vj-filter .clear-vj");
  if (clear) clear.addEventListener("click", () => showVJFilter(null, null));
  drawPlots();
  setupRowHighlight();
});

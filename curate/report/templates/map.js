// report.html's interactive map: the points come from curate.report.interactive as JSON in
// #map-data; drawn as SVG markup (no library, no network). Hover: a row's label, text and
// the selector's reason; the label picker fades every other label's dots.
(function () {
  const data = JSON.parse(document.getElementById("map-data").textContent);
  const svg = document.getElementById("map");
  const tip = document.getElementById("map-tip");
  const pick = document.getElementById("map-label");
  const W = 760, H = 520, PAD = 12;
  const labels = data.labels || [];
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  function colour(i) {
    if (i < 0) return "#d62728";
    if (labels.length <= palette.length) return palette[i];
    // Golden-angle hues with alternating lightness: neighbours in label order differ most.
    return "hsl(" + ((i * 137.508) % 360).toFixed(1) + ",70%," + (i % 2 ? 38 : 55) + "%)";
  }
  const everything = data.pool.concat(data.selected, data.target);
  const xs = everything.map(p => p[0]), ys = everything.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = x => PAD + (x - x0) / ((x1 - x0) || 1) * (W - 2 * PAD);
  const sy = y => H - PAD - (y - y0) / ((y1 - y0) || 1) * (H - 2 * PAD);
  const parts = [];
  data.pool.forEach((p, i) => parts.push('<circle class="pool" data-k="p' + i + '" cx="' +
    sx(p[0]).toFixed(1) + '" cy="' + sy(p[1]).toFixed(1) + '" r="2.2" fill="#c8c8c8"/>'));
  data.selected.forEach((p, i) => parts.push('<circle class="sel" data-k="s' + i +
    '" data-l="' + p[2] + '" cx="' + sx(p[0]).toFixed(1) + '" cy="' + sy(p[1]).toFixed(1) +
    '" r="4.2" fill="' + colour(p[2]) + '" stroke="#222" stroke-width="0.6"/>'));
  data.target.forEach(p => {
    const x = sx(p[0]), y = sy(p[1]);
    parts.push('<path d="M' + (x - 3) + ' ' + (y - 3) + 'l6 6m0 -6l-6 6" stroke="#000" ' +
               'stroke-width="1.2"/>');
  });
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.innerHTML = parts.join("");
  const counts = new Map();
  data.selected.forEach(p => counts.set(p[2], (counts.get(p[2]) || 0) + 1));
  labels.forEach((name, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = (name || "(empty)") + " (" + (counts.get(i) || 0) + " selected)";
    option.style.color = colour(i);
    pick.appendChild(option);
  });
  pick.addEventListener("change", () => {
    const want = pick.value;
    svg.querySelectorAll("circle.sel").forEach(c => {
      c.style.opacity = want === "" || c.dataset.l === want ? "1" : "0.08";
    });
  });
  function show(event) {
    const k = event.target.dataset && event.target.dataset.k;
    if (!k) { tip.style.display = "none"; return; }
    const p = (k[0] === "s" ? data.selected : data.pool)[Number(k.slice(1))];
    tip.textContent = "";
    const head = document.createElement("b");
    head.textContent = (k[0] === "s" ? "selected" : "not selected") +
      (p[2] >= 0 ? " · " + (labels[p[2]] || "(empty)") : "");
    const text = document.createElement("div");
    text.textContent = p[3];
    tip.append(head, text);
    if (p[4]) {
      const why = document.createElement("div");
      why.className = "reason";
      why.textContent = "why: " + p[4];
      tip.append(why);
    }
    const box = svg.parentElement.getBoundingClientRect();
    tip.style.left = (event.clientX - box.left + 14) + "px";
    tip.style.top = (event.clientY - box.top + 10) + "px";
    tip.style.display = "block";
  }
  svg.addEventListener("mousemove", show);
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });
})();

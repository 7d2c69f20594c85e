// Zoom and pan for the timeline: every element placed in time carries its
// times (data-a, data-b: ns since the start); drawing moves them into the
// visible window [v0, v1]. No network, no library.
(function () {
  "use strict";
  const svg = document.getElementById("timeline");
  if (!svg) return;
  const NS = "http://www.w3.org/2000/svg";
  const X0 = +svg.dataset.plotX;
  const W = +svg.dataset.plotW;
  const SPAN = Math.max(+svg.dataset.spanNs, 1);
  const MIN_WINDOW = 1000; // 1 µs
  const placed = Array.from(svg.querySelectorAll(".span, .mark, .flow"));
  const axis = document.getElementById("axis");
  let v0 = 0;
  let v1 = SPAN;

  const x = (t) => X0 + ((t - v0) / (v1 - v0)) * W;

  // `ns` since the start, with as many digits as a tick `step` needs.
  function fmt(ns, step) {
    const unit = step >= 1e8 ? [1e9, "s"] : step >= 1e5 ? [1e6, "ms"] : step >= 100 ? [1e3, "µs"] : [1, "ns"];
    const digits = Math.max(0, Math.ceil(-Math.log10(step / unit[0]) - 1e-9));
    const sign = ns < 0 ? "−" : "+";
    return sign + (Math.abs(ns) / unit[0]).toFixed(Math.min(digits, 3)) + " " + unit[1];
  }

  function niceStep(range) {
    const raw = range / 8;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function drawAxis() {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    const step = niceStep(v1 - v0);
    const h = +svg.getAttribute("height");
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      const px = x(t);
      const line = document.createElementNS(NS, "line");
      line.setAttribute("class", "tick");
      line.setAttribute("x1", px.toFixed(1));
      line.setAttribute("x2", px.toFixed(1));
      line.setAttribute("y1", "2");
      line.setAttribute("y2", String(h));
      axis.appendChild(line);
      if (px > X0 + W - 40) continue; // no room for its label
      const text = document.createElementNS(NS, "text");
      text.setAttribute("class", "tick-label");
      text.setAttribute("x", (px + 3).toFixed(1));
      text.setAttribute("y", "0");
      text.textContent = fmt(t, step);
      axis.appendChild(text);
    }
  }

  function draw() {
    for (const e of placed) {
      const a = +e.dataset.a;
      const xa = x(a);
      if (e.classList.contains("span")) {
        const xb = x(+e.dataset.b);
        e.setAttribute("x", xa.toFixed(1));
        e.setAttribute("width", Math.max(xb - xa, 2).toFixed(1));
      } else if (e.classList.contains("mark")) {
        e.setAttribute("transform", "translate(" + xa.toFixed(1) + "," + e.dataset.y + ")");
      } else {
        const xb = x(+e.dataset.b);
        const y1 = +e.dataset.y1;
        const y2 = +e.dataset.y2;
        const mid = ((y1 + y2) / 2).toFixed(1);
        e.setAttribute(
          "d",
          "M" + xa.toFixed(1) + "," + y1 + " C" + xa.toFixed(1) + "," + mid + " " +
            xb.toFixed(1) + "," + mid + " " + xb.toFixed(1) + "," + y2
        );
      }
    }
    drawAxis();
    const label = document.getElementById("window");
    if (label) label.textContent = fmt(v0, (v1 - v0) / 10) + " … " + fmt(v1, (v1 - v0) / 10);
  }

  function show(a, b) {
    if (b - a < MIN_WINDOW) {
      const m = (a + b) / 2;
      a = m - MIN_WINDOW / 2;
      b = m + MIN_WINDOW / 2;
    }
    const pad = SPAN * 0.05;
    v0 = Math.max(a, -pad);
    v1 = Math.min(b, SPAN + pad);
    draw();
  }

  function zoom(factor, at) {
    show(at - (at - v0) * factor, at + (v1 - at) * factor);
  }

  const timeAt = (clientX) => {
    const r = svg.getBoundingClientRect();
    const px = ((clientX - r.left) / r.width) * +svg.getAttribute("width");
    return v0 + ((px - X0) / W) * (v1 - v0);
  };

  svg.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, timeAt(ev.clientX));
    },
    { passive: false }
  );

  let drag = null;
  const scale = () => +svg.getAttribute("width") / svg.getBoundingClientRect().width;
  svg.addEventListener("mousedown", (ev) => {
    drag = { x: ev.clientX, v0: v0, v1: v1, moved: false };
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dx = (ev.clientX - drag.x) * scale();
    if (Math.abs(dx) > 2) drag.moved = true;
    const dt = (-dx / W) * (drag.v1 - drag.v0);
    v0 = drag.v0 + dt;
    v1 = drag.v1 + dt;
    draw();
  });
  window.addEventListener("mouseup", () => {
    setTimeout(() => (drag = null), 0);
  });
  svg.addEventListener("dblclick", () => show(0, SPAN));
  for (const band of svg.querySelectorAll(".band")) {
    band.addEventListener("click", () => {
      if (drag && drag.moved) return;
      const a = +band.dataset.a;
      const b = +band.dataset.b;
      const pad = Math.max((b - a) * 0.05, MIN_WINDOW);
      show(a - pad, b + pad);
    });
  }
  const button = (id, f) => {
    const b = document.getElementById(id);
    if (b) b.addEventListener("click", f);
  };
  button("zoom-in", () => zoom(0.5, (v0 + v1) / 2));
  button("zoom-out", () => zoom(2, (v0 + v1) / 2));
  button("zoom-fit", () => show(0, SPAN));

  // `page.html#t=A,B` opens on that window (ns since the start).
  const m = /^#t=(-?\d+),(-?\d+)$/.exec(location.hash);
  if (m && +m[2] > +m[1]) show(+m[1], +m[2]);
  else draw();

  // What the browser really drew: rows whose bars have a size on screen.
  // Tests read this from the DOM; people never see it.
  const drawn = {};
  for (const row of svg.querySelectorAll(".row")) {
    const bar = row.querySelector(".span");
    if (!bar) continue;
    const r = bar.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) {
      row.dataset.visible = "1";
      drawn[row.dataset.kind] = (drawn[row.dataset.kind] || 0) + 1;
    }
  }
  document.body.dataset.drawn = Object.keys(drawn)
    .sort()
    .map((k) => k + ":" + drawn[k])
    .join(" ");
})();

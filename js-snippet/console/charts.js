// The console's dashboard charts: decisions per day by action, and the opt-in rate per
// category, drawn with uPlot from the series the page carries as JSON (no request of its own).
import uPlot from "uplot";

const COLOURS = ["#0b5cad", "#a4001b", "#7a4b00", "#116329", "#6f42c1", "#1b1f24", "#c2185b"];
const data = JSON.parse(document.getElementById("series").textContent);
const days = data.days.map((day) => Date.parse(day + "T00:00:00Z") / 1000);
const width = (el) => Math.max(280, el.clientWidth);

const chart = (el, title, names, values, scale) => {
  const series = [{}].concat(
    names.map((name, i) => ({
      label: name.replace(/_/g, " "),
      stroke: COLOURS[i % COLOURS.length],
      width: 2,
      value: scale ? (u, v) => (v == null ? "—" : Math.round(v * 100) + " %") : undefined,
    })),
  );
  const plot = new uPlot(
    {
      title,
      width: width(el),
      height: 260,
      series,
      scales: scale ? { y: { range: [0, 1] } } : {},
      axes: [{}, { values: scale ? (u, ticks) => ticks.map((t) => Math.round(t * 100) + " %") : undefined }],
    },
    [days, ...values],
    el,
  );
  addEventListener("resize", () => plot.setSize({ width: width(el), height: 260 }));
};

const actions = Object.keys(data.actions);
chart(
  document.getElementById("chart-actions"),
  "Decisions per day",
  [...actions, "gpc"],
  [...actions.map((a) => data.actions[a]), data.gpc],
  false,
);
const categories = Object.keys(data.opt_in);
if (categories.length)
  chart(
    document.getElementById("chart-opt-in"),
    "Opt-in rate per category",
    categories,
    categories.map((c) => data.opt_in[c]),
    true,
  );

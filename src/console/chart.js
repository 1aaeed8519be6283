// A uPlot time series in a Preact component: made once, its data replaced when the points change.
// uPlot is loaded the first time a chart is drawn (its own file in the bundle): the pages without
// charts never load or evaluate it.
import { useEffect, useRef } from 'preact/hooks';
import { html } from './ui.js';

let uPlotModule = null;
/** uPlot, loaded once (app.js asks it at start on a page with charts, while the page's data is on its way). */
export const loadUplot = () => {
  uPlotModule ??= import('uplot').then((m) => m.default);
  return uPlotModule;
};

const COLORS = ['#0b57d0', '#b3261e', '#6b4f00'];

/**
 * `points`: [{t, ...}] from /api/audit/series; `series`: [{key, label}]. The summary in `label`
 * (totals) is the chart's text alternative.
 */
export function Chart({ title, points, series, format = (v) => String(v) }) {
  const box = useRef(null);
  const plot = useRef(null);
  const data = [points.map((p) => p.t / 1000), ...series.map((s) => points.map((p) => p[s.key]))];
  const totals = series.map((s) => `${s.label} ${format(points.reduce((a, p) => a + p[s.key], 0))}`).join(', ');
  const latest = useRef(data);
  latest.current = data;
  useEffect(() => {
    let gone = false;
    loadUplot().then((uPlot) => {
      if (gone) return;
      const width = Math.max(240, box.current.clientWidth);
      plot.current = new uPlot(
        {
          width,
          height: 160,
          legend: { show: true },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [{ stroke: '#444' }, { stroke: '#444', size: 60, values: (_u, vals) => vals.map(format) }],
          series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, value: (_u, v) => (v === null ? '–' : format(v)) }))],
        },
        latest.current,
        box.current,
      );
    });
    return () => {
      gone = true;
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.map((s) => s.key).join()]);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted">(${totals})</span></figcaption>
    <div ref=${box} role="img" aria-label=${`${title}: ${totals}`}></div>
  </figure>`;
}

// A uPlot time series in a Preact component: made once, its data replaced when the points change.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './ui.js';

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
  useEffect(() => {
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
      data,
      box.current,
    );
    return () => plot.current.destroy();
  }, [series.map((s) => s.key).join()]);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted">(${totals})</span></figcaption>
    <div ref=${box} role="img" aria-label=${`${title}: ${totals}`}></div>
  </figure>`;
}

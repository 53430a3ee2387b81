// Charts (uPlot, loaded as a classic script: window.uPlot) over history columns. Each
// chart's wrapper says how many points it holds in `data-points` (the browser test reads it).
import { html, useRef, useEffect } from './vendor/htm/preact-htm.module.js';

const COLORS = ['#2f6fde', '#e0662d', '#1f9d55', '#9b51e0'];

// Steps for counts: no 0.5 viewers.
const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000];

export function Chart({ id, title, at, series, height = 150, integer = false }) {
  const box = useRef(null);
  const plot = useRef(null);
  const data = () => [at.map((t) => t / 1000), ...series.map((s) => s.values)];
  useEffect(() => {
    const el = box.current;
    const opts = {
      title,
      width: Math.max(el.clientWidth, 200),
      height,
      // Every figure is a count, rate or delay: the axis starts at zero.
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? (integer ? Math.ceil(max * 1.1) : max * 1.1) : 1] } },
      axes: [{}, integer ? { size: 55, incrs: INTEGER_STEPS } : { size: 55 }],
      series: [{}, ...series.map((s, i) => ({
        label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: 1.5,
      }))],
      legend: { live: false },
    };
    plot.current = new window.uPlot(opts, data(), el);
    const ro = new ResizeObserver(() => {
      if (el.clientWidth) plot.current.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => { ro.disconnect(); plot.current.destroy(); plot.current = null; };
  }, [series.length, title]);
  useEffect(() => { if (plot.current) plot.current.setData(data()); });
  return html`<div class="chart" data-chart=${id} data-points=${at.length}><div ref=${box}></div></div>`;
}

/** Every charted figure of a stream (its history columns). */
export function StreamCharts({ h, id }) {
  const s = h.samples;
  const secs = s.keyframe_interval_ms.map((v) => (v ? v / 1000 : null));
  return html`<div class="charts">
    <${Chart} id=${id + '-bitrate'} title="Bitrate (kbit/s)" at=${s.at_ms}
      series=${[{ label: 'video', values: s.video_kbps }, { label: 'audio', values: s.audio_kbps }]} />
    <${Chart} id=${id + '-fps'} title="Frame rate (fps)" at=${s.at_ms}
      series=${[{ label: 'fps', values: s.fps }]} />
    <${Chart} id=${id + '-keyframe'} title="Keyframe interval (s)" at=${s.at_ms}
      series=${[{ label: 'interval', values: secs }]} />
    <${Chart} id=${id + '-viewers'} title="Viewers" at=${s.at_ms}
      series=${[{ label: 'viewers', values: s.viewers }]} integer />
    <${Chart} id=${id + '-delay'} title="Delay (ms)" at=${s.at_ms}
      series=${[{ label: 'ingest', values: s.ingest_delay_ms },
                { label: 'distribution', values: s.distribution_delay_ms }]} />
  </div>`;
}

export function Verdicts({ list }) {
  if (!list || !list.length) return null;
  return html`<ul class="verdicts">${list.map((v) =>
    html`<li class=${'verdict ' + v.level} data-code=${v.code}>${v.message}</li>`)}</ul>`;
}

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * Everything a page loads, served by the dashboard itself: no CDN, so it works on a network with no
 * internet. uPlot (MIT, ~50 KB minified, no dependencies) comes from node_modules, read once at start.
 */
export const loadAssets = async (): Promise<ReadonlyMap<string, Asset>> => {
  const require = createRequire(import.meta.url);
  const uplotDir = require.resolve('uplot/dist/uPlot.iife.min.js').replace(/uPlot\.iife\.min\.js$/, '');
  const [uplotJs, uplotCss] = await Promise.all([readFile(`${uplotDir}uPlot.iife.min.js`), readFile(`${uplotDir}uPlot.min.css`)]);
  return new Map<string, Asset>([
    ['/assets/uplot.js', { contentType: 'text/javascript; charset=utf-8', body: uplotJs }],
    ['/assets/dashboard.css', { contentType: 'text/css; charset=utf-8', body: Buffer.concat([uplotCss, Buffer.from(STYLE)]) }],
    ['/assets/charts.js', { contentType: 'text/javascript; charset=utf-8', body: Buffer.from(CHARTS) }],
  ]);
};

// Draws the overview's two charts from the JSON block the page carries; the tables beside them hold
// the same numbers, so the page says everything with JavaScript off.
const CHARTS = `(function () {
  var source = document.getElementById('chart-data');
  if (!source || typeof uPlot === 'undefined') return;
  var data = JSON.parse(source.textContent);
  function draw(id, unit, series, values) {
    var el = document.getElementById(id);
    var width = Math.max(320, Math.min(el.clientWidth || 560, 720));
    var opts = {
      width: width, height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 2, spanGaps: false, points: { show: true, size: 4 } };
      })),
      axes: [{}, { label: unit }],
    };
    new uPlot(opts, [data.t].concat(values), el);
  }
  draw('throughput-chart', 'tasks per minute',
    [{ label: 'completed', color: '#1b7f3b' }, { label: 'failed', color: '#b3261e' }], [data.completed, data.failed]);
  draw('lateness-chart', 'milliseconds',
    [{ label: 'average', color: '#1f5fbf' }, { label: 'worst', color: '#8a5a00' }], [data.latenessAvg, data.latenessMax]);
})();
`;

const STYLE = `
:root { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; }
body { margin: 0; }
.occurrences { list-style: none; margin: 0; padding: 0; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px; z-index: 2; }
header { display: flex; justify-content: space-between; align-items: center; padding: 8px 16px; background: #20303f; color: #fff; }
header a { color: #fff; } header ul { display: inline-flex; gap: 16px; list-style: none; margin: 0 0 0 24px; padding: 0; }
header nav { display: flex; align-items: center; } .brand { font-weight: 700; }
a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
header form { display: inline; } header button { margin-left: 8px; }
main { padding: 8px 16px 32px; max-width: 1200px; }
:focus-visible { outline: 3px solid #e8a400; outline-offset: 2px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid #ccd; padding: 4px 10px; text-align: left; vertical-align: top; }
time { white-space: nowrap; }
thead th { background: #eef1f5; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #8c1d18; max-width: 40em; overflow-wrap: anywhere; }
.details { max-width: 30em; overflow-wrap: anywhere; font-size: 0.9em; }
.status { padding: 1px 6px; border-radius: 4px; background: #e6e6e6; }
.status-failed { background: #f9dedc; } .status-completed { background: #d7f0dd; } .status-processing { background: #dce8fa; }
.status-pending { background: #fff1c7; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; } .chart { min-height: 240px; min-width: 320px; }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; margin: 8px 0 16px; }
.filters label { display: block; font-size: 0.9em; } input, select, button { font: inherit; padding: 3px 6px; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.summary dt { font-weight: 600; } dl.summary dd { margin: 0; }
pre { background: #f4f6f8; padding: 8px; overflow: auto; max-width: 100%; }
.actions { display: flex; gap: 8px; margin: 8px 0; } .notice { background: #d7f0dd; padding: 6px; }
.problem { background: #f9dedc; padding: 6px; } .ok { color: #1b7f3b; } .note, .read-at, .timing { color: #555; }
.pages { display: flex; gap: 16px; }
`;

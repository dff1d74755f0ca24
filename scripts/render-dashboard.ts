#!/usr/bin/env node
/**
 * Renders docs/grafana-dashboard.json's panels from a live /metrics endpoint without Grafana or
 * Prometheus (neither installs from Debian): scrapes every second for a while, evaluates each
 * panel's queries with a small evaluator for the forms the dashboard uses (a gauge; rate/increase
 * with `sum by`; histogram_quantile over bucket rates; windows of 10 s), and writes an HTML page of
 * SVG panels laid out by gridPos — screenshot it with a headless browser.
 *
 *   node dist/scripts/render-dashboard.js http://127.0.0.1:19464/metrics 90 out.html
 */
import { readFileSync, writeFileSync } from 'node:fs';

type Sample = Map<string, number>; // series key `name{a="b",…}` → value
interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: { defaults: { unit: string; mappings?: { options: Record<string, { text: string; color: string }> }[] } };
  targets: Target[];
}

const [url = 'http://127.0.0.1:9464/metrics', seconds = '60', out = 'dashboard.html'] = process.argv.slice(2);
const WINDOW = 10;

function parse(text: string): Sample {
  const s: Sample = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    s.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return s;
}
const labelsOf = (key: string): Record<string, string> => Object.fromEntries([...key.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
const nameOf = (key: string) => key.split('{')[0]!;

/** One point per scrape for each legend, from the forms the dashboard uses. */
function evaluate(t: Target, samples: Sample[]): Map<string, (number | null)[]> {
  const expr = t.expr.replace(/\{instance=~"\$instance"\}/g, '');
  const legend = (labels: Record<string, string>) => (t.legendFormat ?? '').replace(/\{\{(\w+)\}\}/g, (_, l: string) => labels[l] ?? '') || expr;
  const series = new Map<string, (number | null)[]>();
  const put = (name: string, i: number, v: number | null) => {
    if (!series.has(name)) series.set(name, Array(samples.length).fill(null));
    series.get(name)![i] = v;
  };
  const hq = /^histogram_quantile\(([\d.]+), sum by \(le\) \(rate\((\w+)\[[^\]]+\]\)\)\)$/.exec(expr);
  const rate = /^(?:sum by \((\w+)\) \()?(rate|increase)\((\w+)\[[^\]]+\]\)\)?$/.exec(expr);
  samples.forEach((now, i) => {
    const before = samples[Math.max(0, i - WINDOW)]!;
    const span = Math.max(1, Math.min(i, WINDOW));
    if (hq) {
      const [, q, metric] = hq;
      const buckets = [...now.entries()].filter(([k]) => nameOf(k) === metric).map(([k, v]) => ({ le: labelsOf(k).le!, d: v - (before.get(k) ?? 0) }));
      buckets.sort((a, b) => (a.le === '+Inf' ? 1 : b.le === '+Inf' ? -1 : Number(a.le) - Number(b.le)));
      const total = buckets.at(-1)?.d ?? 0;
      if (i === 0 || total <= 0) return put(legend({}), i, null);
      const rank = Number(q) * total;
      let prevLe = 0;
      let prevCount = 0;
      for (const b of buckets) {
        if (b.d >= rank) {
          const le = b.le === '+Inf' ? prevLe : Number(b.le);
          return put(legend({}), i, prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, b.d - prevCount));
        }
        prevLe = Number(b.le);
        prevCount = b.d;
      }
      return;
    }
    if (rate) {
      const [, by, fn, metric] = rate;
      const sums = new Map<string, number>();
      for (const [k, v] of now) {
        if (nameOf(k) !== metric) continue;
        const l = labelsOf(k);
        const name = legend(by ? { [by]: l[by]! } : l);
        const d = Math.max(0, v - (before.get(k) ?? 0));
        sums.set(name, (sums.get(name) ?? 0) + (fn === 'rate' ? d / span : d));
      }
      for (const [name, v] of sums) put(name, i, i === 0 ? null : v);
      return;
    }
    for (const [k, v] of now) if (nameOf(k) === expr) put(legend(labelsOf(k)), i, v);
  });
  return series;
}

const COLORS = ['#73bf69', '#f2495c', '#5794f2', '#ff9830', '#b877d9', '#fade2a', '#8ab8ff', '#ca95e5', '#96d98d', '#ffa6b0'];
const fmt = (v: number, unit: string) =>
  unit === 's' ? (v < 0.001 ? `${(v * 1e6).toFixed(0)} µs` : v < 1 ? `${(v * 1000).toFixed(1)} ms` : `${v.toFixed(1)} s`) : unit === 'reqps' ? `${v.toFixed(2)}/s` : `${Math.round(v * 100) / 100}`;

function panelHtml(p: Panel, samples: Sample[], cell: number): string {
  const w = p.gridPos.w * cell - 8;
  const h = p.gridPos.h * 30 - 8;
  const style = `left:${p.gridPos.x * cell}px;top:${p.gridPos.y * 30}px;width:${w}px;height:${h}px`;
  const unit = p.fieldConfig.defaults.unit;
  const all = p.targets.flatMap((t) => [...evaluate(t, samples)]);
  if (p.type === 'stat') {
    const last = all[0]?.[1].filter((v): v is number => v !== null).at(-1);
    const map = p.fieldConfig.defaults.mappings?.[0]?.options[String(last)];
    const bg = map?.color === 'red' ? '#c4162a' : map?.color === 'green' ? '#37872d' : '#1f60c4';
    return `<div class="panel" style="${style};background:${bg}"><div class="title">${p.title}</div><div class="stat">${map?.text ?? (last === undefined ? '–' : fmt(last, unit))}</div></div>`;
  }
  const plotH = h - 80;
  const values = all.flatMap(([, vs]) => vs.filter((v): v is number => v !== null));
  const max = Math.max(1e-9, ...values) * 1.1;
  const x = (i: number) => 40 + (i / Math.max(1, samples.length - 1)) * (w - 50);
  const y = (v: number) => 22 + plotH - (v / max) * plotH;
  const lines = all
    .map(([, vs], n) => {
      const pts = vs.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
      return `<polyline fill="none" stroke="${COLORS[n % COLORS.length]}" stroke-width="1.8" points="${pts.join(' ')}"/>`;
    })
    .join('');
  const axis = [0, 0.5, 1].map((f) => `<text x="2" y="${y(max * f / 1.1) + 4}" class="axis">${fmt((max * f) / 1.1, unit)}</text><line x1="40" x2="${w - 10}" y1="${y((max * f) / 1.1)}" y2="${y((max * f) / 1.1)}" class="grid"/>`).join('');
  const legend = all.map(([name], n) => `<span><i style="background:${COLORS[n % COLORS.length]}"></i>${name}</span>`).join('');
  return `<div class="panel" style="${style}"><div class="title">${p.title}</div><svg width="${w}" height="${plotH + 30}">${axis}${lines}</svg><div class="legend">${legend || '<span>no data</span>'}</div></div>`;
}

async function main(): Promise<void> {
  const dashboard = JSON.parse(readFileSync('docs/grafana-dashboard.json', 'utf8')) as { title: string; panels: Panel[] };
  const samples: Sample[] = [];
  const started = new Date();
  for (let i = 0; i < Number(seconds); i++) {
    samples.push(parse(await (await fetch(url)).text()));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cell = 60;
  const body = dashboard.panels.map((p) => panelHtml(p, samples, cell)).join('\n');
  const height = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * 30)) + 60;
  writeFileSync(
    out,
    `<!doctype html><meta charset="utf-8"><title>${dashboard.title}</title><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px sans-serif}
header{padding:8px 12px;font-size:15px}header small{color:#8e8e8e;margin-left:12px}
.board{position:relative;margin:0 8px;height:${height}px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;overflow:hidden}
.title{padding:6px 8px;font-weight:600}.stat{font-size:30px;text-align:center;padding-top:4px;color:#fff}
.axis{fill:#8e8e8e;font-size:10px}.grid{stroke:#2c3235}.legend{padding:0 8px}.legend span{margin-right:10px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
</style><header>${dashboard.title}<small>rendered from docs/grafana-dashboard.json by scripts/render-dashboard.ts — ${samples.length} scrapes of ${url} from ${started.toISOString()} (Grafana not available here)</small></header><div class="board">${body}</div>`,
  );
  console.error(`${out}: ${dashboard.panels.length} panels from ${samples.length} scrapes`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

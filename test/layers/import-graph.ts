/**
 * The project's import graph, read from the TypeScript sources with the compiler's own pre-parser
 * (`ts.preProcessFile`: imports, re-exports, `import()`, type-only imports alike), and the rules
 * the layers keep. Used by layers.test.ts; no dependency beyond TypeScript itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** Top-level folders from the ground up: a file may import only from its own rank or below. */
export const LAYERS = ['base', 'drivers', 'device', 'sync', 'app', 'scripts'] as const;
type Layer = (typeof LAYERS)[number];

/** Modules that do I/O: the decision core (`device/core/`) imports none of them. */
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|dgram|http|https|http2|tls|child_process|worker_threads|cluster|readline|dns)$|^(serialport|@serialport\/.*|better-sqlite3|mqtt|aedes|node-hid|sharp|zxing-wasm|pino)$/;

export interface ImportEdge {
  from: string;
  /** A project file (relative, with .ts) or a bare module name. */
  to: string;
  internal: boolean;
}

function sources(root: string, dir: string, out: string[]): string[] {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(root, p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every import of every source file under the layer folders. */
export function importGraph(root: string): ImportEdge[] {
  const files = LAYERS.flatMap((l) => {
    try {
      return sources(root, l, []);
    } catch {
      return [];
    }
  });
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts');
        edges.push({ from: file, to: target, internal: true });
      } else {
        edges.push({ from: file, to: spec, internal: false });
      }
    }
  }
  return edges;
}

function layerOf(file: string): Layer | null {
  const top = file.split('/')[0];
  return (LAYERS as readonly string[]).includes(top!) ? (top as Layer) : null;
}

/** Each import that breaks a layer rule, as one readable line. */
export function layerViolations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const { from, to, internal } of edges) {
    const inCore = from.startsWith('device/core/');
    if (!internal) {
      if (inCore && IO_MODULES.test(to)) out.push(`${from} → ${to}: device/core/ does no I/O`);
      continue;
    }
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === null) continue;
    if (b === null) {
      out.push(`${from} → ${to}: outside the layer folders`);
      continue;
    }
    if (LAYERS.indexOf(b) > LAYERS.indexOf(a)) out.push(`${from} → ${to}: ${a}/ imports from ${b}/, a layer above it`);
    if (inCore && !to.startsWith('device/core/') && b !== 'base') out.push(`${from} → ${to}: device/core/ imports only itself and base/`);
  }
  return out;
}

/** Import cycles between files (strongly connected components of more than one file, or a self-import). */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!e.internal) continue;
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  // Tarjan's algorithm, iterative enough for a few hundred files.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of next.keys()) if (!idx.has(v)) visit(v);
  return cycles;
}

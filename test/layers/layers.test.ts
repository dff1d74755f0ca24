/**
 * The layers only look down — base/ ← drivers/ ← device/ (its core/ does no I/O) ← sync/ ← app/ ←
 * scripts/ — and no two files import each other, directly or round a loop. Tests may import anything.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { importCycles, importGraph, layerViolations } from './import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const edges = importGraph(ROOT);

describe('layers', () => {
  it('reads the whole source tree', () => {
    expect(edges.length).toBeGreaterThan(300);
    expect(edges.some((e) => e.from.startsWith('device/core/'))).toBe(true);
  });

  it('no folder imports from a folder above it; device/core/ imports no I/O module', () => {
    expect(layerViolations(edges)).toEqual([]);
  });

  it('no import cycle between files', () => {
    expect(importCycles(edges)).toEqual([]);
  });

  it('the check can fail: an upward import and a loop are caught', () => {
    const bad = [
      { from: 'drivers/x.ts', to: 'device/core/decide.ts', internal: true },
      { from: 'device/core/a.ts', to: 'node:fs', internal: false },
      { from: 'sync/a.ts', to: 'sync/b.ts', internal: true },
      { from: 'sync/b.ts', to: 'sync/a.ts', internal: true },
    ];
    expect(layerViolations(bad)).toHaveLength(2);
    expect(importCycles(bad)).toEqual([['sync/a.ts', 'sync/b.ts']]);
  });
});

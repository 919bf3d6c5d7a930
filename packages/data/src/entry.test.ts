import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as browser from './index.js';
import * as node from './node.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Every module specifier a source file imports or re-exports. */
function specifiers(file: string): string[] {
  const source = readFileSync(join(here, file), 'utf8');
  return [...source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
}

/** The files reachable from `entry` through relative imports. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiers(file)) if (spec.startsWith('./')) visit(spec.slice(2).replace(/\.js$/, '.ts'));
  };
  visit(entry);
  return seen;
}

describe('entry points', () => {
  it('keeps the main entry free of Node modules: only relative imports and the browser-safe @swarmgrad/nn-core', () => {
    const files = closure('index.ts');
    expect(files).toContain('idx.ts');
    expect(files).not.toContain('mnist.ts');
    for (const file of files) {
      for (const spec of specifiers(file)) expect(spec, `${file} imports ${spec}`).toMatch(/^(\.\/|@swarmgrad\/nn-core$)/);
    }
  });

  it('exports the browser API from "." and adds the Node loaders in "./node"', () => {
    for (const name of ['parseIdx', 'encodeIdx', 'decodeIdx', 'ImageDataset', 'syntheticDataset', 'Prng', 'epochPermutation', 'batchForStep', 'BatchSchedule', 'microShards', 'DataError', 'DataErrorCode']) {
      expect(browser, name).toHaveProperty(name);
      expect(node, name).toHaveProperty(name);
    }
    for (const name of ['readIdxFile', 'loadIdxDataset', 'loadMnist']) {
      expect(browser, name).not.toHaveProperty(name);
      expect(typeof (node as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(node.DataError).toBe(browser.DataError);
  });

  it('maps the package exports (types first) to the two entries', () => {
    const manifest = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, string>>;
    };
    expect(Object.keys(manifest.exports['.'] ?? {})).toEqual(['types', 'default']);
    expect(manifest.exports['.']?.default).toBe('./dist/index.js');
    expect(Object.keys(manifest.exports['./node'] ?? {})).toEqual(['types', 'default']);
    expect(manifest.exports['./node']?.default).toBe('./dist/node.js');
  });
});

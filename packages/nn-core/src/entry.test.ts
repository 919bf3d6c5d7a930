import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as core from './index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Every `import`/`export … from` statement of a source file, with its specifier. */
function imports(file: string): Array<{ statement: string; specifier: string }> {
  const source = readFileSync(join(here, file), 'utf8');
  return [...source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)].map((m) => ({ statement: m[0], specifier: m[1] as string }));
}

describe('@swarmgrad/nn-core entry', () => {
  it('loads no tfjs, no Node module and nothing at run time but its own files', () => {
    const sources = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(sources).toContain('index.ts');
    for (const file of sources) {
      for (const { statement, specifier } of imports(file)) {
        if (specifier.startsWith('./')) continue;
        // The wire contract's types only (ShardBlock): erased at build time.
        expect(specifier, `${file}: ${statement}`).toBe('@swarmgrad/protocol');
        expect(statement, `${file}: ${statement}`).toMatch(/^(import|export) type /);
      }
    }
    const manifest = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['@swarmgrad/protocol']);
  });

  it('exports the whole determinism contract from one place', () => {
    for (const name of ['Prng', 'Xoshiro128', 'epochPermutation', 'batchForStep', 'BatchSchedule', 'microShards', 'shardRange', 'sumBlock', 'combineNodes', 'treeWidth', 'initParams', 'NnError']) {
      expect(core, name).toHaveProperty(name);
    }
  });
});

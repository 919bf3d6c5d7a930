import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The engine must install and load without tfjs or the Dawn WebGPU binding: it imports the
 * tfjs-free `@swarmgrad/nn-core`, never `@swarmgrad/nn` (whose `./core` subpath would also
 * resolve, through npm's hoisting, and pull the whole of tfjs into the install).
 */
describe('@swarmgrad/coordinator dependencies', () => {
  const srcDir = new URL('.', import.meta.url).pathname;
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

  it('no source file imports @swarmgrad/nn or tfjs', () => {
    const offenders = files(srcDir).filter((file) => /from '(@swarmgrad\/nn(\/[^']*)?|@tensorflow\/[^']*)'/.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('package.json depends on nn-core, not nn', () => {
    const pkg = JSON.parse(readFileSync(join(srcDir, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).toContain('@swarmgrad/nn-core');
    expect(Object.keys(pkg.dependencies)).not.toContain('@swarmgrad/nn');
  });
});

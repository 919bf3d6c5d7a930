// Tampered checkpoints (the SHA-256 in the header recomputed, as an attacker would) against
// the real CLI: inspect, eval and train --resume each give a clear coded error, never a stack
// trace, an endless loop or a silently wrong result, and resume falls back to a good checkpoint.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '@swarmgrad/coordinator';
import { runSwarmgrad, SWARMGRAD, tempDir, type RunResult } from '../support/launch.js';

const RUN = ['--model', 'lenet5', '--data', 'mnist', '--steps', '4', '--batch', '64', '--micro-batch', '16', '--seed', '3', '--eval-every', '0', '--eval-samples', '100', '--checkpoint-every', '2', '--port', '0', '--workers', '1', '--backend', 'cpu'];

let original: RunResult;
let good: Checkpoint;
let stepFiles: string[];

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SWARMGRAD, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes a tampered copy of the good checkpoint (hash recomputed) and returns its path. */
function tampered(name: string, change: (c: Checkpoint) => Checkpoint): string {
  const dir = tempDir(`tampered-${name}`);
  const path = join(dir, 'tampered.ckpt');
  writeFileSync(path, encodeCheckpoint(change(structuredClone(good))));
  return path;
}

function expectClearError(r: { code: number | null; stderr: string }, code: RegExp): void {
  expect(r.code === 1 || r.code === 2, r.stderr).toBe(true);
  expect(r.stderr).toMatch(code);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toMatch(/RangeError/);
}

describe('tampered checkpoints', () => {
  beforeAll(async () => {
    original = await runSwarmgrad(RUN);
    good = decodeCheckpoint(new Uint8Array(readFileSync(original.checkpoint!)));
    stepFiles = readdirSync(original.out).filter((f) => f.endsWith('.swgckpt')).sort();
    expect(stepFiles.length).toBeGreaterThanOrEqual(2);
  });

  it('NaN or negative Adam state: inspect and eval refuse it with CHECKPOINT_CORRUPT', () => {
    const nan = tampered('nan', (c) => (c.optimizer.buffers['expAvg']![10] = Number.NaN, c));
    const negative = tampered('negative', (c) => (c.optimizer.buffers['expAvgSq']![10] = -1, c));
    for (const path of [nan, negative]) {
      expectClearError(cli('inspect', path), /CHECKPOINT_CORRUPT/);
      expectClearError(cli('eval', '--checkpoint', path, '--backend', 'cpu'), /CHECKPOINT_CORRUPT/);
    }
  });

  it('train --resume skips a tampered newest checkpoint and finishes with the parameters of the untampered run', async () => {
    const out = tempDir('resume-tampered');
    for (const file of stepFiles) copyFileSync(join(original.out, file), join(out, file));
    const newest = join(out, stepFiles.at(-1)!);
    const checkpoint = decodeCheckpoint(new Uint8Array(readFileSync(newest)));
    checkpoint.optimizer.buffers['expAvgSq']![0] = Number.NaN;
    writeFileSync(newest, encodeCheckpoint(checkpoint));
    const resumed = await runSwarmgrad(['--resume', '--workers', '1', '--backend', 'cpu', '--port', '0'], out);
    expect(resumed.status).toBe('finished');
    expect(resumed.paramsSha256).toBe(original.paramsSha256);
  });

  it('train --resume with only tampered checkpoints exits with a clear error', () => {
    const out = tempDir('resume-only-tampered');
    mkdirSync(out, { recursive: true });
    const checkpoint = structuredClone(good);
    checkpoint.params[0] = Number.POSITIVE_INFINITY;
    writeFileSync(join(out, stepFiles.at(-1)!), encodeCheckpoint(checkpoint));
    const r = cli('train', '--resume', '--out', out, '--workers', '1', '--backend', 'cpu', '--port', '0');
    expectClearError(r, /unreadable/);
    rmSync(out, { recursive: true, force: true });
  });

  it('parameters of 3e38: eval reports NON_FINITE_STATE instead of a loss of null', () => {
    const path = tampered('huge-params', (c) => (c.params.fill(3e38), c));
    expect(cli('inspect', path).code).toBe(0);
    const r = cli('eval', '--checkpoint', path, '--backend', 'cpu', '--json');
    expectClearError(r, /NON_FINITE_STATE/);
    expect(r.stdout).toBe('');
  });

  it('a model of 159 G parameters: CHECKPOINT_TOO_LARGE from inspect, eval and resume, no RangeError', () => {
    const huge = { name: 'huge', inputShape: [400000], layers: [{ type: 'dense', units: 400000 }, { type: 'dense', units: 10 }] };
    const path = tampered('159g', (c) => ((c.run = { ...c.run, modelSpec: huge as never }), c));
    expectClearError(cli('inspect', path), /CHECKPOINT_TOO_LARGE/);
    expectClearError(cli('eval', '--checkpoint', path, '--backend', 'cpu'), /CHECKPOINT_TOO_LARGE/);
    const out = tempDir('resume-159g');
    copyFileSync(path, join(out, stepFiles.at(-1)!));
    const r = cli('train', '--resume', '--out', out, '--workers', '1', '--backend', 'cpu', '--port', '0');
    expectClearError(r, /CHECKPOINT_TOO_LARGE/);
  });

  it('dataset idx:/etc: eval does not follow the path without --data, and evaluates on the data given', () => {
    const path = tampered('idx-etc', (c) => ((c.run = { ...c.run, dataset: { name: 'idx', dir: '/etc' } }), c));
    const refused = cli('eval', '--checkpoint', path, '--backend', 'cpu');
    expectClearError(refused, /--data/);
    expect(refused.stderr).not.toMatch(/ENOENT|EISDIR|passwd/);
    const given = cli('eval', '--checkpoint', path, '--backend', 'cpu', '--data', 'mnist', '--json');
    expect(given.code, given.stderr).toBe(0);
    expect(JSON.parse(given.stdout)).toMatchObject({ paramsSha256: original.paramsSha256 });
  });
});

import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helloReply } from './bad-input.js';
import { launchSwarmgrad, runSwarmgrad, runSwarmgradSync, tempDir } from '../support/launch.js';

const cli = (...args: string[]) => runSwarmgradSync(args, { timeoutMs: 120_000 });

describe('the swarmgrad CLI', () => {
  it.each([
    [['frobnicate'], 'UNKNOWN_COMMAND', /unknown command "frobnicate"/],
    [['train', '--batch', '100', '--micro-batch', '32'], 'CONFLICTING_FLAGS', /--batch 100 must be a multiple of --micro-batch 32/],
    [['train', '--lr', 'fast'], 'BAD_VALUE', /--lr must be a number; got "fast"/],
    [['train', '--model', 'resnet'], 'BAD_VALUE', /--model must be one of lenet5, alexnet, alexnetSmall, mlp or a .json spec file/],
    [['train', '--data', 'cifar'], 'BAD_VALUE', /--data must be mnist, idx:DIR, images:DIR, cifar10:DIR, cifar100:DIR or synthetic/],
    [['train', '--resume'], 'MISSING_ARGUMENT', /--resume needs --out DIR/],
    [['train', '--resume', '--out', '/tmp/x', '--seed', '3'], 'CONFLICTING_FLAGS', /--resume continues the run in --out with its own settings; drop --seed/],
    [['train', '--stepz', '3'], 'UNKNOWN_FLAG', /unknown flag --stepz; swarmgrad train takes --model, /],
    [['train', '--steps'], 'MISSING_VALUE', /--steps needs a value/],
    [['train', '--json=yes'], 'BAD_VALUE', /--json is a switch and takes no value/],
    [['train', 'extra'], 'UNEXPECTED_ARGUMENT', /unexpected argument "extra"/],
    [['serve', '--workers', '2'], 'UNKNOWN_FLAG', /unknown flag --workers/],
    [['worker'], 'MISSING_ARGUMENT', /--coordinator ws:\/\/HOST:PORT is required \(or env SWARMGRAD_COORDINATOR\)/],
    [['worker', '--coordinator', 'http://x'], 'BAD_VALUE', /must be a ws:\/\/ or wss:\/\/ URL/],
    [['eval'], 'MISSING_ARGUMENT', /--checkpoint FILE is required/],
    [['eval', '--checkpoint', 'f', '--backend', 'tpu'], 'BAD_VALUE', /--backend must be one of wasm, cpu, webgpu; got "tpu"/],
    [['inspect'], 'MISSING_ARGUMENT', /FILE is required/],
    [['inspect', '/nonexistent/final.ckpt'], 'BAD_INPUT', /no checkpoint at/],
  ])('%j: %s, a clear message and exit 2, no stack trace', (args, code, message) => {
    const r = cli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`: ${code}: `);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a port in use is a clear message, not a crash', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = cli('train', '--data', 'synthetic', '--steps', '1', '--port', String(port), '--out', join(tempDir('port'), 'out'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`BAD_INPUT: port ${port} is in use; pick another with --port`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });

  it('--no-volunteers refuses a worker without the lab token (AUTH_FAILED, closed)', async () => {
    const run = launchSwarmgrad(['serve', '--data', 'synthetic', '--steps', '5', '--host', '127.0.0.1', '--port', '0', '--no-volunteers'], { out: tempDir('no-volunteers'), json: true, env: { SWARMGRAD_TOKEN: 'lab' } });
    try {
      const { ws } = await run.server();
      expect(await helloReply(ws, undefined)).toMatchObject({ type: 'error', code: 'AUTH_FAILED', closeCode: 1008 });
      expect(await helloReply(ws, 'lab')).toMatchObject({ type: 'welcome', trusted: true });
    } finally {
      run.child.kill();
      await run.exited;
    }
  });

  it('a model spec that does not fit names the layer', () => {
    const dir = tempDir('spec');
    const spec = join(dir, 'bad.json');
    writeFileSync(spec, JSON.stringify({ inputShape: [28, 28, 1], layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }, { type: 'dense', units: 10 }] }));
    const r = cli('train', '--model', spec, '--port', '0', '--out', join(dir, 'out'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/layer 1 \(dense\): expects a flat input \[features\], got \[26, 26, 4\]/);
  });

  it('a corrupt checkpoint is reported with its code', () => {
    const dir = tempDir('corrupt');
    const file = join(dir, 'final.ckpt');
    writeFileSync(file, Buffer.from('SWGCKPT\u0000garbage'));
    const r = cli('inspect', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CHECKPOINT_CORRUPT|CHECKPOINT_FORMAT/);
  });

  it('train → inspect → eval: the checkpoint holds the run, its hash and a working model', async () => {
    const result = await runSwarmgrad(['--data', 'synthetic:3', '--model', 'lenet5', '--steps', '40', '--batch', '32', '--micro-batch', '8', '--workers', '1', '--backend', 'cpu', '--port', '0', '--lr', '0.005']);
    expect(result.status).toBe('finished');
    const inspect = JSON.parse(cli('inspect', result.checkpoint!, '--json').stdout);
    expect(inspect).toMatchObject({ runId: result.runId, step: 40, paramsSha256: result.paramsSha256, parameterCount: expect.any(Number) });
    expect(inspect.optimizer.stepCount).toBe(40);
    const evaluated = JSON.parse(cli('eval', '--checkpoint', result.checkpoint!, '--backend', 'cpu', '--json').stdout);
    expect(evaluated.paramsSha256).toBe(result.paramsSha256);
    expect(evaluated.accuracy).toBeCloseTo(result.testAccuracy!, 6);
    expect(evaluated.accuracy).toBeGreaterThan(0.9); // the synthetic set is learnable
    const rows: number[][] = evaluated.confusion;
    expect(rows.flat().reduce((a, b) => a + b, 0)).toBe(evaluated.samples);
  });
});

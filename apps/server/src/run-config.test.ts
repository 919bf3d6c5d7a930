import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '@swarmgrad/coordinator';
import { checkpointWriter } from '@swarmgrad/coordinator/node';
import { parseCommand, UsageError } from './args.js';
import { TRAIN } from './commands.js';
import { newRunConfig, optimizerConfig, prepareRun, prepareTokens, scheduleConfig, TRAJECTORY_FLAGS } from './run-config.js';
import { datasetFlag, loadData, type LoadedData } from './run-setup.js';
import { SocketHub } from './socket-hub.js';

const flagsOf = (...argv: string[]) => parseCommand(TRAIN, argv, {});
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `swarmgrad-${name}-`));

async function usageCode(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return (error as UsageError).code;
}

describe('newRunConfig', () => {
  let data: LoadedData;
  beforeAll(async () => {
    data = await loadData('synthetic:2');
  });

  it('the defaults: 4 epochs of B=128, m=32, adam 0.002 with a cosine schedule over the run, evaluation once per epoch', async () => {
    const run = await newRunConfig(flagsOf().flags, data);
    const stepsPerEpoch = Math.floor(data.train.length / 128);
    expect(run).toMatchObject({
      batchSize: 128,
      microShardSize: 32,
      seed: 1,
      totalSteps: 4 * stepsPerEpoch,
      evalEvery: stepsPerEpoch,
      checkpointEvery: 100,
      codec: 'f32',
      optimizer: { type: 'adam', lr: 0.002, schedule: { type: 'cosine', totalSteps: 4 * stepsPerEpoch } },
      dataset: { name: 'synthetic', seed: 2 },
    });
    expect(run.runId).toMatch(/^lenet5-\d{8}-\d{6}$/);
  });

  it('--steps wins over --epochs; --epochs rounds to whole steps', async () => {
    expect((await newRunConfig(flagsOf('--steps', '7', '--epochs', '9').flags, data)).totalSteps).toBe(7);
    const stepsPerEpoch = Math.floor(data.train.length / 64);
    expect((await newRunConfig(flagsOf('--epochs', '0.5', '--batch', '64').flags, data)).totalSteps).toBe(Math.round(0.5 * stepsPerEpoch));
  });

  it.each([
    [['--batch', '100', '--micro-batch', '32'], 'CONFLICTING_FLAGS'],
    [['--batch', String(1 << 20), '--micro-batch', '1'], 'BAD_VALUE'],
    [['--run-id', 'a/b'], 'BAD_VALUE'],
    [['--lr', '0'], 'BAD_VALUE'],
    [['--model', 'resnet'], 'BAD_VALUE'],
    [['--model', '/nonexistent/spec.json'], 'BAD_INPUT'],
  ])('%j is a UsageError %s', async (argv, code) => {
    expect(await usageCode(newRunConfig(flagsOf(...argv).flags, data))).toBe(code);
  });
});

describe('optimizerConfig and scheduleConfig', () => {
  const constant = { type: 'constant' } as const;
  it.each([
    ['sgd', { type: 'sgd', lr: 0.1, schedule: constant }],
    ['momentum', { type: 'momentum', momentum: 0.8, nesterov: false, lr: 0.1, schedule: constant }],
    ['nesterov', { type: 'momentum', momentum: 0.8, nesterov: true, lr: 0.1, schedule: constant }],
    ['adam', { type: 'adam', lr: 0.1, schedule: constant }],
    ['adamw', { type: 'adam', decoupledWeightDecay: true, lr: 0.1, schedule: constant }],
  ])('%s', (name, expected) => {
    expect(optimizerConfig(name, 0.1, 0.8, 0, constant)).toEqual(expected);
    expect(optimizerConfig(name, 0.1, 0.8, 0.01, constant)).toEqual({ ...expected, weightDecay: 0.01 });
  });

  it('schedules: cosine over the run (constant for one step), step ×0.1 at thirds', () => {
    expect(scheduleConfig('cosine', 90)).toEqual({ type: 'cosine', totalSteps: 90 });
    expect(scheduleConfig('cosine', 1)).toEqual({ type: 'constant' });
    expect(scheduleConfig('step', 90)).toEqual({ type: 'step', stepSize: 30, gamma: 0.1 });
    expect(scheduleConfig('step', 2)).toEqual({ type: 'step', stepSize: 1, gamma: 0.1 });
    expect(scheduleConfig('constant', 90)).toEqual({ type: 'constant' });
  });

  it('datasetFlag names every dataset the way --data takes it', () => {
    expect(datasetFlag({ name: 'mnist' })).toBe('mnist');
    expect(datasetFlag({ name: 'idx', dir: '/d' })).toBe('idx:/d');
    expect(datasetFlag({ name: 'synthetic', seed: 4 })).toBe('synthetic:4');
  });
});

describe('prepareRun', () => {
  it('a new run refuses an --out that holds checkpoints; --resume continues it with its own settings', async () => {
    const data = await loadData('synthetic:2');
    const out = join(tmp('resume'), 'run');
    const run = await newRunConfig(flagsOf('--data', 'synthetic:2', '--steps', '4', '--batch', '32', '--micro-batch', '8', '--seed', '5', '--run-id', 'r1').flags, data);
    const engine = new Coordinator({ run, trainData: data.train, transport: new SocketHub().transport });
    await checkpointWriter({ directory: out, keep: 3 })(engine.checkpoint());

    const again = flagsOf('--data', 'synthetic:2', '--out', out);
    expect(await usageCode(prepareRun(again.flags, again.given))).toBe('CONFLICTING_FLAGS');

    const resume = flagsOf('--resume', '--out', out);
    const prepared = await prepareRun(resume.flags, resume.given);
    expect(prepared.run).toMatchObject(run);
    expect(prepared.resumeFrom?.step).toBe(0);
    expect(prepared.outDir).toBe(out);
  });

  it.each([
    [['--resume'], 'MISSING_ARGUMENT'],
    [['--resume', '--out', '/nonexistent/run'], 'BAD_INPUT'],
    ...TRAJECTORY_FLAGS.map((flag) => [['--resume', '--out', '/x', `--${flag}`, flag === 'model' || flag === 'data' || flag === 'run-id' ? 'x' : flag === 'optimizer' ? 'sgd' : flag === 'schedule' ? 'step' : flag === 'codec' ? 'f16' : '1'], 'CONFLICTING_FLAGS'] as [string[], string]),
  ])('%j is %s', async (argv, code) => {
    const parsed = flagsOf(...argv);
    expect(await usageCode(prepareRun(parsed.flags, parsed.given))).toBe(code);
  });
});

describe('prepareTokens', () => {
  it('generates both tokens into the output folder (0600) when none is given', async () => {
    const out = tmp('tokens');
    const tokens = await prepareTokens(flagsOf().flags, out, {});
    expect(readFileSync(join(out, 'lab-token'), 'utf8').trim()).toBe(tokens.token);
    expect(readFileSync(join(out, 'admin-token'), 'utf8').trim()).toBe(tokens.adminToken);
    expect(statSync(join(out, 'lab-token')).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(tokens.token).not.toBe(tokens.adminToken);
    expect(tokens.token.length).toBeGreaterThanOrEqual(24);
  });

  it('token files are read; the environment wins over them; nothing is written then', async () => {
    const dir = tmp('token-files');
    writeFileSync(join(dir, 'lab'), 'lab-from-file\n');
    writeFileSync(join(dir, 'admin'), 'admin-from-file\n');
    const out = tmp('token-out');
    const flags = flagsOf('--token-file', join(dir, 'lab'), '--admin-token-file', join(dir, 'admin')).flags;
    expect(await prepareTokens(flags, out, {})).toMatchObject({ token: 'lab-from-file', adminToken: 'admin-from-file', tokenFile: join(dir, 'lab') });
    expect(await prepareTokens(flags, out, { SWARMGRAD_TOKEN: 'env-lab', SWARMGRAD_ADMIN_TOKEN: 'env-admin' })).toMatchObject({ token: 'env-lab', adminToken: 'env-admin', adminTokenSource: 'SWARMGRAD_ADMIN_TOKEN' });
    expect(() => statSync(join(out, 'lab-token'))).toThrow();
  });

  it('an empty or missing token file is BAD_INPUT', async () => {
    const dir = tmp('token-bad');
    writeFileSync(join(dir, 'empty'), '  \n');
    expect(await usageCode(prepareTokens(flagsOf('--token-file', join(dir, 'empty')).flags, dir, {}))).toBe('BAD_INPUT');
    expect(await usageCode(prepareTokens(flagsOf('--admin-token-file', join(dir, 'missing')).flags, dir, {}))).toBe('BAD_INPUT');
  });
});

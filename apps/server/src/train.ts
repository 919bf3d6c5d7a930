import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Coordinator, paramsSha256, type Checkpoint, type RunConfig, type RunSnapshot } from '@swarmgrad/coordinator';
import { checkpointWriter, encodeCheckpoint, latestCheckpoint, listCheckpoints, writeCheckpointAtomic } from '@swarmgrad/coordinator/node';
import { planModel, type OptimizerConfig, type ScheduleConfig } from '@swarmgrad/nn/core';
import { parseArgs, usage, UsageError, type FlagSpec } from './args.js';
import { startRunServer } from './http-server.js';
import { superviseLocalWorkers, type LocalWorkers } from './local-workers.js';
import { createProgress, formatDuration } from './progress.js';
import { listRuns, readRun } from './runs.js';
import { loadData, loadModel } from './run-setup.js';
import { SocketHub } from './socket-hub.js';
import { createInsightsRoutes } from './insights.js';
import { serveWebApps } from './web-apps.js';

/** Flags that decide the parameter trajectory: a resumed run takes them from its checkpoint. */
const TRAJECTORY_FLAGS = ['model', 'data', 'steps', 'epochs', 'batch', 'micro-batch', 'optimizer', 'lr', 'momentum', 'weight-decay', 'schedule', 'seed', 'codec', 'run-id'] as const;

/** The flags of `swarmgrad train` (and `serve`, without `--workers`). */
export function trainFlags(withWorkers: boolean): Record<string, FlagSpec> {
  return {
    model: { type: 'string', help: 'zoo model (lenet5, alexnet, alexnetSmall, mlp) or a JSON spec file', default: 'lenet5' },
    data: { type: 'string', help: 'mnist (bundled), idx:DIR (any IDX pair) or synthetic[:SEED]', default: 'mnist' },
    ...(withWorkers
      ? {
          workers: { type: 'int', min: 0, help: 'local Node worker processes to start (kept alive)', default: 2 },
          backend: { type: 'string', choices: ['auto', 'webgpu', 'wasm', 'cpu'], help: 'backend of the local workers', default: 'auto' },
        }
      : {}),
    steps: { type: 'int', min: 0, help: 'training steps (overrides --epochs)' },
    epochs: { type: 'number', min: 0, help: 'epochs over the training set', default: 4 },
    batch: { type: 'int', min: 1, help: 'global batch size B per step', default: 128 },
    'micro-batch': { type: 'int', min: 1, help: 'samples per micro-shard m (B must be a multiple)', default: 32 },
    optimizer: { type: 'string', choices: ['adam', 'sgd', 'momentum', 'nesterov', 'adamw'], help: 'optimizer', default: 'adam' },
    lr: { type: 'number', help: 'base learning rate', default: 0.002 },
    momentum: { type: 'number', help: 'momentum for momentum/nesterov', default: 0.9 },
    'weight-decay': { type: 'number', min: 0, help: 'weight decay', default: 0 },
    schedule: { type: 'string', choices: ['cosine', 'constant', 'step'], help: 'learning-rate schedule over the run', default: 'cosine' },
    seed: { type: 'int', min: 0, help: 'seed of initialisation and sampling', default: 1 },
    codec: { type: 'string', choices: ['f32', 'f16', 'int8'], help: 'gradient codec (only f32 keeps steps bitwise deterministic)', default: 'f32' },
    'eval-every': { type: 'int', min: 0, help: 'evaluate on the test set every N steps (0: at the end only; default once per epoch)' },
    'eval-samples': { type: 'int', min: 1, help: 'test samples per evaluation (default all)' },
    'checkpoint-every': { type: 'int', min: 0, help: 'checkpoint every N steps (0: at the end only)', default: 100 },
    out: { type: 'string', help: 'output folder: checkpoints, final.ckpt, run.json (default runs/<run-id>)' },
    resume: { type: 'boolean', help: 'continue the run in --out from its newest checkpoint' },
    'run-id': { type: 'string', help: 'id of the run (default <model>-<date>-<time>)' },
    port: { type: 'int', min: 0, help: 'HTTP + WebSocket port (0: any free port)', default: withWorkers ? 7070 : 7070 },
    host: { type: 'string', help: 'address to listen on', default: withWorkers ? '127.0.0.1' : '0.0.0.0' },
    'token-file': { type: 'string', help: 'file with the lab token workers must present (or env SWARMGRAD_TOKEN; default: generated, saved in --out as lab-token); workers without it join as untrusted volunteers' },
    'no-volunteers': { type: 'boolean', help: 'refuse workers without the lab token (AUTH_FAILED) instead of admitting them as untrusted volunteers' },
    'admin-token-file': { type: 'string', help: 'file with the dashboard admin token (or env SWARMGRAD_ADMIN_TOKEN; default: generated, saved in --out)' },
    json: { type: 'boolean', help: 'print the final summary as JSON on stdout' },
    'keep-serving': { type: 'boolean', help: 'after the run, keep serving the dashboard (its insights, past runs) until Ctrl-C' },
    ...(withWorkers ? { 'worker-slowdown-ms': { type: 'int', min: 0, help: 'testing: delay every task of local worker 1 by this much' } } : {}),
    help: { type: 'boolean', help: 'show this help' },
  } satisfies Record<string, FlagSpec>;
}

/** `swarmgrad train` / `swarmgrad serve`. Returns the exit code. */
export async function trainCommand(argv: string[], withWorkers: boolean): Promise<number> {
  const specs = trainFlags(withWorkers);
  const command = withWorkers ? 'train' : 'serve';
  const { flags, positional } = parseArgs(argv, specs);
  if (flags.help) {
    console.log(usage(command, withWorkers ? 'Train a model: a coordinator, local Node workers and the dashboard in one process.' : 'Coordinate a run and wait for workers (lab machines: swarmgrad worker; volunteers: the web page).', specs));
    return 0;
  }
  if (positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}; see swarmgrad ${command} --help`);
  const str = (k: string) => flags[k] as string | undefined;
  const num = (k: string) => flags[k] as number | undefined;
  const get = <T>(k: string): T => (flags[k] ?? specs[k]?.default) as T;

  // --- the run: from flags, or from the newest checkpoint of --out with --resume
  let resumeFrom: Checkpoint | undefined;
  let outDir = '';
  if (flags.resume) {
    const explicit = TRAJECTORY_FLAGS.filter((f) => flags[f] !== undefined);
    if (explicit.length) throw new UsageError(`--resume continues the run in --out with its own settings; drop ${explicit.map((f) => `--${f}`).join(', ')}`);
    const out = str('out');
    if (!out) throw new UsageError('--resume needs --out DIR: the folder of the run to continue');
    outDir = resolve(out);
    if (!(await listCheckpoints(outDir)).length) throw new UsageError(`--resume: no checkpoint in ${outDir}`);
    resumeFrom = await latestCheckpoint(outDir, undefined, (path, error) => console.error(`swarmgrad: skipping unreadable checkpoint ${path}: ${error.code}: ${error.message}`));
    if (!resumeFrom) throw new UsageError(`--resume: every checkpoint in ${outDir} is unreadable`);
  }

  const dataName = resumeFrom ? datasetFlag(resumeFrom.run.dataset) : get<string>('data');
  const data = await loadData(dataName);
  let run: RunConfig;
  if (resumeFrom) {
    run = resumeFrom.run;
  } else {
    const modelSpec = await loadModel(get<string>('model'), data);
    const batchSize = get<number>('batch');
    const microShardSize = get<number>('micro-batch');
    if (batchSize % microShardSize !== 0) throw new UsageError(`--batch ${batchSize} must be a multiple of --micro-batch ${microShardSize}`);
    if (batchSize > data.train.length) throw new UsageError(`--batch ${batchSize} is larger than the training set (${data.train.length} samples)`);
    const stepsPerEpoch = Math.floor(data.train.length / batchSize);
    const totalSteps = num('steps') ?? Math.max(1, Math.round(get<number>('epochs') * stepsPerEpoch));
    const name = planModel(modelSpec).name;
    const runId = str('run-id') ?? `${name}-${timestamp()}`;
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(runId)) throw new UsageError(`--run-id may use letters, digits, '.', '_' and '-' (1 to 128); got ${JSON.stringify(runId)}`);
    run = {
      runId,
      modelSpec,
      dataset: data.descriptor,
      batchSize,
      microShardSize,
      optimizer: optimizerConfig(get<string>('optimizer'), get<number>('lr'), get<number>('momentum'), get<number>('weight-decay'), scheduleConfig(get<string>('schedule'), totalSteps)),
      seed: get<number>('seed'),
      totalSteps,
      evalEvery: num('eval-every') ?? stepsPerEpoch,
      checkpointEvery: get<number>('checkpoint-every'),
      codec: get<'f32' | 'f16' | 'int8'>('codec'),
      ...(num('eval-samples') !== undefined ? { evalSamples: num('eval-samples')! } : {}),
    };
    outDir = resolve(str('out') ?? join('runs', runId));
    const existing = await listCheckpoints(outDir);
    if (existing.length) throw new UsageError(`${outDir} already holds checkpoints of a run; continue it with --resume --out ${outDir}, or choose another --out`);
  }

  await mkdir(outDir, { recursive: true });
  // The lab token: given, or generated and saved in --out, so that workers without it (browser
  // volunteers) always join as untrusted.
  const givenToken = process.env.SWARMGRAD_TOKEN?.trim() || (str('token-file') ? await readToken(str('token-file')!) : undefined);
  const token = givenToken ?? randomBytes(18).toString('base64url');
  const tokenFile = str('token-file') ?? join(outDir, 'lab-token');
  if (!givenToken) await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const adminToken = process.env.SWARMGRAD_ADMIN_TOKEN?.trim() || (str('admin-token-file') ? await readToken(str('admin-token-file')!) : randomBytes(18).toString('base64url'));
  if (!process.env.SWARMGRAD_ADMIN_TOKEN && !str('admin-token-file')) await writeFile(join(outDir, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });

  const hub = new SocketHub();
  const writeCheckpoint = checkpointWriter({ directory: outDir, keep: 3 });
  const engine = new Coordinator({
    run,
    trainData: data.train,
    testData: data.test,
    transport: hub.transport,
    token,
    allowVolunteers: !flags['no-volunteers'],
    adminToken,
    onCheckpoint: writeCheckpoint,
    ...(resumeFrom ? { resume: resumeFrom } : {}),
  });

  const insights = createInsightsRoutes({ engine, testData: data.test, runsRoot: resolve(outDir, '..') });
  const server = await startRunServer(engine, hub, {
    port: get<number>('port'),
    host: get<string>('host'),
    listRuns: () => listRuns(resolve(outDir, '..')),
    readRun: (id) => readRun(resolve(outDir, '..'), id),
    extraRoutes: async (req, res) => (await insights(req, res)) || serveWebApps(req, res),
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') throw new UsageError(`port ${get<number>('port')} is in use; pick another with --port (0 picks a free one)`);
    throw error;
  });

  const wsUrl = `ws://${get<string>('host') === '0.0.0.0' ? '127.0.0.1' : get<string>('host')}:${server.port}/ws`;
  const stepsPerEpoch = Math.floor(data.train.length / run.batchSize);
  const plain = Boolean(flags.json) || !process.stderr.isTTY;
  const progress = createProgress({ totalSteps: run.totalSteps, stepsPerEpoch, batchSize: run.batchSize, startStep: engine.step, stream: process.stderr, plain });
  engine.on((event) => progress.onEvent(event));
  await writeFile(join(outDir, 'server.json'), `${JSON.stringify({ pid: process.pid, port: server.port, url: server.url, ws: wsUrl, runId: run.runId }, null, 2)}\n`);

  const summary = planModel(run.modelSpec);
  progress.log(`swarmgrad ${command}: run ${run.runId}${resumeFrom ? ` resumed at step ${resumeFrom.step}` : ''} — ${summary.name} (${summary.paramCount.toLocaleString('en-US')} parameters) on ${data.descriptor.name}, ${run.totalSteps} steps of ${run.batchSize} (${run.batchSize / run.microShardSize} micro-shards of ${run.microShardSize}), ${run.optimizer.type} lr ${run.optimizer.lr}`);
  progress.log(`listening on ${server.url} (WebSocket ${wsUrl}, API /api/runs, metrics /metrics); output in ${outDir}`);
  // A local training run may hand the admin token to the browser in the link; a shared
  // coordinator (serve) only says where the token is.
  progress.log(
    withWorkers && get<string>('host') === '127.0.0.1'
      ? `dashboard: ${server.url}/dashboard/#token=${adminToken} · lend a browser tab: ${server.url}/`
      : `dashboard: ${server.url}/dashboard/ (admin token in ${process.env.SWARMGRAD_ADMIN_TOKEN ? 'SWARMGRAD_ADMIN_TOKEN' : str('admin-token-file') ?? join(outDir, 'admin-token')}) · volunteers: ${server.url}/`,
  );
  if (!withWorkers) progress.log(`waiting for workers: swarmgrad worker --coordinator ${wsUrl} ${process.env.SWARMGRAD_TOKEN && !str('token-file') ? '(with SWARMGRAD_TOKEN set)' : `--token-file ${tokenFile}`}; volunteers: open ${server.url}/`);

  let workers: LocalWorkers | undefined;
  const started = Date.now();
  engine.start();
  if (withWorkers && get<number>('workers') > 0) {
    const slowdown = num('worker-slowdown-ms');
    workers = superviseLocalWorkers({
      count: get<number>('workers'),
      coordinatorUrl: wsUrl,
      backend: get<string>('backend'),
      token,
      log: (line) => progress.log(line),
      ...(slowdown ? { slowFirstMs: slowdown } : {}),
    });
  }

  // SIGINT / SIGTERM: stop the run (the engine takes a last checkpoint), then exit.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      process.exit(130);
    }
    interrupted = true;
    progress.log(`${signal}: stopping the run at step ${engine.step} (checkpoint in ${outDir}; continue with --resume --out ${outDir})`);
    engine.stop();
    // Whatever the load: no new connections, and nobody else's frames compete with the checkpoint.
    hub.shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const final: RunSnapshot = await engine.done;
  progress.finish();
  const checkpoint = engine.checkpoint();
  const finalPath = join(outDir, 'final.ckpt');
  if (final.status === 'finished') await writeCheckpointAtomic(finalPath, encodeCheckpoint(checkpoint));
  await workers?.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  const lastEval = final.evals[final.evals.length - 1];
  const result = {
    runId: run.runId,
    status: final.status,
    steps: engine.step,
    seconds: (Date.now() - started) / 1000,
    testAccuracy: lastEval?.accuracy ?? null,
    testLoss: lastEval?.loss ?? null,
    paramsSha256: paramsSha256(checkpoint.params),
    checkpoint: final.status === 'finished' ? finalPath : null,
    out: outDir,
  };
  await writeFile(join(outDir, 'run.json'), `${JSON.stringify({ ...result, config: run }, null, 2)}\n`);
  if (flags.json) {
    console.log(JSON.stringify(result));
  } else {
    console.error(
      [
        `run ${run.runId} ${final.status} after ${result.steps} steps in ${formatDuration(result.seconds)}`,
        lastEval ? `test accuracy ${(lastEval.accuracy * 100).toFixed(2)}% (loss ${lastEval.loss.toFixed(4)}) on ${lastEval.samples.toLocaleString('en-US')} images` : 'no evaluation',
        `paramsSha256 ${result.paramsSha256}`,
        final.status === 'finished' ? `final checkpoint ${finalPath}` : `continue with: swarmgrad train --resume --out ${outDir}`,
      ].join('\n'),
    );
  }
  if (flags['keep-serving'] && !interrupted) {
    console.error(`still serving the dashboard at ${server.url}/dashboard/ — Ctrl-C to exit`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }
  await server.close();
  return final.status === 'finished' ? 0 : 3;
}

function datasetFlag(descriptor: RunConfig['dataset']): string {
  if (descriptor.name === 'idx') return `idx:${String(descriptor.dir)}`;
  if (descriptor.name === 'synthetic') return `synthetic:${String(descriptor.seed)}`;
  return descriptor.name;
}

function optimizerConfig(name: string, lr: number, momentum: number, weightDecay: number, schedule: ScheduleConfig): OptimizerConfig {
  if (!(lr > 0)) throw new UsageError(`--lr must be positive; got ${lr}`);
  const base = { lr, schedule, ...(weightDecay > 0 ? { weightDecay } : {}) };
  switch (name) {
    case 'sgd':
      return { type: 'sgd', ...base };
    case 'momentum':
    case 'nesterov':
      return { type: 'momentum', momentum, nesterov: name === 'nesterov', ...base };
    case 'adamw':
      return { type: 'adam', decoupledWeightDecay: true, ...base };
    default:
      return { type: 'adam', ...base };
  }
}

function scheduleConfig(name: string, totalSteps: number): ScheduleConfig {
  if (name === 'cosine') return totalSteps > 1 ? { type: 'cosine', totalSteps } : { type: 'constant' };
  if (name === 'step') return { type: 'step', stepSize: Math.max(1, Math.floor(totalSteps / 3)), gamma: 0.1 };
  return { type: 'constant' };
}

async function readToken(path: string): Promise<string> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (!token) throw new UsageError(`token file ${path} is empty`);
    return token;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read token file ${path}: ${(error as Error).message}`);
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

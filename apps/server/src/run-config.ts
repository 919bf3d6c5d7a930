/**
 * From `train` / `serve` flags to a run: a new {@link RunConfig} (flags, data, model), or the
 * newest checkpoint of `--out` with `--resume`; and the lab and admin tokens.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Checkpoint, RunConfig } from '@swarmgrad/coordinator';
import { latestCheckpoint, listCheckpoints } from '@swarmgrad/coordinator/node';
import { planModel, type OptimizerConfig, type ScheduleConfig } from '@swarmgrad/nn/core';
import { UsageError, type FlagValues } from './args.js';
import type { TRAIN } from './commands.js';
import { datasetFlag, loadData, loadModel, type LoadedData } from './run-setup.js';
import { dataOptionsFromDescriptor, dataOptionsFromFlags } from './image-data.js';

/** The parsed flags of `train` (`serve` has no local workers: `workers` 0). */
export type TrainFlags = FlagValues<(typeof TRAIN)['flags']>;

/** Flags that decide the parameter trajectory: a resumed run takes them from its checkpoint. */
export const TRAJECTORY_FLAGS = ['model', 'data', 'steps', 'epochs', 'batch', 'micro-batch', 'optimizer', 'lr', 'momentum', 'weight-decay', 'schedule', 'seed', 'codec', 'run-id', 'image-size', 'augment', 'normalize'] as const;

/** A run ready to start: its config, data, output folder and (when resuming) the checkpoint. */
export interface PreparedRun {
  run: RunConfig;
  data: LoadedData;
  outDir: string;
  resumeFrom: Checkpoint | undefined;
}

/** The run that `flags` describe: continued from `--out` with `--resume`, else a new one. */
export async function prepareRun(flags: TrainFlags, given: ReadonlySet<string>): Promise<PreparedRun> {
  if (flags.resume) {
    const { outDir, checkpoint } = await findResumePoint(flags, given);
    return { run: checkpoint.run, data: await loadData(datasetFlag(checkpoint.run.dataset), dataOptionsFromDescriptor(checkpoint.run.dataset, true)), outDir, resumeFrom: checkpoint };
  }
  const data = await loadData(flags.data, dataOptionsFromFlags(flags, flags.seed));
  const run = await newRunConfig(flags, data);
  const outDir = resolve(flags.out ?? join('runs', run.runId));
  if ((await listCheckpoints(outDir)).length) {
    throw new UsageError('CONFLICTING_FLAGS', `${outDir} already holds checkpoints of a run; continue it with --resume --out ${outDir}, or choose another --out`);
  }
  return { run, data, outDir, resumeFrom: undefined };
}

async function findResumePoint(flags: TrainFlags, given: ReadonlySet<string>): Promise<{ outDir: string; checkpoint: Checkpoint }> {
  const explicit = TRAJECTORY_FLAGS.filter((f) => given.has(f));
  if (explicit.length) throw new UsageError('CONFLICTING_FLAGS', `--resume continues the run in --out with its own settings; drop ${explicit.map((f) => `--${f}`).join(', ')}`);
  if (!flags.out) throw new UsageError('MISSING_ARGUMENT', '--resume needs --out DIR: the folder of the run to continue');
  const outDir = resolve(flags.out);
  if (!(await listCheckpoints(outDir)).length) throw new UsageError('BAD_INPUT', `--resume: no checkpoint in ${outDir}`);
  const checkpoint = await latestCheckpoint(outDir, undefined, (path, error) => console.error(`swarmgrad: skipping unreadable checkpoint ${path}: ${error.code}: ${error.message}`));
  if (!checkpoint) throw new UsageError('BAD_INPUT', `--resume: every checkpoint in ${outDir} is unreadable`);
  return { outDir, checkpoint };
}

/** A new run's config from the flags, checked against the data. */
export async function newRunConfig(flags: TrainFlags, data: LoadedData): Promise<RunConfig> {
  const modelSpec = await loadModel(flags.model, data);
  const batchSize = flags.batch;
  const microShardSize = flags['micro-batch'];
  if (batchSize % microShardSize !== 0) throw new UsageError('CONFLICTING_FLAGS', `--batch ${batchSize} must be a multiple of --micro-batch ${microShardSize}`);
  if (batchSize > data.train.length) throw new UsageError('BAD_VALUE', `--batch ${batchSize} is larger than the training set (${data.train.length} samples)`);
  const stepsPerEpoch = Math.floor(data.train.length / batchSize);
  const totalSteps = flags.steps ?? Math.max(1, Math.round(flags.epochs * stepsPerEpoch));
  const runId = flags['run-id'] ?? `${planModel(modelSpec).name}-${timestamp()}`;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(runId)) throw new UsageError('BAD_VALUE', `--run-id may use letters, digits, '.', '_' and '-' (1 to 128); got ${JSON.stringify(runId)}`);
  return {
    runId,
    modelSpec,
    dataset: data.descriptor,
    batchSize,
    microShardSize,
    optimizer: optimizerConfig(flags.optimizer, flags.lr, flags.momentum, flags['weight-decay'], scheduleConfig(flags.schedule, totalSteps)),
    seed: flags.seed,
    totalSteps,
    evalEvery: flags['eval-every'] ?? stepsPerEpoch,
    checkpointEvery: flags['checkpoint-every'],
    codec: flags.codec,
    ...(flags['eval-samples'] !== undefined ? { evalSamples: flags['eval-samples'] } : {}),
  };
}

/** The lab token (workers presenting it are trusted) and the dashboard's admin token. */
export interface RunTokens {
  token: string;
  /** Where a worker finds the lab token (`--token-file`, or the generated `<out>/lab-token`). */
  tokenFile: string;
  adminToken: string;
  /** Where the admin token is, for the log line. */
  adminTokenSource: string;
}

/**
 * The tokens: env `SWARMGRAD_TOKEN` / `SWARMGRAD_ADMIN_TOKEN`, else the token files, else
 * generated and saved (0600) in the output folder, so that workers without the lab token
 * (browser volunteers) always join as untrusted.
 */
export async function prepareTokens(flags: TrainFlags, outDir: string, env: NodeJS.ProcessEnv = process.env): Promise<RunTokens> {
  const givenToken = env.SWARMGRAD_TOKEN?.trim() || (flags['token-file'] ? await readToken(flags['token-file']) : undefined);
  const token = givenToken ?? randomBytes(18).toString('base64url');
  const tokenFile = flags['token-file'] ?? join(outDir, 'lab-token');
  if (!givenToken) await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const envAdmin = env.SWARMGRAD_ADMIN_TOKEN?.trim();
  const adminFile = flags['admin-token-file'];
  const adminToken = envAdmin || (adminFile ? await readToken(adminFile) : randomBytes(18).toString('base64url'));
  const adminTokenSource = envAdmin ? 'SWARMGRAD_ADMIN_TOKEN' : (adminFile ?? join(outDir, 'admin-token'));
  if (!envAdmin && !adminFile) await writeFile(adminTokenSource, `${adminToken}\n`, { mode: 0o600 });
  return { token, tokenFile, adminToken, adminTokenSource };
}


/** `--optimizer` with its learning rate, momentum, weight decay and schedule. */
export function optimizerConfig(name: string, lr: number, momentum: number, weightDecay: number, schedule: ScheduleConfig): OptimizerConfig {
  if (!(lr > 0)) throw new UsageError('BAD_VALUE', `--lr must be positive; got ${lr}`);
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

/** `--schedule` over a run of `totalSteps`. */
export function scheduleConfig(name: string, totalSteps: number): ScheduleConfig {
  if (name === 'cosine') return totalSteps > 1 ? { type: 'cosine', totalSteps } : { type: 'constant' };
  if (name === 'step') return { type: 'step', stepSize: Math.max(1, Math.floor(totalSteps / 3)), gamma: 0.1 };
  return { type: 'constant' };
}

async function readToken(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new UsageError('BAD_INPUT', `cannot read token file ${path}: ${(error as Error).message}`);
  }
  if (!token) throw new UsageError('BAD_INPUT', `token file ${path} is empty`);
  return token;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

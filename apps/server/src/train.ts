import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Coordinator, paramsSha256, type RunSnapshot } from '@swarmgrad/coordinator';
import { BAN_FILE_NAME, checkpointWriter, encodeCheckpoint, persistentBanList, writeCheckpointAtomic } from '@swarmgrad/coordinator/node';
import { planModel } from '@swarmgrad/nn/core';
import { parseCommand, usage, UsageError, type CommandSpec } from './args.js';
import { SERVE, TRAIN } from './commands.js';
import { startRunServer, type RunServer } from './http-server.js';
import { superviseLocalWorkers, type LocalWorkers } from './local-workers.js';
import { createProgress, formatDuration } from './progress.js';
import { createRunHandler } from './routes.js';
import { prepareRun, prepareTokens, type PreparedRun, type RunTokens, type TrainFlags } from './run-config.js';
import { SocketHub } from './socket-hub.js';
import { attachRunMetrics, type RunMetrics } from './run-metrics.js';

/** A started run: the engine behind its server, and where its output goes. */
interface LiveRun extends PreparedRun {
  engine: Coordinator;
  server: RunServer;
  wsUrl: string;
  tokens: RunTokens;
  progress: ReturnType<typeof createProgress>;
  metrics: RunMetrics;
  hub: SocketHub;
}

/** What `--json` prints and `run.json` holds (with the config). */
interface RunSummary {
  runId: string;
  status: RunSnapshot['status'];
  steps: number;
  seconds: number;
  testAccuracy: number | null;
  testLoss: number | null;
  paramsSha256: string;
  checkpoint: string | null;
  out: string;
}

/** `swarmgrad train` / `swarmgrad serve`. Returns the exit code: 0 finished, 3 stopped before its end. */
export async function trainCommand(argv: string[], withWorkers: boolean): Promise<number> {
  const command: CommandSpec = withWorkers ? TRAIN : SERVE;
  const parsed = withWorkers ? parseCommand(TRAIN, argv) : parseCommand(SERVE, argv);
  if (parsed.help) {
    console.log(usage(command));
    return 0;
  }
  // serve has no local workers
  const flags: TrainFlags = { workers: 0, backend: 'auto', threads: undefined, 'worker-slowdown-ms': undefined, ...parsed.flags };
  const prepared = await prepareRun(flags, parsed.given);
  await mkdir(prepared.outDir, { recursive: true });
  const tokens = await prepareTokens(flags, prepared.outDir);
  const live = await startRun(prepared, tokens, flags);
  announce(live, flags, command.name);

  const started = Date.now();
  live.engine.start();
  const workers = withWorkers && flags.workers > 0 ? startLocalWorkers(live, flags) : undefined;
  const signals = stopOnSignals(live);
  const final = await live.engine.done;
  live.progress.finish();
  const summary = await finishRun(live, final, started, workers);
  signals.release();
  report(live, summary, final, flags.json);
  if (flags['keep-serving'] && !signals.interrupted()) {
    console.error(`still serving the dashboard at ${live.server.url}/dashboard/ — Ctrl-C to exit`);
    await new Promise<void>((done) => {
      process.once('SIGINT', () => done());
      process.once('SIGTERM', () => done());
    });
  }
  await live.server.close();
  return final.status === 'finished' ? 0 : 3;
}

/** The engine, its HTTP + WebSocket server, the progress display and `server.json`. */
async function startRun(prepared: PreparedRun, tokens: RunTokens, flags: TrainFlags): Promise<LiveRun> {
  const { run, data, outDir, resumeFrom } = prepared;
  const hub = new SocketHub();
  const engine = new Coordinator({
    run,
    trainData: data.train,
    testData: data.test,
    transport: hub.transport,
    token: tokens.token,
    allowVolunteers: !flags['no-volunteers'] && flags.volunteers !== 'off',
    paramsDelta: flags['params-delta'],
    verification: {
      mode: flags.volunteers as 'off' | 'verify' | 'trust',
      untrustedShare: checkedFraction('--untrusted-share', flags['untrusted-share'], true),
      rateFloor: checkedFraction('--verify-rate-floor', flags['verify-rate-floor'], false),
      probationResults: flags['probation-results'],
      replaySteps: flags['replay-steps'],
      auditSteps: flags['audit-steps'],
      banMs: flags['ban-hours'] > 0 ? flags['ban-hours'] * 3_600_000 : Number.POSITIVE_INFINITY,
      bans: (await persistentBanList(join(outDir, BAN_FILE_NAME))).bans,
    },
    adminToken: tokens.adminToken,
    onCheckpoint: checkpointWriter({ directory: outDir, keep: 3 }),
    ...(resumeFrom ? { resume: resumeFrom } : {}),
  });
  const metrics = attachRunMetrics(engine, { outDir, modelSpec: run.modelSpec, histogramEvery: flags['histogram-every'], ...(flags.tensorboard && { tensorboardDir: resolve(flags.tensorboard) }) });
  const server = await startRunServer(engine, hub, {
    port: flags.port,
    host: flags.host,
    handle: createRunHandler({ engine, testData: data.test, runsRoot: resolve(outDir, '..'), isAdmin: (req) => hub.adminRequest(req) }),
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') throw new UsageError('BAD_INPUT', `port ${flags.port} is in use; pick another with --port (0 picks a free one)`);
    throw error;
  });
  const wsUrl = `ws://${flags.host === '0.0.0.0' ? '127.0.0.1' : flags.host}:${server.port}/ws`;
  const progress = createProgress({
    totalSteps: run.totalSteps,
    stepsPerEpoch: Math.floor(data.train.length / run.batchSize),
    batchSize: run.batchSize,
    startStep: engine.step,
    stream: process.stderr,
    plain: flags.json || !process.stderr.isTTY,
  });
  engine.on((event) => progress.onEvent(event));
  // Atomically (a temporary file renamed over it): scripts and tests read server.json as soon
  // as it exists, and a plain write let them read it empty.
  await writeJsonAtomic(join(outDir, 'server.json'), { pid: process.pid, port: server.port, url: server.url, ws: wsUrl, runId: run.runId });
  return { ...prepared, engine, server, wsUrl, tokens, progress, metrics, hub };
}

/** Writes `value` as indented JSON to `path`, atomically: readers see the old file or the whole new one, never a part. */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeCheckpointAtomic(path, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
}

/** The log lines that say what runs, where it listens and how to join or watch it. */
function announce(live: LiveRun, flags: TrainFlags, command: string): void {
  const { run, data, server, wsUrl, tokens, progress, outDir, resumeFrom } = live;
  const summary = planModel(run.modelSpec);
  progress.log(`swarmgrad ${command}: run ${run.runId}${resumeFrom ? ` resumed at step ${resumeFrom.step}` : ''} — ${summary.name} (${summary.paramCount.toLocaleString('en-US')} parameters) on ${data.descriptor.name}, ${run.totalSteps} steps of ${run.batchSize} (${run.batchSize / run.microShardSize} micro-shards of ${run.microShardSize}), ${run.optimizer.type} lr ${run.optimizer.lr}`);
  progress.log(`listening on ${server.url} (WebSocket ${wsUrl}, API /api/runs, metrics /metrics); output in ${outDir}`);
  // A local training run may hand the admin token to the browser in the link; a shared
  // coordinator (serve) only says where the token is.
  progress.log(
    command === 'train' && flags.host === '127.0.0.1'
      ? `dashboard: ${server.url}/dashboard/#token=${tokens.adminToken} · lend a browser tab: ${server.url}/`
      : `dashboard: ${server.url}/dashboard/ (admin token in ${tokens.adminTokenSource}) · volunteers: ${server.url}/`,
  );
  if (command === 'serve') {
    const tokenHint = process.env.SWARMGRAD_TOKEN && !flags['token-file'] ? '(with SWARMGRAD_TOKEN set)' : `--token-file ${tokens.tokenFile}`;
    progress.log(`waiting for workers: swarmgrad worker --coordinator ${wsUrl} ${tokenHint}; volunteers: open ${server.url}/`);
  }
}

function startLocalWorkers(live: LiveRun, flags: TrainFlags): LocalWorkers {
  const slowdown = flags['worker-slowdown-ms'];
  return superviseLocalWorkers({
    count: flags.workers,
    coordinatorUrl: live.wsUrl,
    backend: flags.backend,
    token: live.tokens.token,
    log: (line) => live.progress.log(line),
    ...(slowdown ? { slowFirstMs: slowdown } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
  });
}

/** SIGINT / SIGTERM stop the run (the engine takes a last checkpoint); a second one exits at once. */
function stopOnSignals(live: LiveRun): { interrupted(): boolean; release(): void } {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    live.progress.log(`${signal}: stopping the run at step ${live.engine.step} (checkpoint in ${live.outDir}; continue with --resume --out ${live.outDir})`);
    live.engine.stop();
    // Whatever the load: no new connections, and nobody else's frames compete with the checkpoint.
    live.hub.shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    interrupted: () => interrupted,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Writes `final.ckpt` (a finished run) and `run.json`, stops the local workers. */
async function finishRun(live: LiveRun, final: RunSnapshot, started: number, workers: LocalWorkers | undefined): Promise<RunSummary> {
  const { engine, outDir, run } = live;
  const checkpoint = engine.checkpoint();
  const finalPath = join(outDir, 'final.ckpt');
  if (final.status === 'finished') await writeCheckpointAtomic(finalPath, encodeCheckpoint(checkpoint));
  await workers?.stop();
  await live.metrics.close();
  const lastEval = final.evals[final.evals.length - 1];
  const summary: RunSummary = {
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
  await writeJsonAtomic(join(outDir, 'run.json'), { ...summary, config: run });
  return summary;
}

/** The final summary: one JSON line on stdout with `--json`, else lines on stderr. */
function report(live: LiveRun, summary: RunSummary, final: RunSnapshot, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(summary));
    return;
  }
  const lastEval = final.evals[final.evals.length - 1];
  console.error(
    [
      `run ${summary.runId} ${final.status} after ${summary.steps} steps in ${formatDuration(summary.seconds)}`,
      lastEval ? `test accuracy ${(lastEval.accuracy * 100).toFixed(2)}% (loss ${lastEval.loss.toFixed(4)}) on ${lastEval.samples.toLocaleString('en-US')} images` : 'no evaluation',
      `paramsSha256 ${summary.paramsSha256}`,
      final.status === 'finished' ? `final checkpoint ${summary.checkpoint}` : `continue with: swarmgrad train --resume --out ${live.outDir}`,
    ].join('\n'),
  );
}

/** A fraction flag in (0, 1], or [0, 1] with `zeroAllowed`. */
function checkedFraction(flag: string, value: number, zeroAllowed: boolean): number {
  if (!(value <= 1) || (!zeroAllowed && !(value > 0))) throw new UsageError('BAD_VALUE', `${flag} must be ${zeroAllowed ? 'between 0 and 1' : 'above 0 and at most 1'}; got ${value}`);
  return value;
}

/**
 * Curves out of a run: `metrics.jsonl` in the run folder (one JSON line per step and per
 * evaluation) and, with `--tensorboard DIR`, TensorBoard event files (scalars: loss, test
 * accuracy and loss, learning rate, samples/s, workers; per-layer parameter histograms every N steps).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Coordinator, CoordinatorEvent } from '@swarmgrad/coordinator';
import { TensorBoardWriter } from '@swarmgrad/export/tensorboard';
import { planModel, type ModelSpec } from '@swarmgrad/nn/core';
import type { FlagSpec } from './args.js';

/** The flags of `train` and `serve` that add curves. */
export const METRICS_FLAGS = {
  tensorboard: { type: 'string', placeholder: 'DIR', help: 'write TensorBoard event files to DIR (scalars every step, histograms every --histogram-every steps)' },
  'histogram-every': { type: 'int', min: 0, help: 'steps between per-layer parameter histograms in --tensorboard (0: none)', default: 100 },
} as const satisfies Record<string, FlagSpec>;

/** Options of {@link attachRunMetrics}. */
export interface RunMetricsOptions {
  /** The run folder: `metrics.jsonl` is appended there. */
  outDir: string;
  /** TensorBoard log folder, if any. */
  tensorboardDir?: string;
  /** Steps between histograms (0: none). Default 100. */
  histogramEvery?: number;
  modelSpec: ModelSpec;
}

/** A running metrics sink; `close` flushes and closes its files. */
export interface RunMetrics {
  readonly jsonlFile: string;
  readonly tensorboardFile?: string;
  close(): Promise<void>;
}

/** Subscribes to the engine's events and writes `metrics.jsonl` (and TensorBoard files). */
export function attachRunMetrics(engine: Pick<Coordinator, 'on' | 'params'>, options: RunMetricsOptions): RunMetrics {
  const jsonlFile = join(options.outDir, 'metrics.jsonl');
  const jsonl: WriteStream = createWriteStream(jsonlFile, { flags: 'a' });
  const tb = options.tensorboardDir === undefined ? undefined : TensorBoardWriter.open(options.tensorboardDir);
  const every = options.histogramEvery ?? 100;
  const layers = planModel(options.modelSpec).layers.filter((l) => l.params.length > 0);
  const histograms = (step: number): void => {
    const params = engine.params();
    for (const layer of layers) {
      for (const p of layer.params) tb?.histogram(`params/${layer.index}-${layer.type}/${p.name}`, params.subarray(p.offset, p.offset + p.size), step);
    }
  };
  const onEvent = (event: CoordinatorEvent): void => {
    const wall = Date.now() / 1000;
    if (event.kind === 'step') {
      const done = event.step + 1;
      // The coordinator process's own CPU time so far (user + system, ms; local workers are
      // other processes): its cost per step is the difference between two lines.
      const cpu = process.cpuUsage();
      const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
      jsonl.write(`${JSON.stringify({ kind: 'step', step: done, epoch: event.epoch, loss: event.loss, lr: event.lr, samplesPerSecond: event.samplesPerSecond, workers: event.workers, stepMs: event.stepMs, cpuMs, time: new Date().toISOString() })}\n`);
      tb?.scalar('train/loss', event.loss, done, wall);
      tb?.scalar('train/learning_rate', event.lr, done, wall);
      tb?.scalar('train/samples_per_second', event.samplesPerSecond, done, wall);
      tb?.scalar('train/workers', event.workers, done, wall);
      if (tb && every > 0 && done % every === 0) histograms(done);
    } else if (event.kind === 'eval') {
      jsonl.write(`${JSON.stringify({ kind: 'eval', step: event.step, loss: event.loss, accuracy: event.accuracy, time: new Date().toISOString() })}\n`);
      tb?.scalar('test/accuracy', event.accuracy, event.step, wall);
      tb?.scalar('test/loss', event.loss, event.step, wall);
    }
  };
  const off = engine.on(onEvent);
  return {
    jsonlFile,
    ...(tb && { tensorboardFile: tb.file }),
    async close() {
      off();
      tb?.close();
      await new Promise<void>((resolve) => jsonl.end(resolve));
    },
  };
}

/**
 * The Prometheus metric families of a run (`GET /metrics`); every series has a `run` label.
 * `formatPrometheus` (in `prometheus.ts`) writes them as text.
 */
import type { ResolvedRun } from './config.js';
import { RUN_STATUSES, type EvalResult, type StepMetrics } from './events.js';
import type { Membership } from './membership.js';
import { formatPrometheus, type MetricFamily } from './prometheus.js';
import type { RunTotals, RunView } from './reporting.js';

/** Everything the metrics are computed from. */
export interface MetricsInput {
  run: ResolvedRun;
  view: RunView;
  lastStep: StepMetrics | undefined;
  lastEval: EvalResult | undefined;
  membership: Membership;
  /** Subscribed dashboard connections. */
  dashboards: number;
  totals: RunTotals;
  rejectedByCode: ReadonlyMap<string, number>;
}

/** The run's metrics in the Prometheus text format. */
export function runMetrics(input: MetricsInput): string {
  return formatPrometheus([...stateFamilies(input), ...workerFamilies(input), ...counterFamilies(input)]);
}

function gauge(run: string, name: string, help: string, value: number | undefined): MetricFamily {
  return { name, help, type: 'gauge', samples: value === undefined ? [] : [{ labels: { run }, value }] };
}

function counter(run: string, name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'counter', samples: [{ labels: { run }, value }] };
}

function stateFamilies({ run: resolved, view, lastStep: last }: MetricsInput): MetricFamily[] {
  const { config, plan } = resolved;
  const run = config.runId;
  return [
    {
      name: 'swarmgrad_info',
      help: 'Run facts as labels (value 1).',
      type: 'gauge',
      samples: [{ labels: { run, model: plan.name, dataset: config.dataset.name, codec: config.codec }, value: 1 }],
    },
    {
      name: 'swarmgrad_status',
      help: 'Run status (1 for the current status, 0 for the others).',
      type: 'gauge',
      samples: RUN_STATUSES.map((status) => ({ labels: { run, status }, value: status === view.status ? 1 : 0 })),
    },
    gauge(run, 'swarmgrad_step', 'Steps applied.', view.step),
    gauge(run, 'swarmgrad_total_steps', 'Steps the run will take.', config.totalSteps),
    gauge(run, 'swarmgrad_epoch', 'Epoch of the next step.', view.epoch),
    gauge(run, 'swarmgrad_parameters', 'Model parameter count.', plan.paramCount),
    gauge(run, 'swarmgrad_learning_rate', 'Learning rate of the next step.', view.lr),
    gauge(run, 'swarmgrad_loss', 'Mean training loss of the last step.', last?.loss),
    gauge(run, 'swarmgrad_samples_per_second', 'Training throughput of the last step (samples/s).', last?.samplesPerSecond),
    gauge(run, 'swarmgrad_step_duration_ms', 'Wall time of the last step (ms).', last?.stepMs),
    gauge(run, 'swarmgrad_step_compute_ms', 'Compute time of the slowest task of the last step (ms).', last?.computeMs),
    gauge(run, 'swarmgrad_step_transfer_ms', 'Round trip minus compute of the slowest task of the last step (ms).', last?.transferMs),
    gauge(run, 'swarmgrad_step_wait_ms', 'Last step time not spent in its slowest task (ms).', last?.waitMs),
  ];
}

function workerFamilies({ run: resolved, membership, dashboards }: MetricsInput): MetricFamily[] {
  const run = resolved.config.runId;
  const groups = new Map<string, { backend: string; environment: string; trusted: string; count: number }>();
  const live = membership.liveWorkers();
  for (const w of live) {
    const key = `${w.capabilities.backend}|${w.capabilities.environment}|${w.trusted}`;
    const group = groups.get(key) ?? { backend: w.capabilities.backend, environment: w.capabilities.environment, trusted: String(w.trusted), count: 0 };
    group.count++;
    groups.set(key, group);
  }
  return [
    {
      name: 'swarmgrad_workers',
      help: 'Connected workers.',
      type: 'gauge',
      samples:
        groups.size === 0
          ? [{ labels: { run }, value: 0 }]
          : [...groups.values()].map((g) => ({ labels: { run, backend: g.backend, environment: g.environment, trusted: g.trusted }, value: g.count })),
    },
    {
      name: 'swarmgrad_worker_samples_per_second',
      help: "Scheduler's throughput estimate per connected worker (samples/s).",
      type: 'gauge',
      samples: live.map((w) => ({ labels: { run, worker: w.id, backend: w.capabilities.backend }, value: membership.rateOf(w) })),
    },
    gauge(run, 'swarmgrad_dashboards', 'Subscribed dashboard connections.', dashboards),
  ];
}

function counterFamilies({ run: resolved, totals, rejectedByCode, lastEval }: MetricsInput): MetricFamily[] {
  const run = resolved.config.runId;
  return [
    counter(run, 'swarmgrad_results_accepted_total', 'Result messages that delivered at least one new block.', totals.resultsAccepted),
    {
      name: 'swarmgrad_rejected_results_total',
      help: 'Rejected or dropped messages from workers, by error code.',
      type: 'counter',
      samples: [...rejectedByCode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([code, value]) => ({ labels: { run, code }, value })),
    },
    counter(run, 'swarmgrad_shards_reissued_total', 'Micro-shards handed out again (deadline, disconnect, rejection, worker error).', totals.shardsReissued),
    counter(run, 'swarmgrad_samples_trained_total', 'Training samples in applied steps.', totals.samplesTrained),
    gauge(run, 'swarmgrad_eval_accuracy', 'Accuracy of the last evaluation.', lastEval?.accuracy),
    gauge(run, 'swarmgrad_eval_loss', 'Mean loss of the last evaluation.', lastEval?.loss),
    gauge(run, 'swarmgrad_eval_step', 'Steps applied at the last evaluation.', lastEval?.step),
    counter(run, 'swarmgrad_checkpoints_total', 'Checkpoints written.', totals.checkpoints),
    counter(run, 'swarmgrad_checkpoint_failures_total', 'Checkpoints that failed.', totals.checkpointFailures),
  ];
}

/** The params fan-out: frames sent by form, and parameter bytes sent against full vectors. */
export function paramsFamilies(run: string, sent: { full: number; delta: number; bytes: number; fullBytes: number }): MetricFamily[] {
  return [
    {
      name: 'swarmgrad_params_frames_total',
      help: 'params messages sent to workers, by form (full vector or xor-deflate delta).',
      type: 'counter',
      samples: [
        { labels: { run, form: 'full' }, value: sent.full },
        { labels: { run, form: 'delta' }, value: sent.delta },
      ],
    },
    counter(run, 'swarmgrad_params_bytes_total', 'Parameter bytes sent to workers (vectors or delta bytes).', sent.bytes),
    counter(run, 'swarmgrad_params_full_bytes_total', 'Parameter bytes full vectors would have taken for the same messages.', sent.fullBytes),
  ];
}

import type { CoordinatorEvent } from '@swarmgrad/coordinator';

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  totalSteps: number;
  stepsPerEpoch: number;
  /** Samples per step (B). */
  batchSize: number;
  /** First step of this process (a resumed run starts past 0). */
  startStep: number;
  /** Where lines go (stderr). */
  stream: NodeJS.WriteStream;
  /** Plain log lines every `intervalMs` instead of a redrawn bar (no TTY, or --json). */
  plain: boolean;
  intervalMs?: number;
}

/** What the status line shows. */
export interface ProgressState {
  /** Steps applied. */
  step: number;
  totalSteps: number;
  stepsPerEpoch: number;
  /** Samples per step (B). */
  batchSize: number;
  /** Last training loss (NaN before the first step). */
  loss: number;
  /** Last test accuracy. */
  accuracy: number | undefined;
  workers: number;
  /** Recent steps per second (0: not measured yet). */
  stepsPerSecond: number;
}

/** `epoch 1/4 · step 12/1872 · loss 0.3010 · test acc — · 2,560 samples/s · 2 workers · ETA 12:03` */
export function statusLine(state: ProgressState): string {
  const { step, totalSteps, stepsPerEpoch, stepsPerSecond, loss, accuracy, workers } = state;
  const epoch = Math.floor(Math.max(step - 1, 0) / stepsPerEpoch) + 1;
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const eta = stepsPerSecond > 0 ? formatDuration((totalSteps - step) / stepsPerSecond) : '--:--';
  return [
    `epoch ${epoch}/${epochs}`,
    `step ${step}/${totalSteps}`,
    `loss ${Number.isFinite(loss) ? loss.toFixed(4) : '—'}`,
    `test acc ${accuracy === undefined ? '—' : `${(accuracy * 100).toFixed(2)}%`}`,
    `${Math.round(stepsPerSecond * state.batchSize).toLocaleString('en-US')} samples/s`,
    `${workers} worker${workers === 1 ? '' : 's'}`,
    `ETA ${eta}`,
  ].join(' · ');
}

/** The log line of an engine event other than a step (undefined: nothing worth a line). */
export function eventLine(event: CoordinatorEvent): string | undefined {
  switch (event.kind) {
    case 'eval':
      return `eval at step ${event.step}: test loss ${event.loss.toFixed(4)}, accuracy ${(event.accuracy * 100).toFixed(2)}% on ${event.samples.toLocaleString('en-US')} images`;
    case 'worker':
      return `worker ${event.workerId}${event.name ? ` (${event.name})` : ''} ${event.action}: ${event.environment}, ${event.backend}${event.adapter ? ` (${event.adapter})` : ''}${event.trusted ? '' : ', untrusted'}${event.reason ? ` — ${event.reason}` : ''}`;
    case 'reissue':
      return `step ${event.step}: ${event.blocks.length} block(s) of ${event.fromWorker} re-issued (${event.reason}) to ${event.toWorkers.join(', ') || 'the next worker that joins'}`;
    case 'rejected':
      return `rejected ${event.workerId ?? 'a connection'}: ${event.code} — ${event.message}`;
    case 'checkpoint':
      return event.ok ? undefined : `checkpoint at step ${event.step} FAILED: ${event.error} (run paused)`;
    case 'status':
      return event.status === 'paused' || event.status === 'stopped' ? `run ${event.status} at step ${event.step}` : undefined;
    case 'lr':
      return `learning rate set to ${event.lr} from step ${event.step}`;
    case 'error':
      return `engine error: ${event.message}`;
    default:
      return undefined;
  }
}

/**
 * Turns the engine's events into a progress bar on a TTY (epoch, step, loss, accuracy,
 * samples/s, ETA, redrawn in place) or into plain log lines otherwise (at most one status
 * line per `intervalMs`, and one at the last step).
 */
export function createProgress(options: ProgressOptions): { onEvent(event: CoordinatorEvent): void; log(line: string): void; finish(): void } {
  const { stream } = options;
  const interval = options.intervalMs ?? 5000;
  const { totalSteps, stepsPerEpoch, batchSize } = options;
  const state: ProgressState = { totalSteps, stepsPerEpoch, batchSize, step: options.startStep, loss: NaN, accuracy: undefined, workers: 0, stepsPerSecond: 0 };
  let lastPrinted = 0;
  let drawn = false;
  // steps/s over a sliding window of recent steps, so the ETA follows the current speed
  const recent: Array<{ time: number; step: number }> = [];

  const draw = (): void => {
    if (options.plain) {
      stream.write(`${statusLine(state)}\n`);
      return;
    }
    const width = Math.max(10, Math.min(30, (stream.columns ?? 100) - 110));
    const filled = Math.round((width * state.step) / Math.max(state.totalSteps, 1));
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    stream.write(`\r\x1b[2K${bar} ${statusLine(state)}`.slice(0, (stream.columns ?? 200) + 8));
    drawn = true;
  };

  const log = (text: string): void => {
    if (drawn) stream.write('\r\x1b[2K');
    stream.write(`${text}\n`);
    drawn = false;
    if (!options.plain) draw();
  };

  const onStep = (event: Extract<CoordinatorEvent, { kind: 'step' }>): void => {
    state.step = event.step + 1;
    state.loss = event.loss;
    state.workers = event.workers;
    recent.push({ time: event.time, step: state.step });
    if (recent.length > 20) recent.shift();
    const first = recent[0]!;
    const last = recent[recent.length - 1]!;
    state.stepsPerSecond = recent.length < 2 ? 0 : (last.step - first.step) / Math.max((last.time - first.time) / 1000, 1e-3);
    const now = Date.now();
    if (!options.plain || now - lastPrinted >= interval || state.step === state.totalSteps) {
      lastPrinted = now;
      draw();
    }
  };

  return {
    onEvent(event) {
      if (event.kind === 'step') return onStep(event);
      if (event.kind === 'eval') state.accuracy = event.accuracy;
      const text = eventLine(event);
      if (text !== undefined) log(text);
    },
    log,
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

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

/**
 * Turns the engine's events into a progress bar on a TTY (epoch, step, loss, accuracy,
 * samples/s, ETA, redrawn in place) or into plain log lines otherwise.
 */
export function createProgress(options: ProgressOptions): { onEvent(event: CoordinatorEvent): void; log(line: string): void; finish(): void } {
  const { totalSteps, stepsPerEpoch, stream } = options;
  const interval = options.intervalMs ?? 5000;
  let step = options.startStep;
  let loss = NaN;
  let accuracy: number | undefined;
  let workers = 0;
  let lastPrinted = 0;
  let drawn = false;
  // samples/s over a sliding window of recent steps, so the ETA follows the current speed
  const recent: Array<{ time: number; step: number }> = [];

  const rate = (): number => {
    if (recent.length < 2) return 0;
    const first = recent[0]!;
    const last = recent[recent.length - 1]!;
    return (last.step - first.step) / Math.max((last.time - first.time) / 1000, 1e-3);
  };

  const line = (): string => {
    const epoch = Math.floor(Math.max(step - 1, 0) / stepsPerEpoch) + 1;
    const epochs = Math.ceil(totalSteps / stepsPerEpoch);
    const stepsPerSecond = rate();
    const eta = stepsPerSecond > 0 ? formatDuration((totalSteps - step) / stepsPerSecond) : '--:--';
    const parts = [
      `epoch ${epoch}/${epochs}`,
      `step ${step}/${totalSteps}`,
      `loss ${Number.isFinite(loss) ? loss.toFixed(4) : '—'}`,
      `test acc ${accuracy === undefined ? '—' : `${(accuracy * 100).toFixed(2)}%`}`,
      `${Math.round(stepsPerSecond * options.batchSize).toLocaleString('en-US')} samples/s`,
      `${workers} worker${workers === 1 ? '' : 's'}`,
      `ETA ${eta}`,
    ];
    return parts.join(' · ');
  };

  const draw = (): void => {
    if (options.plain) {
      stream.write(`${line()}\n`);
      return;
    }
    const width = Math.max(10, Math.min(30, (stream.columns ?? 100) - 110));
    const filled = Math.round((width * step) / Math.max(totalSteps, 1));
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    stream.write(`\r\x1b[2K${bar} ${line()}`.slice(0, (stream.columns ?? 200) + 8));
    drawn = true;
  };

  const log = (text: string): void => {
    if (drawn) stream.write('\r\x1b[2K');
    stream.write(`${text}\n`);
    drawn = false;
    if (!options.plain) draw();
  };

  return {
    onEvent(event) {
      switch (event.kind) {
        case 'step': {
          step = event.step + 1;
          loss = event.loss;
          workers = event.workers;
          recent.push({ time: event.time, step });
          if (recent.length > 20) recent.shift();
          const now = Date.now();
          if (!options.plain || now - lastPrinted >= interval || step === totalSteps) {
            lastPrinted = now;
            draw();
          }
          break;
        }
        case 'eval':
          accuracy = event.accuracy;
          log(`eval at step ${event.step}: test loss ${event.loss.toFixed(4)}, accuracy ${(event.accuracy * 100).toFixed(2)}% on ${event.samples.toLocaleString('en-US')} images`);
          break;
        case 'worker':
          log(`worker ${event.workerId}${event.name ? ` (${event.name})` : ''} ${event.action}: ${event.environment}, ${event.backend}${event.adapter ? ` (${event.adapter})` : ''}${event.trusted ? '' : ', untrusted'}${event.reason ? ` — ${event.reason}` : ''}`);
          break;
        case 'reissue':
          log(`step ${event.step}: ${event.blocks.length} block(s) of ${event.fromWorker} re-issued (${event.reason}) to ${event.toWorkers.join(', ') || 'the next worker that joins'}`);
          break;
        case 'rejected':
          log(`rejected ${event.workerId ?? 'a connection'}: ${event.code} — ${event.message}`);
          break;
        case 'checkpoint':
          if (!event.ok) log(`checkpoint at step ${event.step} FAILED: ${event.error} (run paused)`);
          break;
        case 'status':
          if (event.status === 'paused' || event.status === 'stopped') log(`run ${event.status} at step ${event.step}`);
          break;
        case 'lr':
          log(`learning rate set to ${event.lr} from step ${event.step}`);
          break;
        case 'error':
          log(`engine error: ${event.message}`);
          break;
      }
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

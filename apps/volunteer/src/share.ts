/**
 * This tab's share of the run: the micro-shards the coordinator accepted from this tab's
 * worker ÷ all micro-shards of the steps completed since the tab joined. Read from the
 * coordinator's accounting (`GET /api/runs/current/accounting?since=N`), incrementally.
 */

/** One accepted block, as the accounting route returns it. */
interface AccountedBlock {
  start: number;
  count: number;
  workerId: string;
}

/** One completed step, as the accounting route returns it. */
interface StepAccounting {
  step: number;
  shardCount: number;
  blocks: AccountedBlock[];
}

/** The share so far. */
export interface Share {
  /** Micro-shards this tab computed that the coordinator accepted. */
  mine: number;
  /** Micro-shards of the steps counted. */
  total: number;
  /** Steps counted (completed since the tab joined). */
  steps: number;
}

/** Polls the accounting while the tab contributes. */
export class ShareTracker {
  private nextStep: number | undefined;
  private readonly workerIds = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight = false;
  private unavailable = false;
  readonly share: Share = { mine: 0, total: 0, steps: 0 };

  constructor(
    private readonly apiBase: string,
    private readonly onChange: (share: Share) => void,
    private readonly intervalMs = 3000,
  ) {}

  /**
   * Counts from step `fromStep` on for the worker `workerId` (called on every welcome; a
   * reconnect usually keeps the id, a new one is added).
   */
  track(workerId: string, fromStep: number): void {
    this.workerIds.add(workerId);
    this.nextStep ??= fromStep;
    if (this.timer === undefined && !this.unavailable) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      void this.poll();
    }
  }

  /** Stops polling (the counts stay). */
  pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forgets everything (a new run). */
  reset(): void {
    this.pause();
    this.nextStep = undefined;
    this.workerIds.clear();
    this.unavailable = false;
    Object.assign(this.share, { mine: 0, total: 0, steps: 0 });
  }

  /** Polls once more now (e.g. when the run finished). */
  async poll(): Promise<void> {
    if (this.inFlight || this.nextStep === undefined || this.unavailable) return;
    this.inFlight = true;
    try {
      const response = await fetch(`${this.apiBase}/api/runs/current/accounting?since=${this.nextStep}`, { cache: 'no-store' });
      if (response.status === 404) {
        // An older coordinator without the route (or the run is over): stop asking.
        this.unavailable = true;
        this.pause();
        return;
      }
      if (!response.ok) return;
      const body = (await response.json()) as { steps?: StepAccounting[] };
      for (const entry of body.steps ?? []) {
        if (entry.step < this.nextStep) continue;
        this.share.total += entry.shardCount;
        this.share.steps++;
        for (const block of entry.blocks) if (this.workerIds.has(block.workerId)) this.share.mine += block.count;
        this.nextStep = entry.step + 1;
      }
      this.onChange(this.share);
    } catch {
      // The coordinator is unreachable for now: the next poll tries again.
    } finally {
      this.inFlight = false;
    }
  }
}

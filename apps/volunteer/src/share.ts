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

/** This tab's verified contribution, from `GET /api/runs/current/verification?worker=ID` (summed over its worker ids). */
export interface Verified {
  /** Results a trusted worker recomputed and found equal (only these earn credit). */
  results: number;
  /** Training samples in those results. */
  samples: number;
  /** Verification level of the tab's newest worker id: probation, spot-checked, rejected. */
  level: string | null;
  /** Why the tab is refused (a ban's reason), if it is. */
  refusal: string | null;
}

/** The share so far. */
export interface Share {
  /** Micro-shards this tab computed that the coordinator accepted. */
  mine: number;
  /** Micro-shards of the steps counted. */
  total: number;
  /** Steps counted (completed since the tab joined). */
  steps: number;
  /** The verified part of this tab's work. */
  verified: Verified;
}

/** Polls the accounting while the tab contributes. */
export class ShareTracker {
  private nextStep: number | undefined;
  private readonly workerIds = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight = false;
  private unavailable = false;
  readonly share: Share = { mine: 0, total: 0, steps: 0, verified: { results: 0, samples: 0, level: null, refusal: null } };

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
    Object.assign(this.share, { mine: 0, total: 0, steps: 0, verified: { results: 0, samples: 0, level: null, refusal: null } });
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
      await this.pollVerified();
      this.onChange(this.share);
    } catch {
      // The coordinator is unreachable for now: the next poll tries again.
    } finally {
      this.inFlight = false;
    }
  }

  /** Sums the verified credit of this tab's worker ids (a coordinator without the route leaves it at zero). */
  private async pollVerified(): Promise<void> {
    const verified: Verified = { results: 0, samples: 0, level: null, refusal: null };
    for (const id of this.workerIds) {
      const response = await fetch(`${this.apiBase}/api/runs/current/verification?worker=${encodeURIComponent(id)}`, { cache: 'no-store' });
      if (!response.ok) continue;
      const body = (await response.json()) as { level?: string | null; credit?: { verifiedResults: number; verifiedSamples: number }; ban?: { reason: string } | null };
      verified.results += body.credit?.verifiedResults ?? 0;
      verified.samples += body.credit?.verifiedSamples ?? 0;
      verified.level = body.level ?? verified.level;
      if (body.ban) verified.refusal = body.ban.reason;
    }
    this.share.verified = verified;
  }
}

/**
 * The insights of one run as this page sees them. The server pins one copy of the
 * parameters per run; the first request of a page (and every Refresh) asks it to take the
 * latest ones (`refresh=1`), later requests reuse the pinned copy, so every view shows the
 * same step and switching images or filters is quick.
 */
import { getJson, insightsUrl } from './api.js';
import type { InsightIndex } from './types.js';

type Listener = (step: number) => void;

export class InsightsSession {
  /** Step of the parameters the server pinned for this page (null before the first answer). */
  pinnedStep: number | null = null;
  private refreshed = false;
  private index: Promise<InsightIndex> | undefined;
  private indexStep: number | null = null;
  private readonly listeners = new Set<Listener>();
  private pending = 0;

  constructor(
    readonly runId: string,
    /** Whether the run's parameters can change (the live run). */
    readonly live: boolean,
  ) {}

  /** Fetches an insights route; `refresh` takes the latest parameters first (live runs). */
  async get<T extends { step: number }>(view: string, query: Record<string, string | number | undefined> = {}, refresh = false): Promise<T> {
    const wantRefresh = this.live && (refresh || !this.refreshed);
    this.refreshed ||= wantRefresh;
    this.pending++;
    try {
      const answer = await getJson<T>(insightsUrl(this.runId, view, { ...query, ...(wantRefresh ? { refresh: 1 } : {}) }));
      this.setPinned(answer.step);
      return answer;
    } catch (error) {
      if (wantRefresh) this.refreshed = false;
      throw error;
    } finally {
      this.pending--;
    }
  }

  /** The model's layers and the test set (cached while the pin stays). */
  layers(): Promise<InsightIndex> {
    if (!this.index || this.indexStep !== this.pinnedStep) {
      this.indexStep = this.pinnedStep;
      this.index = this.get<InsightIndex>('');
      this.index.catch(() => {
        this.index = undefined;
      });
    }
    return this.index;
  }

  /** Called with the new step whenever the pinned parameters change. */
  onPin(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  private setPinned(step: number): void {
    if (this.pinnedStep === step) return;
    const had = this.pinnedStep !== null;
    this.pinnedStep = step;
    if (had) for (const listener of this.listeners) listener(step);
  }
}

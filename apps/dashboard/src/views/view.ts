/** What every view of the dashboard implements, and what it may ask of the app. */
import type { AdminAction } from '@swarmgrad/protocol';
import type { InsightsSession } from '../insights-session.js';
import type { Change, RunState } from '../store.js';
import type { LiveState } from '../live.js';

/** The app as views see it. */
export interface AppContext {
  /** The run shown. */
  readonly run: RunState;
  /** Whether the run shown is the server's live run and the server can still be reached. */
  readonly reachable: boolean;
  readonly connection: LiveState;
  /** A verified admin token is held (admin actions are enabled). */
  readonly canAdmin: boolean;
  /** Sends an admin action; false when it could not be sent. */
  admin(action: AdminAction, value?: number | string): boolean;
  /** The insights session of the run shown. */
  readonly insights: InsightsSession;
  /** Switches views (and optionally runs). */
  navigate(view: ViewName, runId?: string, params?: Record<string, number>): void;
  toast(text: string, tone?: 'info' | 'good' | 'warn' | 'bad'): void;
}

export type ViewName = 'training' | 'filters' | 'activations' | 'patches' | 'errors' | 'runs';

/** A view: built once per run shown, updated as the run changes. */
export interface View {
  readonly element: HTMLElement;
  /** The run changed (live events); `changes` says what. */
  update(changes: ReadonlySet<Change | 'admin' | 'connection'>): void;
  /** The view became visible (with parameters from a link, e.g. `{ layer, filter }`). */
  show(params?: Record<string, number>): void;
  /** The view was hidden. */
  hide?(): void;
}

/**
 * Words for what the tab is doing: the one-line state, its detail and colour, from the
 * worker session's status. Pure functions, no DOM.
 */
import type { WorkerSessionStatus } from '@swarmgrad/worker';

/** Where the tab is, as the page draws it. `data-status` on `#state` holds this (tests read it). */
export type TabStatus = 'idle' | 'choosing' | 'connecting' | 'connected' | 'computing' | 'paused' | 'reconnecting' | 'stopping' | 'stopped' | 'finished' | 'refused';

/** Colour of the status dot. */
export type Tone = 'idle' | 'ok' | 'busy' | 'warn' | 'bad';

/** What the page shows in its status card. */
export interface Description {
  status: TabStatus;
  title: string;
  detail: string;
  tone: Tone;
}

/** What {@link describe} needs to know. */
export interface TabState {
  /** `idle` before Start, `choosing` while the backend is chosen, `session` while a session runs, `stopped` after it ended. */
  phase: 'idle' | 'choosing' | 'session' | 'stopped';
  choosingDetail?: string;
  session?: WorkerSessionStatus;
  error?: { code: string; message: string };
  /** The run's status from the dashboard feed. */
  runStatus?: string;
  /** `Date.now()`, for the reconnect countdown. */
  now: number;
}

/** Codes by which the coordinator refuses this tab for good: its results failed verification, or it is banned. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set(['VERIFICATION_FAILED', 'BANNED']);

/** Human names of the backends. */
export const BACKEND_LABELS: Record<string, string> = { webgpu: 'WebGPU', 'wasm-fma': 'WebAssembly (compiled step, fused multiply-add)', 'wasm-step': 'WebAssembly (compiled step)', wasm: 'WebAssembly', cpu: 'CPU (JavaScript)' };

const INTRO =
  'Your browser computes gradients of a neural network for the run, in a background worker. Nothing is installed; pause or close the tab whenever you like — no work is lost.';

/** The status card's contents for `state`. */
export function describe(state: TabState): Description {
  const runOver = state.runStatus === 'finished' || state.runStatus === 'stopped';
  const s = state.session;
  const done = s?.tasksDone ?? 0;
  if (state.phase === 'idle') {
    if (runOver) return { status: 'finished', title: `The run has ${state.runStatus}`, detail: 'There is no work left here. Thank you for stopping by!', tone: 'ok' };
    return { status: 'idle', title: 'Not contributing', detail: INTRO, tone: 'idle' };
  }
  if (state.phase === 'choosing') {
    return { status: 'choosing', title: 'Testing this device…', detail: `Finding the fastest way to compute here: ${state.choosingDetail ?? 'starting'}.`, tone: 'busy' };
  }
  if (state.phase === 'stopped' || s === undefined || s.connection === 'stopped') {
    if (runOver || state.error?.code === 'RUN_FINISHED') {
      return { status: 'finished', title: `The run has ${state.runStatus === 'stopped' ? 'stopped' : 'finished'}`, detail: `Thank you! This tab computed ${plural(done, 'task')}.`, tone: 'ok' };
    }
    if (state.error !== undefined && REFUSAL_CODES.has(state.error.code)) {
      return { status: 'refused', title: 'Refused by the coordinator', detail: `${state.error.message} (${state.error.code})`, tone: 'bad' };
    }
    if (state.error !== undefined) return { status: 'stopped', title: 'Stopped', detail: `${state.error.message} (${state.error.code})`, tone: 'bad' };
    return { status: 'stopped', title: 'Stopped', detail: `This tab computed ${plural(done, 'task')}. Start again whenever you like.`, tone: 'idle' };
  }
  switch (s.connection) {
    case 'starting':
      return { status: 'choosing', title: 'Starting…', detail: 'Starting the compute backend.', tone: 'busy' };
    case 'connecting':
      return s.connections > 0
        ? { status: 'reconnecting', title: 'Reconnecting…', detail: 'The connection dropped; rejoining the run. Unfinished work is given to others meanwhile.', tone: 'warn' }
        : { status: 'connecting', title: 'Connecting…', detail: 'Joining the run.', tone: 'busy' };
    case 'waiting': {
      const seconds = s.retryAt === undefined ? 0 : Math.max(0, Math.ceil((s.retryAt - state.now) / 1000));
      const why = s.lastError !== undefined ? ` (${s.lastError.message})` : '';
      return { status: 'reconnecting', title: seconds > 0 ? `Reconnecting in ${seconds} s` : 'Reconnecting…', detail: `Cannot reach the coordinator${why}. Retrying on its own.`, tone: 'warn' };
    }
    case 'stopping':
      return { status: 'stopping', title: 'Stopping…', detail: 'Finishing the current task first.', tone: 'warn' };
    case 'connected':
      break;
  }
  if (s.state === 'paused') {
    const finishing = s.currentTask !== undefined ? ' The task in hand is finished and sent first.' : '';
    return { status: 'paused', title: 'Paused', detail: `Not taking tasks.${finishing} Resume whenever you like.`, tone: 'warn' };
  }
  if (s.state === 'busy' && s.currentTask !== undefined) {
    const task = s.currentTask;
    const what = task.kind === 'eval' ? 'evaluating' : 'training';
    return { status: 'computing', title: 'Computing', detail: `Step ${task.step + 1}, ${what}: ${plural(task.shards, 'micro-shard')} on ${BACKEND_LABELS[s.backend] ?? s.backend}.`, tone: 'busy' };
  }
  return { status: 'connected', title: 'Connected', detail: done > 0 ? 'Waiting for the next task.' : 'Joined the run; the first task comes with the next step.', tone: 'ok' };
}

/** `1 task`, `3 tasks`. */
export function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/** A throughput for people: `1,234`, `56.7`, `0.89`. */
export function formatRate(rate: number | undefined | null): string {
  if (rate === undefined || rate === null || !Number.isFinite(rate)) return '—';
  if (rate >= 100) return Math.round(rate).toLocaleString('en-US');
  return rate.toPrecision(3);
}

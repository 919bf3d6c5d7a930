/**
 * Message handling for the run engine: routes decoded frames (hello, heartbeat, bye,
 * results, worker errors, dashboard messages), validates and submits results, refuses bad
 * ones, and re-issues the tasks of workers that die, err or miss deadlines. The run's state
 * (phase, step, status) stays with the `Coordinator`; the router reads it through
 * `RouterHost` and hands a whole phase back through `completePhase`.
 */
import type { ErrorMessage, HeartbeatMessage, Message, ProtocolError, ResultMessage } from '@swarmgrad/protocol';
import { lateAnswer, locateTask, validateResult, type Aggregator } from './aggregator.js';
import type { ResolvedEngineOptions, ResolvedRun } from './config.js';
import type { DashboardChannel } from './dashboards.js';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import type { ReissueReason, RunStatus } from './events.js';
import { chooseCodec, welcomeMessage, type Conn, type Membership, type WorkerRecord } from './membership.js';
import { workerEvent, type Peers } from './peers.js';
import type { Reporter } from './reporting.js';
import type { Scheduler } from './scheduler.js';
import type { VolunteerGuard } from './volunteer-guard.js';
import type { Phase, TaskRecord } from './work.js';

/** The run state the router reads (live: a handler may see it change under it, e.g. after a rollback). */
export interface RouterHost {
  readonly phase: Phase | null;
  readonly status: RunStatus;
  readonly step: number;
  /** Results for steps below this are stale (after a rollback). */
  readonly staleBelow: number;
  /** Applies a phase whose every unit has a value. */
  completePhase(phase: Phase): void;
}

/** The engine's collaborators the router works through. */
export interface RouterDeps {
  run: ResolvedRun;
  options: ResolvedEngineOptions;
  parameterCount: number;
  clock: () => number;
  membership: Membership;
  scheduler: Scheduler;
  aggregator: Aggregator;
  reporter: Reporter;
  peers: Peers;
  dashboards: DashboardChannel;
  guard: VolunteerGuard;
  /** Tasks of recently retired phases by id (owned by the coordinator). */
  retired: Map<string, TaskRecord>;
}

/** Handles decoded messages and task failures for one `Coordinator`. */
export class MessageRouter {
  constructor(
    private readonly deps: RouterDeps,
    private readonly host: RouterHost,
  ) {}

  /** Routes one decoded message: hello/heartbeat before admission, then by role (worker results and errors, dashboard actions). */
  dispatch(conn: Conn, msg: Message): void {
    if (conn.role === 'pending') {
      if (msg.type === 'hello') this.onHello(conn, msg);
      else if (msg.type === 'heartbeat') this.echo(conn, msg);
      else this.deps.peers.fatal(conn, CoordinatorErrorCode.HELLO_REQUIRED, `the first message must be a hello; got ${msg.type}`, CloseCode.PROTOCOL_ERROR, 'hello required');
      return;
    }
    if (msg.type === 'heartbeat') return this.onHeartbeat(conn, msg);
    if (msg.type === 'bye') return this.deps.peers.closeConn(conn, CloseCode.NORMAL, 'bye', `bye: ${msg.reason}`);
    if (msg.type === 'hello') return this.deps.peers.reject(conn, CoordinatorErrorCode.DUPLICATE_HELLO, 'this connection already said hello', { strike: true });
    if (conn.role === 'worker') this.dispatchWorker(conn, msg);
    else this.deps.dashboards.handle(conn, msg);
  }

  private dispatchWorker(conn: Conn, msg: Message): void {
    const worker = this.deps.membership.workerOf(conn);
    if (!worker) return;
    switch (msg.type) {
      case 'result':
        return this.onResult(conn, worker, msg);
      case 'error':
        return this.onWorkerError(worker, msg);
      case 'subscribe':
      case 'admin':
        return this.deps.peers.reject(conn, CoordinatorErrorCode.NOT_A_DASHBOARD, `${msg.type} is for dashboard connections; this is a worker`, { strike: true });
      default:
        return this.deps.peers.reject(conn, CoordinatorErrorCode.UNEXPECTED_MESSAGE, `workers do not send ${msg.type} messages`, { strike: true });
    }
  }

  private onHello(conn: Conn, hello: Extract<Message, { type: 'hello' }>): void {
    if (hello.role === 'dashboard') {
      conn.role = 'dashboard';
      return;
    }
    if (this.host.status === 'finished' || this.host.status === 'stopped') {
      this.deps.peers.fatal(conn, CoordinatorErrorCode.RUN_FINISHED, `run ${this.deps.run.config.runId} is ${this.host.status}; no work is left`, CloseCode.NORMAL, `run ${this.host.status}`);
      return;
    }
    const admission = this.deps.membership.authenticate(hello);
    if (!admission.admitted) {
      this.deps.peers.fatal(conn, CoordinatorErrorCode.AUTH_FAILED, admission.reason, CloseCode.POLICY_VIOLATION, 'authentication failed');
      return;
    }
    const codec = chooseCodec(hello.capabilities.codecs, this.deps.run.config.codec);
    if (codec === undefined) {
      const needed = this.deps.run.config.codec === 'f32' ? 'f32' : `${this.deps.run.config.codec} or f32`;
      const text = `worker offers codecs ${hello.capabilities.codecs.join(', ')}; this run needs ${needed}`;
      this.deps.peers.fatal(conn, CoordinatorErrorCode.CODEC_UNSUPPORTED, text, CloseCode.POLICY_VIOLATION, 'codec unsupported');
      return;
    }
    if (this.deps.guard.refuseBanned(conn, hello, admission.trusted)) return;
    const worker = this.deps.membership.admit(conn, this.deps.guard.admissionHello(hello, admission.trusted), admission.trusted, codec);
    this.deps.peers.send(conn, welcomeMessage(worker, this.deps.run, this.deps.options));
    this.deps.reporter.emit(workerEvent(worker, 'joined', null));
    // A worker that joins mid-step only gets blocks that wait for a worker (see README: scheduling).
    if (this.host.phase) this.deps.scheduler.drainPending(this.host.phase);
  }

  /**
   * A heartbeat: echoed; a worker's `status` says whether it takes work (`paused`: none until
   * a later heartbeat says otherwise; then blocks waiting for a worker go to it at once).
   */
  private onHeartbeat(conn: Conn, heartbeat: HeartbeatMessage): void {
    this.echo(conn, heartbeat);
    const worker = conn.role === 'worker' ? this.deps.membership.workerOf(conn) : undefined;
    if (!worker || heartbeat.status === undefined) return;
    const paused = heartbeat.status === 'paused';
    if (worker.paused === paused) return;
    worker.paused = paused;
    if (!paused && this.host.phase) this.deps.scheduler.drainPending(this.host.phase);
  }

  private echo(conn: Conn, heartbeat: HeartbeatMessage): void {
    this.deps.peers.send(conn, { type: 'heartbeat', sentAt: this.deps.clock(), echo: heartbeat.sentAt });
  }

  private onWorkerError(worker: WorkerRecord, error: ErrorMessage): void {
    worker.lastError = `${error.code}: ${error.message}`.slice(0, 500);
    if (error.code === 'MISSING_PARAMS') {
      // It could not apply a params delta (or lost its params): full params from now on.
      worker.paramsDelta = false;
      const conn = this.deps.membership.connOf(worker);
      if (conn) {
        conn.paramsStep = -1;
        conn.paramsSent = null;
      }
    }
    const phase = this.host.phase;
    const taskId = error.ref?.taskId;
    if (!phase || taskId === undefined) return;
    const task = phase.tasks.get(taskId);
    if (task && task.workerId === worker.id) {
      this.killTask(phase, task, 'workerError');
      this.maybeComplete(phase);
    }
  }

  /**
   * A result: find its task (or say why it is stale or unknown), validate it, hand it to
   * the aggregator (which asks the `ResultGate`), then complete the phase when it is whole.
   * A late but complete answer still measures the worker (see `lateAnswer`).
   */
  private onResult(conn: Conn, worker: WorkerRecord, msg: ResultMessage): void {
    const now = this.deps.clock();
    const ref = { step: msg.step, taskId: msg.taskId };
    const located = locateTask(msg, worker, { runId: this.deps.run.config.runId, phase: this.host.phase, step: this.host.step, retired: this.deps.retired, staleBelow: this.host.staleBelow });
    if ('code' in located) {
      const late = lateAnswer(this.deps.retired, worker, msg);
      if (late) this.deps.membership.taskCompleted(worker, late.samples, now - late.sentAt);
      if (this.lateHeld(worker, msg)) return; // a lie, caught: the volunteer is gone
      return this.rejectResult(conn, located.code, located.text, located.strike, ref);
    }
    const { phase, task } = located;
    if (msg.kind !== phase.kind || msg.step !== phase.step) {
      const text = `task ${task.id} is ${phase.kind} step ${phase.step}; the result says ${msg.kind} step ${msg.step}`;
      return this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, text, true, ref, phase, task);
    }
    const check = validateResult(msg, task, phase, worker.codec, this.deps.parameterCount);
    if (!check.ok) return this.rejectResult(conn, check.code, check.message, true, ref, phase, task);
    if (this.deps.guard.isHeld(task.id)) {
      this.deps.guard.held(phase, task, worker, msg, check.blocks, now);
      return this.maybeComplete(phase);
    }
    // SEAM: validated → aggregated. `submit` asks the ResultGate (options.resultGate) first.
    const outcome = this.deps.aggregator.submit(phase, task, worker, msg, check.blocks, now);
    if (!outcome.admitted) return this.rejectResult(conn, outcome.verdict.code, outcome.verdict.message, outcome.verdict.strike, ref, phase, task);
    if (phase.kind === 'train') worker.shardsDone += outcome.freshShards;
    this.deps.guard.accepted(phase, task, worker, outcome.freshShards * phase.shardSize);
    if (this.host.phase !== phase) return; // a detected cheater rolled the run back
    if (outcome.fresh > 0) this.deps.reporter.totals.resultsAccepted++;
    if (outcome.taskCompleted) this.deps.membership.taskCompleted(worker, task.samples, now - task.sentAt);
    if (outcome.duplicates > 0) {
      const text = `${outcome.duplicates} block(s) of task ${task.id} were already delivered (first result wins); dropped`;
      this.rejectResult(conn, CoordinatorErrorCode.DUPLICATE_RESULT, text, false, ref);
    }
    this.maybeComplete(phase);
  }

  /** A late answer to a held volunteer task its step stopped waiting for: still compared. True when it was a lie (caught). */
  private lateHeld(worker: WorkerRecord, msg: ResultMessage): boolean {
    const late = this.deps.guard.lateTask(msg.taskId);
    if (!late || late.task.workerId !== worker.id || msg.kind !== 'train' || msg.step !== late.step) return false;
    const check = validateResult(msg, late.task, late, worker.codec, this.deps.parameterCount);
    return check.ok && this.deps.guard.lateResult(late, msg, check.blocks);
  }

  /** Applies `phase` if it is still in flight, every unit has a value and no held volunteer result is awaited. */
  private maybeComplete(phase: Phase): void {
    if (this.host.phase !== phase || !this.deps.aggregator.isComplete(phase)) return;
    this.giveUpOnHeld(phase);
    if (this.deps.guard.canComplete(phase)) this.host.completePhase(phase);
  }

  /**
   * Tasks past their deadline: their missing blocks are re-issued, their workers' estimates
   * halved; a worker that misses too many deadlines in a row is dropped (`TOO_SLOW`).
   */
  expireOverdue(phase: Phase, now: number): void {
    for (const task of this.deps.scheduler.overdue(phase, now)) {
      if (this.host.phase !== phase) break;
      if (!task.live) continue;
      const worker = this.deps.membership.workers.get(task.workerId);
      const drop = worker !== undefined && this.deps.membership.missedDeadline(worker);
      this.killTask(phase, task, 'deadline');
      const conn = worker && drop ? this.deps.membership.connOf(worker) : undefined;
      if (conn) this.deps.peers.fatal(conn, CoordinatorErrorCode.TOO_SLOW, `missed ${worker!.missedDeadlines} task deadlines in a row`, CloseCode.POLICY_VIOLATION, 'too slow');
    }
    this.maybeComplete(phase);
  }

  /**
   * A held volunteer task (probation or spot check) never holds a step: once every block of
   * the step is in (`maybeComplete` calls this then; the trusted values of the held blocks are
   * among them), held tasks still unanswered are given up. Their results were never going to be aggregated; one that comes later (up to
   * `LATE_STEPS_KEPT` steps on) is still compared with the trusted values — a lie is caught —
   * but earns nothing, so a volunteer slower than the trusted recomputation of its blocks
   * stays on probation. Before, silent volunteers' probes held every step until
   * their task deadline (5 s).
   */
  private giveUpOnHeld(phase: Phase): void {
    if (phase.kind !== 'train') return;
    for (const task of phase.tasks.values()) {
      if (!task.live || !this.deps.guard.isHeld(task.id)) continue;
      this.deps.guard.givenUp(phase, task);
      this.killTask(phase, task, 'deadline');
    }
  }

  /** A task can no longer be counted on: its units are re-issued (scheduler) and a held one is not waited for. */
  private killTask(phase: Phase, task: TaskRecord, reason: ReissueReason): void {
    this.deps.scheduler.kill(phase, task, reason);
    this.deps.guard.taskDied(task);
  }

  /** A frame that did not decode: fatal before hello, else an `error` with a strike. */
  onProtocolError(conn: Conn, error: ProtocolError): void {
    if (conn.role === 'pending') {
      this.deps.peers.fatal(conn, error.code, error.message, CloseCode.PROTOCOL_ERROR, 'protocol error');
      return;
    }
    this.deps.peers.reject(conn, error.code, error.message, { strike: true, countAsResult: conn.role === 'worker' });
  }

  // -------------------------------------------------------------------------------------------
  // rejections and connection teardown

  /** Refuses a result; with `failTask`, that task's blocks are re-issued first (and its worker's estimate halved). */
  private rejectResult(conn: Conn, code: string, text: string, strike: boolean, ref: { step: number; taskId: string }, phase?: Phase, failTask?: TaskRecord): void {
    // Re-issue first, so the blocks never wait on a worker that is about to be dropped.
    if (phase && failTask && this.host.phase === phase) {
      const worker = this.deps.membership.workers.get(failTask.workerId);
      if (worker && failTask.live) this.deps.membership.penalise(worker);
      this.killTask(phase, failTask, 'rejected');
      this.maybeComplete(phase);
    }
    this.deps.peers.reject(conn, code, text, { strike, ref, countAsResult: true });
  }

  /** A worker's connection is gone: the live tasks sent on it are re-issued. */
  workerGone(connId: string): void {
    const phase = this.host.phase;
    if (!phase) return;
    for (const task of this.deps.scheduler.tasksOn(phase, connId)) this.killTask(phase, task, 'disconnect');
    this.maybeComplete(phase);
  }
}

/**
 * The run as the page shows it, read like a dashboard does: a second WebSocket that says
 * `hello` (role `dashboard`) and `subscribe`, then receives a `snapshot` event and every
 * `step` / `eval` / `worker` / `status` event. Reconnects quietly with backoff.
 */
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, type JsonValue } from '@swarmgrad/protocol';

/** What the page knows about the run. */
export interface RunView {
  /** Whether the dashboard connection is up. */
  connected: boolean;
  runId?: string;
  /** `waiting`, `running`, `paused`, `evaluating`, `finished`, `stopped`. */
  status?: string;
  modelName?: string;
  /** Steps applied. */
  step: number;
  totalSteps?: number;
  /** Mean training loss of the last step. */
  loss?: number;
  /** Run throughput of the last step (samples/s). */
  samplesPerSecond?: number;
  /** Last evaluation: accuracy (0..1), loss and the step it was taken at. */
  accuracy?: number;
  evalLoss?: number;
  evalStep?: number;
  /** Workers connected now. */
  workers: number;
  /** Recent step losses, oldest first (for the sparkline). */
  losses: number[];
}

/** How many step losses the sparkline keeps. */
const MAX_LOSSES = 300;

type Json = { [key: string]: JsonValue };

/** Subscribes to the run at `wsUrl` and calls `onChange` with a fresh view after every event. */
export class RunFeed {
  private socket: WebSocket | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private closed = false;
  private connectedWorkers = new Set<string>();
  readonly view: RunView = { connected: false, step: 0, workers: 0, losses: [] };

  constructor(
    private readonly wsUrl: string,
    private readonly onChange: (view: RunView) => void,
  ) {}

  /** Opens the connection (and keeps reopening it until {@link close}). */
  start(): void {
    this.closed = false;
    this.connect();
  }

  /** Closes the connection for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'page closed');
    this.socket = undefined;
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new WebSocket(this.wsUrl);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempts = 0;
      socket.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard', name: 'volunteer page' }));
      socket.send(encodeMessage({ type: 'subscribe' }));
    });
    socket.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      let message;
      try {
        message = decodeMessage(event.data);
      } catch {
        return; // not for us to fix: a newer coordinator, a proxy's frame
      }
      if (message.type !== 'event') return;
      this.view.connected = true;
      this.view.runId = message.runId;
      this.apply(message.event as Json);
      this.onChange(this.view);
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.view.connected = false;
      this.onChange(this.view);
      // A finished run's coordinator exits: nothing more to watch (reload for the next run).
      if (this.closed || this.view.status === 'finished' || this.view.status === 'stopped') return;
      // 1 s, 2 s, 4 s, ... up to 30 s.
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.attempts++, 5));
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
  }

  private apply(event: Json): void {
    const view = this.view;
    switch (event['kind']) {
      case 'snapshot': {
        const snapshot = asObject(event['snapshot']);
        if (snapshot === undefined) return;
        view.status = str(snapshot['status']) ?? view.status;
        view.step = num(snapshot['step']) ?? view.step;
        view.totalSteps = num(snapshot['totalSteps']) ?? view.totalSteps;
        view.loss = num(snapshot['loss']) ?? view.loss;
        view.samplesPerSecond = num(snapshot['samplesPerSecond']) ?? view.samplesPerSecond;
        const model = asObject(snapshot['model']);
        view.modelName = str(model?.['name']) ?? view.modelName;
        this.connectedWorkers = new Set();
        for (const row of asArray(snapshot['workers'])) {
          const worker = asObject(row);
          const id = str(worker?.['id']);
          if (id !== undefined && worker?.['connected'] === true) this.connectedWorkers.add(id);
        }
        view.workers = this.connectedWorkers.size;
        view.losses = asArray(snapshot['history'])
          .map((entry) => num(asObject(entry)?.['loss']))
          .filter((loss): loss is number => loss !== undefined)
          .slice(-MAX_LOSSES);
        const evals = asArray(snapshot['evals']);
        const last = asObject(evals[evals.length - 1]);
        if (last !== undefined) this.applyEval(last);
        return;
      }
      case 'step': {
        const step = num(event['step']);
        if (step !== undefined) view.step = step + 1;
        const loss = num(event['loss']);
        if (loss !== undefined) {
          view.loss = loss;
          view.losses.push(loss);
          if (view.losses.length > MAX_LOSSES) view.losses.shift();
        }
        view.samplesPerSecond = num(event['samplesPerSecond']) ?? view.samplesPerSecond;
        return;
      }
      case 'eval':
        this.applyEval(event);
        return;
      case 'worker': {
        const id = str(event['workerId']);
        if (id === undefined) return;
        if (event['action'] === 'joined') this.connectedWorkers.add(id);
        else this.connectedWorkers.delete(id);
        view.workers = this.connectedWorkers.size;
        return;
      }
      case 'status':
        view.status = str(event['status']) ?? view.status;
        return;
    }
  }

  private applyEval(event: Json): void {
    this.view.accuracy = num(event['accuracy']) ?? this.view.accuracy;
    this.view.evalLoss = num(event['loss']) ?? this.view.evalLoss;
    this.view.evalStep = num(event['step']) ?? this.view.evalStep;
  }
}

function asObject(value: JsonValue | undefined): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asArray(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

function num(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Adversarial volunteers for the verification tests: real worker sessions (the real
 * `@swarmgrad/worker` compute on the cpu backend, over a real WebSocket) whose frames are
 * rewritten on the way out, the way an outsider who speaks the documented protocol would.
 */
import WebSocket from 'ws';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message, type TrainResultMessage } from '@swarmgrad/protocol';
import { connectWebSocket, nodeCapabilities, startWorkerSession, type Endpoint } from '@swarmgrad/worker/node';

/** How an adversary lies. `honest` does not. `sleeper-*` behave for their first `honestResults` results. */
export type Attack =
  | 'honest'
  | 'constant'
  | 'noise'
  | 'negate'
  | 'scale'
  | 'perturb'
  | 'zeros'
  | 'replay'
  | 'forge-loss'
  | 'lying-hello'
  | 'collude'
  | 'steal-id'
  | 'sleeper-noise'
  | 'rounding'
  | 'band-shift';

/**
 * Every attack class (not `honest`). Two more are not attacks on their own, and are not listed:
 * - `rounding` is an honest volunteer on another backend (it says `wasm-fma`) whose first result
 *   differs from the trusted cpu recomputation the way FMA rounding sometimes makes it differ
 *   (every gradient entry × (1 + 5e-4): inconclusive, not a lie);
 * - `band-shift` shifts every result that way, to stay under the cross-backend bound.
 */
export const ATTACKS: readonly Attack[] = ['constant', 'noise', 'negate', 'scale', 'perturb', 'zeros', 'replay', 'forge-loss', 'lying-hello', 'collude', 'steal-id', 'sleeper-noise'];

/** What an adversary saw and did. */
export interface AdversaryReport {
  attack: Attack;
  name: string;
  /** Worker ids the coordinator gave it (one per welcome). */
  workerIds: string[];
  /** Train results sent, and how many of them were altered. */
  resultsSent: number;
  resultsAltered: number;
  /** Train results sent up to and including the first altered one the coordinator caught (null: not caught). */
  resultsWhenCaught: number | null;
  /** Error codes received, in order; and whether a fatal one came. */
  codes: string[];
  fatal: { code: string; message: string } | null;
  /** Connections closed by the coordinator, with their close codes. */
  closes: number[];
}

/** A running adversary. */
export interface Adversary {
  report: AdversaryReport;
  stop(): Promise<void>;
}

/** Options of {@link startAdversary}. */
export interface AdversaryOptions {
  /** Results an attacker sends unaltered before it starts lying (default 0; sleepers 3). */
  honestResults?: number;
  /** `steal-id`: the worker id to claim in hello. */
  stealId?: () => string | undefined;
  /** Reconnect after being closed (default true, so "refused on return" is exercised). */
  reconnect?: boolean;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Rewrites one train result; returns true when it altered something. */
function alter(attack: Attack, msg: TrainResultMessage, memory: { older?: Float32Array; nudged?: boolean }): boolean {
  for (const block of msg.blocks) {
    const g = block.gradient;
    if (g.codec !== 'f32') throw new Error('adversaries expect f32 gradients');
    const payload = g.payload.slice();
    const previous = memory.older;
    memory.older = g.payload.slice();
    switch (attack) {
      case 'constant':
        payload.fill(0.05 * block.sampleCount);
        break;
      case 'noise': {
        const r = lcg(msg.step * 7919 + block.start);
        for (let i = 0; i < payload.length; i++) payload[i] = 10 * r();
        break;
      }
      case 'negate':
        for (let i = 0; i < payload.length; i++) payload[i] = -payload[i]!;
        break;
      case 'scale':
      case 'lying-hello':
        for (let i = 0; i < payload.length; i++) payload[i] = 1.5 * payload[i]!;
        break;
      case 'perturb':
        // A small targeted nudge: the 10 largest-magnitude entries move by 1e-4 relative.
        for (const i of [...payload.keys()].sort((a, b) => Math.abs(payload[b]!) - Math.abs(payload[a]!)).slice(0, 10)) payload[i] = payload[i]! * (1 + 1e-4);
        break;
      case 'zeros':
        payload.fill(0);
        break;
      case 'replay':
        if (!previous) return false;
        payload.set(previous);
        break;
      case 'forge-loss':
        block.lossSum *= 0.5;
        if (block.correct !== undefined) block.correct = block.sampleCount;
        continue;
      case 'collude': {
        // Both members add the same perturbation, keyed by step and block: the same wrong answer.
        const r = lcg(msg.step * 104729 + block.start * 31 + 1);
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! + 0.01 * r();
        break;
      }
      case 'steal-id':
      case 'sleeper-noise': {
        const r = lcg(msg.step + 1);
        for (let i = 0; i < payload.length; i++) payload[i] = r();
        break;
      }
      case 'rounding':
        if (memory.nudged) break;
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! * (1 + 5e-4);
        break;
      case 'band-shift':
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! * (1 + 5e-4);
        break;
      case 'honest':
        return false;
    }
    block.gradient = { codec: 'f32', length: g.length, payload };
  }
  if (attack === 'lying-hello') msg.backend = 'webgpu';
  if (attack === 'rounding' || attack === 'band-shift') msg.backend = 'wasm-fma';
  if (attack === 'rounding') memory.nudged = true;
  return true;
}

/**
 * Starts one adversarial volunteer against `url` (no lab token). Its hello lies for
 * `lying-hello` (50,000 samples/s, webgpu) and `steal-id` (another worker's id).
 */
export function startAdversary(url: string, attack: Attack, name: string, options: AdversaryOptions = {}): Adversary {
  const honestResults = options.honestResults ?? (attack.startsWith('sleeper') ? 3 : 0);
  const report: AdversaryReport = { attack, name, workerIds: [], resultsSent: 0, resultsAltered: 0, resultsWhenCaught: null, codes: [], fatal: null, closes: [] };
  const memory: { older?: Float32Array; nudged?: boolean } = {};
  let altered = false;
  const connect = async (): Promise<Endpoint> => {
    const inner = await connectWebSocket(url);
    return {
      send(frame) {
        const msg = decodeMessage(frame);
        if (msg.type === 'hello' && msg.role === 'worker') {
          if (attack === 'lying-hello') msg.capabilities = { ...msg.capabilities, backend: 'webgpu', samplesPerSecond: 50_000 };
          if (attack === 'rounding' || attack === 'band-shift') msg.capabilities = { ...msg.capabilities, backend: 'wasm-fma' };
          if (attack === 'steal-id') {
            const id = options.stealId?.();
            if (id) msg.workerId = id;
          }
          return inner.send(encodeMessage(msg));
        }
        if (msg.type !== 'result' || msg.kind !== 'train') return inner.send(frame);
        report.resultsSent++;
        if (report.resultsSent > honestResults && alter(attack, msg, memory)) {
          report.resultsAltered++;
          altered = true;
          return inner.send(encodeMessage(msg));
        }
        if (report.resultsSent <= honestResults) memory.older = msg.blocks[0]?.gradient.payload.slice() as Float32Array | undefined;
        return inner.send(frame);
      },
      close: (code, reason) => inner.close(code, reason),
      onMessage(cb) {
        inner.onMessage((frame) => {
          try {
            const msg = decodeMessage(frame);
            if (msg.type === 'welcome') report.workerIds.push(msg.workerId);
            if (msg.type === 'error') {
              report.codes.push(msg.code);
              if (msg.fatal && !report.fatal) report.fatal = { code: msg.code, message: msg.message };
              if (msg.fatal && altered && report.resultsWhenCaught === null) report.resultsWhenCaught = report.resultsSent;
            }
          } catch {
            // the session reports undecodable frames itself
          }
          cb(frame);
        });
      },
      onClose(cb) {
        inner.onClose((code, reason) => {
          report.closes.push(code);
          cb(code, reason);
        });
      },
    };
  };
  const session = startWorkerSession({
    connect,
    capabilities: nodeCapabilities(),
    backend: 'cpu',
    name,
    codecs: ['f32'],
    reconnect: { initialDelayMs: 200, maxDelayMs: 1000, maxAttempts: options.reconnect === false ? 0 : 20 },
    log: () => undefined,
  });
  return { report, stop: () => session.stop().catch(() => undefined) };
}

/** Opens `count` bare volunteer connections (Sybils) that say hello and then answer nothing. Returns their welcome/error replies. */
export async function sybils(url: string, count: number): Promise<{ replies: string[]; close(): void }> {
  const sockets: WebSocket[] = [];
  const replies: string[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
      const first = new Promise<void>((resolve) =>
        ws.once('message', (data: Buffer) => {
          const msg = decodeMessage(new Uint8Array(data));
          replies.push(msg.type === 'error' ? msg.code : msg.type);
          resolve();
        }),
      );
      ws.on('error', () => undefined);
      ws.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', name: `sybil-${i}`, capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'], samplesPerSecond: 50_000 } } as Message), { binary: true });
      await first;
    }),
  );
  return { replies, close: () => sockets.forEach((s) => s.terminate()) };
}

/** A dashboard connection that tries `guesses` admin tokens (pause/stop); returns the codes it got and whether it was closed. */
export async function guessAdminTokens(url: string, guesses: string[]): Promise<{ codes: string[]; closed: boolean }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  const codes: string[] = [];
  let closed = false;
  ws.on('message', (data: Buffer) => {
    const msg = decodeMessage(new Uint8Array(data));
    if (msg.type === 'error') codes.push(msg.code);
  });
  const done = new Promise<void>((resolve) => ws.once('close', () => ((closed = true), resolve())));
  ws.on('error', () => undefined);
  ws.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard' } as Message), { binary: true });
  for (const [i, guess] of guesses.entries()) {
    if (closed) break;
    ws.send(encodeMessage({ type: 'admin', action: i % 2 ? 'stop' : 'pause', adminToken: guess } as Message), { binary: true });
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
  ws.terminate();
  return { codes, closed };
}

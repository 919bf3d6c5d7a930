import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '@swarmgrad/protocol';
import { waitFor } from '../support/wait.js';
import { connectWebSocket, nodeCapabilities, startWorkerSession, type Endpoint } from '@swarmgrad/worker/node';

/**
 * Opens a raw WebSocket, sends `frames` (after open), and collects error codes until the
 * server closes the socket or, unless `untilClose`, has answered every frame with an error
 * (a bad frame is a strike; the connection stays open below the strike limit). Rejects when
 * neither happens within `timeoutMs`.
 */
export async function rawExchange(url: string, frames: Uint8Array[], options: { untilClose?: boolean; timeoutMs?: number } = {}): Promise<{ codes: string[]; closeCode: number | null }> {
  const { untilClose = false, timeoutMs = 30_000 } = options;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const codes: string[] = [];
  let closeCode: number | null = null;
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let answered: () => void = () => undefined;
  const allAnswered = new Promise<void>((resolve) => (answered = resolve));
  ws.on('message', (data: Buffer) => {
    try {
      const msg = decodeMessage(new Uint8Array(data));
      if (msg.type === 'error') codes.push(msg.code);
    } catch {
      codes.push('UNDECODABLE_REPLY');
    }
    if (codes.length >= frames.length) answered();
  });
  const closed = new Promise<void>((resolve) =>
    ws.once('close', (code) => {
      closeCode = code;
      resolve();
    }),
  );
  for (const frame of frames) ws.send(frame, { binary: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${untilClose ? 'close' : 'answer to every frame'} within ${timeoutMs} ms; codes so far: ${codes.join(', ') || 'none'}`)), timeoutMs)));
  try {
    await Promise.race([closed, ...(untilClose ? [] : [allAnswered]), timeout]);
  } finally {
    clearTimeout(timer);
    ws.terminate();
  }
  return { codes, closeCode };
}

/** A msgpack frame the project's encoder would never write (e.g. an unknown type). */
export function rawFrame(value: unknown): Uint8Array {
  return new Packr({ useRecords: false }).pack(value);
}

/** A worker's hello, with a lab token or (undefined) without one. */
export function helloFrame(token: string | undefined): Uint8Array {
  return encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', ...(token === undefined ? {} : { token }), capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'] } } as Message);
}

/** Sends a hello and returns the first reply's type and, for a welcome, whether the worker is trusted. */
export async function helloReply(url: string, token: string | undefined): Promise<{ type: string; trusted?: boolean; code?: string; closeCode: number | null }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const reply = new Promise<Message>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeMessage(new Uint8Array(data)))));
  let closeCode: number | null = null;
  const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((closeCode = code), resolve())));
  ws.send(helloFrame(token), { binary: true });
  const msg = await reply;
  // After an error the server closes the socket: wait for that (bounded), to report its code.
  if (msg.type === 'error') await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))]);
  ws.terminate();
  return { type: msg.type, ...(msg.type === 'welcome' ? { trusted: msg.trusted } : {}), ...(msg.type === 'error' ? { code: msg.code } : {}), closeCode };
}

/** How a tampering worker corrupts its train results. */
export type Tamper = 'short-gradient' | 'nan' | 'stale-step' | 'duplicate';


/**
 * A real worker (cpu backend) whose outgoing train results are corrupted one way; resolves
 * with the error codes the coordinator answered once `expected` arrives (or rejects on timeout).
 */
export async function tamperingWorker(url: string, token: string, tamper: Tamper, expected: string | string[], timeoutMs = 90_000): Promise<string[]> {
  const wanted = typeof expected === 'string' ? [expected] : expected;
  const api = url.replace(/^ws/, 'http').replace(/\/ws$/, '/api/runs/current');
  const codes: string[] = [];
  let held: { frame: Uint8Array; step: number; send: (frame: Uint8Array) => void } | undefined;
  let found: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => (found = resolve));
  const connect = async (): Promise<Endpoint> => {
    const inner = await connectWebSocket(url);
    return {
      send(frame) {
        const msg = decodeMessage(frame);
        if (msg.type !== 'result' || msg.kind !== 'train') return inner.send(frame);
        const block = msg.blocks[0]!;
        const gradient = block.gradient;
        if (gradient.codec !== 'f32') throw new Error('tampering expects f32 gradients');
        switch (tamper) {
          case 'short-gradient':
            block.gradient = { codec: 'f32', length: gradient.length - 1, payload: gradient.payload.slice(1) };
            return inner.send(encodeMessage(msg));
          case 'nan': {
            const payload = gradient.payload.slice();
            payload[payload.length >> 1] = Number.NaN;
            block.gradient = { codec: 'f32', length: gradient.length, payload };
            return inner.send(encodeMessage(msg));
          }
          case 'stale-step':
            // Hold the first result back: its blocks are re-issued at the deadline, the run
            // moves on, and the held result is sent once the step has advanced (below).
            if (!held) {
              held = { frame, step: msg.step, send: (f) => inner.send(f) };
              return undefined;
            }
            return inner.send(frame);
          case 'duplicate':
            inner.send(frame);
            return inner.send(frame);
        }
      },
      close: (code, reason) => inner.close(code, reason),
      onMessage(cb) {
        inner.onMessage((frame) => {
          try {
            const msg = decodeMessage(frame);
            if (msg.type === 'error') {
              codes.push(msg.code);
              if (wanted.includes(msg.code)) found();
            }
          } catch {
            // the session itself reports undecodable frames
          }
          cb(frame);
        });
      },
      onClose: (cb) => inner.onClose(cb),
    };
  };
  const worker = startWorkerSession({ connect, capabilities: nodeCapabilities(), backend: 'cpu', token, name: `tamper-${tamper}` });
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${wanted.join(' or ')} within ${timeoutMs} ms; got ${codes.join(', ') || 'nothing'}`)), timeoutMs));
  let polling = true;
  // The held result goes out once the coordinator's step counter has moved past its step.
  const stepNow = async () => ((await (await fetch(api)).json()) as { step: number }).step;
  const release =
    tamper === 'stale-step'
      ? waitFor(async () => (!polling ? 'stopped' : held && (await stepNow()) > held.step ? 'due' : undefined), (v) => v !== undefined, { timeoutMs, what: 'the step counter past the held result' })
          .then((v) => v === 'due' && held!.send(held!.frame))
          .catch(() => undefined)
      : Promise.resolve();
  try {
    await Promise.race([seen, timer]);
    return codes;
  } finally {
    polling = false;
    await release;
    await worker.stop().catch(() => undefined);
  }
}

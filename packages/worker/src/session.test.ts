import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setStepThreads, stepThreads, useBackend } from '@swarmgrad/nn';
import { PROTOCOL_VERSION, decodeGradient, type TrainResultMessage } from '@swarmgrad/protocol';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkerError } from './errors.js';
import { connectWebSocket, startNodeWorker, type NodeWorkerHandle, type NodeWorkerOptions } from './node.js';
import { backoffDelay, startWorkerSession, webSocketEndpoint, type WebSocketLike, type WorkerLogEntry, type WorkerSessionStatus } from './session.js';
import { FakeCoordinator } from './testing/coordinator.js';
import { PARAMS, add, randomParams, sameBits, shardOf, task, tinyModel, welcome } from './testing/fixtures.js';

let coordinator: FakeCoordinator | undefined;
const workers: NodeWorkerHandle[] = [];

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
  await coordinator?.close();
  coordinator = undefined;
});

async function setup(options: Partial<NodeWorkerOptions> = {}) {
  coordinator = await FakeCoordinator.start();
  const logs: WorkerLogEntry[] = [];
  const statuses: WorkerSessionStatus[] = [];
  const worker = startNodeWorker({
    url: coordinator.url,
    backend: 'cpu',
    backendChoice: { benchmark: false },
    name: 'test-worker',
    reconnect: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 },
    shutdownTimeoutMs: 10_000,
    log: (entry) => logs.push(entry),
    onStatus: (status) => statuses.push(status),
    ...options,
  });
  workers.push(worker);
  return { coordinator, worker, logs, statuses };
}

describe('worker session against a real ws server', () => {
  it('says hello, takes welcome/params/task and returns a result that decodes to the tree sum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-worker-'));
    writeFileSync(join(dir, 'token'), '  lab-secret\n');
    const { coordinator, worker } = await setup({ tokenFile: join(dir, 'token') });
    const connection = await coordinator.connection(0);
    const hello = await connection.next('hello');
    expect(hello).toMatchObject({ protocolVersion: PROTOCOL_VERSION, role: 'worker', token: 'lab-secret', name: 'test-worker' });
    if (hello.role !== 'worker') throw new Error('expected a worker hello');
    expect(hello.workerId).toBeUndefined();
    expect(hello.capabilities).toMatchObject({ backend: 'cpu', environment: 'node', codecs: ['f32', 'f16', 'int8'] });
    expect(hello.capabilities.cores).toBeGreaterThan(0);
    expect(hello.capabilities.userAgent).toMatch(/^node\/\d+\.\d+\.\d+ \w+-\w+$/);

    const params = randomParams(31);
    const t = task({ step: 4, blocks: [{ start: 0, count: 2 }, { start: 2, count: 1 }], microShardSize: 4, sampleCount: 12 });
    connection.send(welcome({ workerId: 'w-7' }));
    connection.send({ type: 'params', runId: 'run-1', step: 4, params });
    connection.send(t);
    const result = (await connection.next('result')) as TrainResultMessage;
    expect(result).toMatchObject({ taskId: 't-1', runId: 'run-1', step: 4, kind: 'train', backend: 'cpu' });

    const g = [];
    for (let s = 0; s < 3; s++) {
      const { x, y } = shardOf(t, s);
      g.push(await tinyModel.gradients(params, x, y));
    }
    expect(sameBits(decodeGradient(result.blocks[0]!.gradient, PARAMS), add(g[0]!.grads, g[1]!.grads))).toBe(true);
    expect(sameBits(decodeGradient(result.blocks[1]!.gradient, PARAMS), g[2]!.grads)).toBe(true);
    expect(worker.status()).toMatchObject({ connection: 'connected', workerId: 'w-7', trusted: true, tasksDone: 1, samplesDone: 12 });
  });

  it('reconnects after the server drops the connection, resuming with its workerId', async () => {
    const { coordinator, worker, statuses } = await setup();
    const first = await coordinator.connection(0);
    await first.next('hello');
    first.send(welcome({ workerId: 'w-42' }));
    await waitFor(() => worker.status().connection === 'connected');
    first.socket.terminate();

    const second = await coordinator.connection(1);
    const hello = await second.next('hello');
    expect(hello).toMatchObject({ role: 'worker', workerId: 'w-42' });
    second.send(welcome({ workerId: 'w-42' }));
    await waitFor(() => worker.status().connections === 2);
    expect(statuses.some((s) => s.connection === 'waiting')).toBe(true);
  }, 20_000);

  it('stops with REFUSED on a fatal AUTH_FAILED instead of reconnecting', async () => {
    const { coordinator, worker, statuses, logs } = await setup({ token: 'wrong' });
    const connection = await coordinator.connection(0);
    await connection.next('hello');
    connection.send({ type: 'error', code: 'AUTH_FAILED', message: 'token not accepted', fatal: true });
    connection.socket.close(1008, 'auth failed');
    const error = await worker.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({ code: 'REFUSED', remoteCode: 'AUTH_FAILED' });
    expect(worker.status()).toMatchObject({ connection: 'stopped', stoppedBy: { code: 'AUTH_FAILED' } });
    // `done` settles only once the reconnect loop has returned: no retry was ever scheduled
    // (it would have said `waiting` and logged its delay), so the one connection stays the only one.
    expect(statuses.some((s) => s.connection === 'waiting')).toBe(false);
    expect(logs.filter((entry) => /reconnecting/.test(entry.message))).toEqual([]);
    expect(coordinator.connections).toHaveLength(1);
  });

  it('on stop mid-task, sends the task result, then bye, then closes', async () => {
    const { coordinator, worker } = await setup({ slowdownMs: 400 });
    const connection = await coordinator.connection(0);
    await connection.next('hello');
    connection.send(welcome());
    connection.send({ type: 'params', runId: 'run-1', step: 0, params: randomParams(3) });
    connection.send(task({ taskId: 'slow', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await waitFor(() => worker.status().currentTask?.taskId === 'slow');
    const stopped = worker.stop();
    // A task that arrives during the shutdown is handed back, not computed.
    connection.send(task({ taskId: 'late', blocks: [{ start: 1, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await stopped;
    await connection.whenClosed();
    const types = connection.received.map((m) => m.type).filter((type) => type !== 'heartbeat');
    expect(types.slice(1)).toEqual(['error', 'result', 'bye']);
    expect(connection.received.find((m) => m.type === 'error')).toMatchObject({ code: 'TASK_DECLINED', ref: { taskId: 'late' } });
    expect(connection.received.find((m) => m.type === 'result')).toMatchObject({ taskId: 'slow' });
    expect(connection.closed?.code).toBe(1000);
    await expect(worker.done).resolves.toBeUndefined();
    expect(coordinator.connections).toHaveLength(1);
  });

  it('answers a bad frame with an error of its ProtocolError code and keeps going', async () => {
    const { coordinator, logs } = await setup();
    const connection = await coordinator.connection(0);
    await connection.next('hello');
    connection.send(welcome());
    connection.sendRaw(Uint8Array.from([0xc1, 0x00, 0x07]));
    const error = await connection.next('error');
    expect(error.code).toBe('MALFORMED');
    expect(logs.some((l) => l.code === 'MALFORMED' && l.level === 'warn')).toBe(true);
    connection.send({ type: 'heartbeat', sentAt: 1234 });
    expect(await connection.next('heartbeat', (h) => h.echo === 1234)).toMatchObject({ status: 'idle' });
  });

  it('sends heartbeats every welcome.heartbeatIntervalMs and announces pause and resume at once', async () => {
    const { coordinator, worker } = await setup();
    const connection = await coordinator.connection(0);
    await connection.next('hello');
    connection.send(welcome({ heartbeatIntervalMs: 40, heartbeatTimeoutMs: 60_000 }));
    await connection.next('heartbeat');
    const mark = connection.received.length;
    await connection.next('heartbeat', () => true, mark);
    worker.pause();
    const paused = await connection.next('heartbeat', (h) => h.status === 'paused');
    expect(paused.echo).toBeUndefined();
    connection.send(task({ taskId: 'p', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    expect(await connection.next('error')).toMatchObject({ code: 'TASK_DECLINED', ref: { taskId: 'p', step: 0 } });
    const after = connection.received.length;
    worker.resume();
    await connection.next('heartbeat', (h) => h.status === 'idle', after);
  });

  it('takes a silent coordinator as gone and reconnects', async () => {
    const { coordinator } = await setup();
    const first = await coordinator.connection(0);
    await first.next('hello');
    first.send(welcome({ heartbeatIntervalMs: 20, heartbeatTimeoutMs: 50 }));
    const closed = await first.whenClosed();
    expect(closed.code).toBe(4000);
    const second = await coordinator.connection(1);
    expect(await second.next('hello')).toMatchObject({ workerId: 'w-1' });
  });

  it('stops with INVALID_MODEL / PARAMETER_COUNT_MISMATCH when it cannot serve the welcome', async () => {
    const { coordinator, worker } = await setup();
    const connection = await coordinator.connection(0);
    await connection.next('hello');
    connection.send(welcome({ parameterCount: PARAMS + 2 }));
    await expect(worker.done).rejects.toMatchObject({ code: 'PARAMETER_COUNT_MISMATCH' });
    expect(await connection.next('error')).toMatchObject({ code: 'PARAMETER_COUNT_MISMATCH', fatal: true });
  });

  it('gives up with CONNECT_FAILED after reconnect.maxAttempts when nobody listens', async () => {
    const server = await FakeCoordinator.start();
    const url = server.url;
    await server.close();
    const worker = startNodeWorker({ url, backend: 'cpu', backendChoice: { benchmark: false }, log: () => undefined, reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 } });
    workers.push(worker);
    await expect(worker.done).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
  });

  it('runs over a WHATWG WebSocket endpoint (the browser path)', async () => {
    coordinator = await FakeCoordinator.start();
    const url = coordinator.url;
    const session = startWorkerSession({
      connect: () => webSocketEndpoint(url, WebSocket as unknown as new (url: string) => WebSocketLike),
      backend: { name: 'cpu', reasons: {} },
      capabilities: { environment: 'browser', userAgent: 'test' },
      log: () => undefined,
    });
    try {
      const connection = await coordinator.connection(0);
      expect(await connection.next('hello')).toMatchObject({ capabilities: { environment: 'browser', backend: 'cpu' } });
      connection.send(welcome());
      connection.send({ type: 'params', runId: 'run-1', step: 0, params: randomParams(4) });
      connection.send(task({ kind: 'eval', blocks: [{ start: 0, count: 2 }], microShardSize: 4, sampleCount: 7 }));
      expect(await connection.next('result')).toMatchObject({ kind: 'eval', blocks: [{ start: 0, count: 2, sampleCount: 7 }] });
    } finally {
      await session.stop();
    }
  });
});

describe('startNodeWorker threads', () => {
  it('sets the compiled step\'s thread count, and refuses counts outside 1–64', async () => {
    const before = stepThreads();
    try {
      const { worker } = await setup({ threads: 3 });
      expect(stepThreads()).toBe(3);
      await worker.stop();
      for (const bad of [0, 65, 1.5]) expect(() => startNodeWorker({ url: 'ws://127.0.0.1:1', threads: bad })).toThrow(/threads must be an integer from 1 to 64/);
    } finally {
      await setStepThreads(before);
    }
  });
});

describe('connectWebSocket', () => {
  it('sends the lab token in the upgrade request when given one (so a coordinator admits it past its anonymous caps)', async () => {
    const seen: Array<string | undefined> = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (_ws, req) => seen.push(req.headers.authorization));
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    try {
      const withToken = await connectWebSocket(url, { token: 'lab-secret' });
      const without = await connectWebSocket(url);
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual(['Bearer lab-secret', undefined]);
      withToken.close(1000, 'done');
      without.close(1000, 'done');
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  it('sends frames with an all-zero masking key, so neither side spends a pass over the bytes on masking', async () => {
    // A bare TCP server that completes the handshake and keeps the first frame's raw bytes.
    const raw: Buffer[] = [];
    const server = createServer((socket) => {
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        if (!head.includes('\r\n\r\n')) {
          head += chunk.toString('latin1');
          const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
          if (head.includes('\r\n\r\n') && key !== undefined) {
            const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
            socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          }
          return;
        }
        raw.push(chunk);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const endpoint = await connectWebSocket(url);
      const payload = Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 255);
      endpoint.send(payload);
      await waitFor(() => Buffer.concat(raw).length >= 2 + 4 + payload.length);
      const frame = Buffer.concat(raw);
      expect(frame[0]).toBe(0x82); // FIN, binary
      expect(frame[1]).toBe(0x80 | payload.length); // masked (as the RFC requires of clients), length 100
      expect([...frame.subarray(2, 6)]).toEqual([0, 0, 0, 0]);
      expect([...frame.subarray(6, 6 + payload.length)]).toEqual([...payload]);
      endpoint.close(1000, 'done');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('rejects when nothing listens', async () => {
    const server = await FakeCoordinator.start();
    const url = server.url;
    await server.close();
    await expect(connectWebSocket(url)).rejects.toThrow(/cannot connect/);
  });
});

describe('backoffDelay', () => {
  it('grows by factor, caps at maxDelayMs and spreads by jitter', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxAttempts: Infinity };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(policy, 1, () => 0)).toBe(50);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBeCloseTo(150, 3);
  });
});

/**
 * A local poller: a package cannot import the integration tests' `tests/support/wait.ts`
 * (packages never depend on the `tests` workspace), and a condition over in-process state
 * needs nothing more.
 */
async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// Coordinator cost per step with W simulated workers sending LeNet-5 results over real
// sockets on 127.0.0.1, and bytes on the wire per step per codec. The engine runs in this
// process behind a minimal ws adapter; the simulated workers run in a child process and
// answer at once, so the time measured here is the coordinator's: decode + validate +
// aggregate + optimizer step + encoding and sending params and tasks.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { Coordinator } from '@swarmgrad/coordinator';
import { syntheticDataset } from '@swarmgrad/data';
import { lenet5 } from '@swarmgrad/nn/core';
import { FrameEncoder } from '@swarmgrad/protocol';

const SIM = fileURLToPath(new URL('./sim-workers.mjs', import.meta.url));

/** One measurement: W workers, a codec, `steps` steps; returns medians per step. */
export async function measureCoordinator({ workers, codec = 'f32', steps = 30, connectedPeers = workers, spawnClients = (url) => fork(SIM, [url, String(workers), codec], { stdio: 'ignore' }), ready, onStep }) {
  const data = syntheticDataset({ seed: 1, length: 4096, height: 28, width: 28, channels: 1, numClasses: 10 });
  const sockets = new Map();
  let nextId = 1;
  let busyMs = 0;
  let bytesOut = 0;
  let bytesIn = 0;
  const timed = (fn) => (...args) => {
    const t0 = performance.now();
    try {
      return fn(...args);
    } finally {
      busyMs += performance.now() - t0;
    }
  };
  const encoder = new FrameEncoder(); // as apps/server's SocketHub: each step's params encoded once
  const transport = {
    send: timed((connId, message) => {
      const ws = sockets.get(connId);
      if (!ws || ws.readyState !== ws.OPEN) return;
      const frame = encoder.encode(message);
      bytesOut += frame.byteLength;
      ws.send(frame, { binary: true });
    }),
    close: (connId, code, reason) => sockets.get(connId)?.close(code, reason.slice(0, 100)),
  };
  const engine = new Coordinator({
    run: { runId: `bench-${workers}-${codec}`, modelSpec: lenet5(), dataset: { name: 'synthetic' }, batchSize: 256, microShardSize: 1, optimizer: { type: 'adam', lr: 1e-3 }, seed: 1, totalSteps: steps + 5, evalEvery: 0, checkpointEvery: 0, codec },
    trainData: data,
    transport,
    heartbeatIntervalMs: 60_000,
  });
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    const id = `c${nextId++}`;
    sockets.set(id, ws);
    engine.open(id);
    ws.on('message', (d) => {
      bytesIn += d.byteLength;
      timed(() => engine.receive(id, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)))();
    });
    ws.on('close', () => engine.close(id));
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${http.address().port}`;
  const sim = spawnClients(url);
  const ticker = setInterval(timed(() => engine.tick()), 100);
  // Wait for every simulated worker, then start: all of them get blocks from the first step.
  while (engine.snapshot().workers.length < connectedPeers) await new Promise((r) => setTimeout(r, 50));
  await ready?.();
  const perStep = [];
  let mark = { busy: 0, out: 0, in: 0 };
  engine.on((event) => {
    if (event.kind !== 'step') return;
    perStep.push({ step: event.step, busyMs: busyMs - mark.busy, out: bytesOut - mark.out, in: bytesIn - mark.in, stepMs: event.stepMs, workers: event.workers });
    mark = { busy: busyMs, out: bytesOut, in: bytesIn };
    onStep?.(event.step);
  });
  engine.start();
  await engine.done;
  clearInterval(ticker);
  sim.kill();
  wss.close();
  http.close();
  const rows = perStep.slice(5); // warm-up steps out
  const median = (key) => {
    const v = rows.map((r) => r[key]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const memory = process.memoryUsage();
  return { workers, codec, rssMB: memory.rss / 2 ** 20, heapMB: memory.heapUsed / 2 ** 20, coordinatorMs: median('busyMs'), stepMs: median('stepMs'), bytesToWorkers: median('out'), bytesFromWorkers: median('in'), activeWorkers: median('workers') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [workers = '16', codec = 'f32', steps = '30'] = process.argv.slice(2);
  console.log(JSON.stringify(await measureCoordinator({ workers: Number(workers), codec, steps: Number(steps) })));
  process.exit(0);
}

// Simulated workers for the coordinator benchmark: N WebSocket clients in one process that
// answer every train task with a fixed, valid gradient after 10 ms per sample (a worker of
// 100 samples/s, without using the CPU), so every simulated worker looks equally fast and
// the coordinator's own cost per step is what gets measured. argv: url count codec; `url` may
// be a comma-separated list (clients spread evenly, e.g. over relays); env SIM_TOKEN is sent
// as the token and SIM_DELTA=1 lists the xor-deflate params delta among the capabilities.
import WebSocket from 'ws';
import { decodeMessage, encodeGradient, encodeMessage, Int8Encoder, PROTOCOL_VERSION } from '@swarmgrad/protocol';

const [url, countArg, codec = 'f32'] = process.argv.slice(2);
const count = Number(countArg);
let gradient = null;

const urls = url.split(',');

function connect(i) {
  const ws = new WebSocket(urls[i % urls.length], { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
  let runId = '';
  let microShardSize = 1;
  let int8 = null;
  ws.on('open', () => {
    const capabilities = { backend: 'cpu', environment: 'node', codecs: [codec, 'f32'], samplesPerSecond: 100, ...(process.env.SIM_DELTA === '1' ? { paramsEncodings: ['xor-deflate'] } : {}) };
    ws.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', name: `sim-${i}`, ...(process.env.SIM_TOKEN ? { token: process.env.SIM_TOKEN } : {}), capabilities }));
  });
  ws.on('message', (data) => {
    const msg = decodeMessage(new Uint8Array(data));
    if (msg.type === 'welcome') {
      runId = msg.runId;
      microShardSize = msg.microShardSize;
      if (!gradient) gradient = Float32Array.from({ length: msg.parameterCount }, (_, k) => Math.sin(k) * 1e-3);
      if (msg.codec === 'int8') int8 = new Int8Encoder(msg.parameterCount);
    } else if (msg.type === 'heartbeat') {
      ws.send(encodeMessage({ type: 'heartbeat', sentAt: Date.now(), echo: msg.sentAt }));
    } else if (msg.type === 'task') {
      const blocks = msg.blocks.map((b) => ({
        start: b.start,
        count: b.count,
        lossSum: 2.3 * b.count * microShardSize,
        sampleCount: b.count * microShardSize,
        gradient: encodeGradient(codec, gradient, int8 ?? undefined),
      }));
      const computeMs = 10 * blocks.reduce((a, b) => a + b.sampleCount, 0);
      setTimeout(() => ws.send(encodeMessage({ type: 'result', taskId: msg.taskId, runId, step: msg.step, kind: 'train', blocks, timing: { computeMs }, backend: 'cpu' })), computeMs);
    }
  });
  ws.on('error', () => undefined);
}

for (let i = 0; i < count; i++) connect(i);
process.on('disconnect', () => process.exit(0));

#!/usr/bin/env node
/**
 * A userspace TCP proxy that behaves like a slow link (this kernel has no `tc netem`):
 *
 *   node link-proxy.mjs --listen HOST:PORT|unix:PATH --target HOST:PORT
 *                       [--delay-ms N] [--rate-mbit N] [--loss P] [--loss-stall-ms N]
 *
 * Each direction of each connection is its own link:
 * - `--rate-mbit`: bytes leave at most at this rate (serialization time per chunk);
 * - `--delay-ms`: one-way propagation delay added to every chunk (RTT = 2 × delay);
 * - `--loss`: probability that a chunk is "lost"; TCP hides loss, so what a peer sees is a
 *   stall until the retransmission: that chunk (and, to keep order, everything after it) is
 *   held `--loss-stall-ms` (default 200, the minimum TCP retransmission timeout) longer.
 * At most 64 KiB wait in the link per direction (a small router buffer); beyond that the proxy
 * stops reading, so the sender's socket buffers fill as on a real slow link (ws `bufferedAmount`).
 * Prints `listening` on stdout once it accepts connections. Also used without shaping, with a
 * unix socket as `--listen`, to reach a server inside a network namespace from outside.
 */
import { createConnection, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { unlinkSync } from 'node:fs';

const QUEUE_BYTES = 64 * 1024;

function parseArgs(argv) {
  const options = { delayMs: 0, rateMbit: 0, loss: 0, lossStallMs: 200 };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${name} needs a value`);
    if (name === '--listen') options.listen = value;
    else if (name === '--target') options.target = value;
    else if (name === '--delay-ms') options.delayMs = Number(value);
    else if (name === '--rate-mbit') options.rateMbit = Number(value);
    else if (name === '--loss') options.loss = Number(value);
    else if (name === '--loss-stall-ms') options.lossStallMs = Number(value);
    else throw new Error(`unknown flag ${name}`);
  }
  if (!options.listen || !options.target) throw new Error('usage: link-proxy.mjs --listen HOST:PORT|unix:PATH --target HOST:PORT [--delay-ms N] [--rate-mbit N] [--loss P]');
  return options;
}

function hostPort(text) {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
}

/** Carries `from`'s bytes to `to` through a link with the options' rate, delay and loss. */
function link(from, to, { delayMs, rateMbit, loss, lossStallMs }) {
  const bytesPerMs = rateMbit > 0 ? (rateMbit * 1e6) / 8 / 1000 : Infinity;
  const queue = [];
  let queued = 0;
  let linkFreeAt = 0;
  let lastDelivery = 0;
  let timer;
  let ended = false;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0].at <= now) {
      const { chunk } = queue.shift();
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued < QUEUE_BYTES / 2 && from.isPaused()) from.resume();
    if (queue.length) timer = setTimeout(pump, Math.max(1, queue[0].at - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk) => {
    const now = performance.now();
    linkFreeAt = Math.max(now, linkFreeAt) + chunk.length / bytesPerMs;
    let at = linkFreeAt + delayMs;
    if (loss > 0 && Math.random() < loss) at += lossStallMs;
    lastDelivery = Math.max(lastDelivery, at);
    queue.push({ chunk, at: lastDelivery });
    queued += chunk.length;
    if (queued >= QUEUE_BYTES) from.pause();
    if (!timer) timer = setTimeout(pump, Math.max(1, queue[0].at - now));
  });
  from.on('end', () => {
    ended = true;
    if (!queue.length && !timer) to.end();
  });
}

const options = parseArgs(process.argv.slice(2));
const target = hostPort(options.target);
const server = createServer({ allowHalfOpen: true }, (client) => {
  const upstream = createConnection({ ...target, allowHalfOpen: true });
  for (const socket of [client, upstream]) socket.on('error', () => undefined);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  link(client, upstream, options);
  link(upstream, client, options);
});
if (options.listen.startsWith('unix:')) {
  const path = options.listen.slice(5);
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
  server.listen(path, () => console.log('listening'));
} else {
  const { host, port } = hostPort(options.listen);
  server.listen(port, host, () => console.log('listening'));
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

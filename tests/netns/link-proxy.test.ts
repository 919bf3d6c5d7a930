// The link proxy emulates what the multi-host tests claim (this kernel has no tc netem): a
// round trip through it takes at least 2 × --delay-ms, and a bulk transfer at most --rate-mbit.
// Lower bounds only: a busy machine can make it slower, never faster.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { LINK_PROXY } from './lab.js';

const children: ChildProcess[] = [];
const servers: Server[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const server of servers) server.close();
});

async function echoServer(): Promise<number> {
  const server = createServer((socket) => socket.pipe(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function proxy(target: number, flags: string[]): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const child = spawn(process.execPath, [LINK_PROXY, '--listen', `127.0.0.1:${port}`, '--target', `127.0.0.1:${target}`, ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  return port;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Sends `bytes` and waits until the echo brought them all back; returns ms. */
function roundTrip(socket: Socket, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    const started = performance.now();
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received >= bytes) {
        socket.off('data', onData);
        resolve(performance.now() - started);
      }
    };
    socket.on('data', onData);
    socket.write(Buffer.alloc(bytes, 7));
  });
}

describe('link proxy', () => {
  it('adds its delay to every round trip and caps the rate; bytes arrive whole and in order', async () => {
    const echo = await echoServer();
    const port = await proxy(echo, ['--delay-ms', '40', '--rate-mbit', '10']);
    const socket = await open(port);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await roundTrip(socket, 1));
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(79);
    // 1.25 MB each way over 10 Mbit/s takes at least 1 s (the echo's way back overlaps).
    const bulk = await roundTrip(socket, 1_250_000);
    expect(bulk).toBeGreaterThanOrEqual(1_000);
    // Order: a numbered stream comes back as sent.
    const sent = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    const back: Buffer[] = [];
    await new Promise<void>((resolve) => {
      let total = 0;
      socket.on('data', (chunk: Buffer) => {
        back.push(chunk);
        total += chunk.length;
        if (total >= sent.length) resolve();
      });
      socket.write(sent);
    });
    expect(Buffer.concat(back).equals(sent)).toBe(true);
    socket.destroy();
    console.log(`link proxy (40 ms each way, 10 Mbit/s): round trip min ${Math.min(...rtts).toFixed(0)} ms; 1.25 MB echoed in ${bulk.toFixed(0)} ms`);
  });

  it('a lost segment stalls the stream by one retransmission timeout', async () => {
    const echo = await echoServer();
    const port = await proxy(echo, ['--loss', '1', '--loss-stall-ms', '150']);
    const socket = await open(port);
    // Every chunk is "lost" once on the way there and once on the way back.
    expect(await roundTrip(socket, 1)).toBeGreaterThanOrEqual(299);
    socket.destroy();
  });

  it('without shaping it is a plain forwarder', async () => {
    const echo = await echoServer();
    const port = await proxy(echo, []);
    const socket = await open(port);
    const back = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write('hello through the proxy');
    expect((await back).toString()).toBe('hello through the proxy');
    socket.destroy();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Coordinator } from '@swarmgrad/coordinator';
import { parseCommand } from './args.js';
import { TRAIN } from './commands.js';
import { startRunServer, type RunServer } from './http-server.js';
import { newRunConfig } from './run-config.js';
import { loadData } from './run-setup.js';
import { SocketHub } from './socket-hub.js';

// The hub's connection caps against a lab machine: anonymous connections can fill every slot,
// but a connection whose upgrade request carries the lab token is still admitted (up to
// maxLabConnections more); a wrong token is refused like any anonymous one.
const LAB = 'lab-token-for-the-hub-test';

function open(url: string, token?: string, forwardedFor?: string): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const headers = { ...(token && { authorization: `Bearer ${token}` }), ...(forwardedFor && { 'x-forwarded-for': forwardedFor }) };
    const ws = new WebSocket(url, { perMessageDeflate: false, headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('error', () => resolve({}));
  });
}

describe('SocketHub caps and lab machines', () => {
  let server: RunServer | undefined;
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await server?.close();
  });

  it('with every slot taken by anonymous connections, the lab token in the upgrade request still gets in; a wrong one does not', async () => {
    const data = await loadData('synthetic:5');
    const run = await newRunConfig(parseCommand(TRAIN, ['--data', 'synthetic:5', '--steps', '3', '--batch', '32', '--micro-batch', '8']).flags, data);
    const hub = new SocketHub({ maxConnections: 4, maxLabConnections: 1, maxPerAddress: 10, helloDeadlineMs: 60_000 });
    const engine = new Coordinator({ run, trainData: data.train, transport: hub.transport, token: LAB });
    server = await startRunServer(engine, hub, { port: 0, host: '127.0.0.1', handle: async (_req, res) => void res.end() });
    const url = `ws://127.0.0.1:${server.port}/ws`;
    for (let i = 0; i < 4; i++) {
      const { ws } = await open(url);
      expect(ws).toBeDefined();
      sockets.push(ws!);
    }
    expect((await open(url)).status).toBe(503);
    expect((await open(url, 'not-the-lab-token')).status).toBe(503);
    // A relay passing a volunteer through (lab token + X-Forwarded-For) gets no pass: the
    // volunteer is admitted, capped and banned as its own address.
    expect((await open(url, LAB, '203.0.113.9')).status).toBe(503);
    const lab = await open(url, LAB);
    expect(lab.ws).toBeDefined();
    sockets.push(lab.ws!);
    // maxLabConnections: 1 — the next lab connection over the cap is refused too.
    expect((await open(url, LAB)).status).toBe(503);
    expect(hub.size).toBe(5);
  });
});

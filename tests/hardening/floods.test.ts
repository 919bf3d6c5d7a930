import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { attackedRun, attackerAddress, cleanRun, closed, connect, dashboardHello, pool, RSS_BOUND_BYTES, subscribe, workerHello, type AttackOutcome } from './harness.js';
import { delay } from '../support/wait.js';

/** The outcome every flood must leave: the run finished with an undisturbed run's parameters, memory under the bound, /healthz answering. */
async function expectUnharmed(outcome: AttackOutcome): Promise<void> {
  const reference = await cleanRun();
  expect(outcome.result.status).toBe('finished');
  expect(outcome.result.paramsSha256).toBe(reference.result.paramsSha256);
  expect(outcome.peakRss).toBeGreaterThan(0);
  expect(outcome.peakRss).toBeLessThan(RSS_BOUND_BYTES);
  expect(outcome.healthz.failures).toBe(0);
  expect(outcome.healthz.probes).toBeGreaterThan(0);
}

describe('floods against a served run with one lab worker', () => {
  it('an undisturbed run finishes within the memory bound (the reference)', async () => {
    const reference = await cleanRun();
    expect(reference.result.status).toBe('finished');
    expect(reference.peakRss).toBeLessThan(RSS_BOUND_BYTES);
  });

  it('hello/close churn with 4,096-character labels', async () => {
    const label = 'x'.repeat(4096);
    const outcome = await attackedRun(async (served) => {
      let welcomed = 0;
      const cycles = await pool(3000, 16, async (i) => {
        const { ws } = await connect(served.ws, attackerAddress(i));
        if (!ws) return;
        ws.once('message', () => welcomed++);
        ws.send(workerHello({ label, samplesPerSecond: 1e6 }), { binary: true });
        await delay(20); // paces the churn: one hello/close cycle per connection at most every 20 ms
        ws.terminate();
      }, served.isOver);
      return { cycles, welcomed };
    });
    await expectUnharmed(outcome);
    expect((outcome.attack as { cycles: number }).cycles).toBeGreaterThan(100);
  });

  it('deaf dashboards that subscribe and stop reading are dropped', async () => {
    const outcome = await attackedRun(async (served) => {
      const codes: Array<number | null> = [];
      await pool(20, 20, async (i) => {
        const { ws } = await connect(served.ws, attackerAddress(i));
        if (!ws) return;
        ws.send(dashboardHello('deaf'), { binary: true });
        ws.send(subscribe(), { binary: true });
        await delay(200); // holds the deaf subscription open a while before the next one
        // Stop reading: the TCP window fills and the server's sends queue up.
        (ws as unknown as { _socket: { pause(): void } })._socket.pause();
        codes.push(await Promise.race([closed(ws, 120_000), served.over.then(() => null)]));
        ws.terminate();
      });
      return codes;
    });
    await expectUnharmed(outcome);
  });

  it('16 connections each sending one 64 MiB frame before hello are cut at the frame header', async () => {
    const frame = new Uint8Array(64 * 1024 * 1024);
    const outcome = await attackedRun(async (served) => {
      const codes: Array<number | null> = [];
      await pool(16, 16, async (i) => {
        const { ws } = await connect(served.ws, attackerAddress(i));
        if (!ws) return;
        ws.on('error', () => undefined);
        // Written raw (header, then payload, zero mask) so the test process does not spend a
        // second masking each frame: the server sees the bytes a real client would send.
        const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
        const header = Buffer.alloc(14);
        header[0] = 0x82;
        header[1] = 0x80 | 127;
        header.writeBigUInt64BE(BigInt(frame.length), 2);
        socket.on('error', () => undefined);
        socket.write(header);
        socket.write(frame);
        const code = await closed(ws, 60_000);
        codes.push(code);
        ws.terminate();
      });
      return codes;
    });
    await expectUnharmed(outcome);
    // The server closed each connection (1009 message too big, or 1006 when its reset beat the
    // close frame) by the frame's header; the memory bound above shows nothing was buffered
    // (16 frames of 64 MiB would be 1 GiB).
    for (const code of outcome.attack as Array<number | null>) expect([1009, 1006]).toContain(code);
    console.log(`64 MiB frames: peak RSS ${(outcome.peakRss / 2 ** 20).toFixed(0)} MiB`);
  });

  it('200 silent volunteers claiming 1e6 samples/s, reconnecting while the run lasts', async () => {
    const outcome = await attackedRun(async (served) => {
      let refused = 0;
      let welcomed = 0;
      await pool(200, 200, async (i) => {
        while (!served.isOver()) {
          const { ws } = await connect(served.ws, attackerAddress(i % 25));
          if (!ws) {
            refused++;
            await delay(1000); // paces reconnects after a refusal (the address is locked out)
            continue;
          }
          ws.on('message', (data: Buffer) => (data[0] !== undefined ? undefined : undefined));
          ws.once('message', () => welcomed++);
          ws.send(workerHello({ name: `fake-${i}`, samplesPerSecond: 1e6 }), { binary: true });
          // Silent from now on: no heartbeat, no result.
          await Promise.race([closed(ws, 600_000), served.over]);
          ws.terminate();
        }
      });
      return { refused, welcomed };
    });
    await expectUnharmed(outcome);
    expect((outcome.attack as { welcomed: number }).welcomed).toBeGreaterThan(0);
  });

  it('many idle connections are capped per address and in total; refusals carry a status', async () => {
    const outcome = await attackedRun(async (served) => {
      const sockets: WebSocket[] = [];
      const refusals: Record<string, number> = {};
      await pool(1000, 50, async (i) => {
        const { ws, refused } = await connect(served.ws, attackerAddress(i % 20));
        if (ws) {
          ws.on('error', () => undefined);
          sockets.push(ws);
        } else refusals[String(refused)] = (refusals[String(refused)] ?? 0) + 1;
      }, served.isOver);
      // Keep re-opening what the hello deadline closes, until the run is over.
      while (!served.isOver()) {
        const open = sockets.filter((ws) => ws.readyState === ws.OPEN).length;
        for (let i = open; i < 200 && !served.isOver(); i++) {
          const { ws } = await connect(served.ws, attackerAddress(i % 20));
          if (ws) sockets.push(ws.on('error', () => undefined));
        }
        await delay(500); // paces the re-open loop
      }
      for (const ws of sockets) ws.terminate();
      return refusals;
    });
    await expectUnharmed(outcome);
    const refusals = outcome.attack as Record<string, number>;
    expect(Object.keys(refusals).every((status) => status === '503' || status === '429')).toBe(true);
    expect(Object.values(refusals).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

// Identity and secrets: admin token guessing, workerId takeover after a blip, and what a
// tokenless dashboard or API client can read.
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeMessage, encodeMessage, type Message } from '@swarmgrad/protocol';
import { sleep } from '../distributed/cli.js';
import { attackedRun, attackerAddress, cleanRun, closed, connect, dashboardHello, RSS_BOUND_BYTES, ADMIN_TOKEN } from './harness.js';

/** Sends `frames` on a fresh connection from `address`; collects replies until closed or `ms` pass. */
async function exchange(url: string, address: string, frames: Uint8Array[], ms = 2000): Promise<{ refused?: number | string; replies: Message[]; closeCode: number | null }> {
  const { ws, refused } = await connect(url, address);
  if (!ws) return { refused, replies: [], closeCode: null };
  const replies: Message[] = [];
  ws.on('message', (data: Buffer) => replies.push(decodeMessage(new Uint8Array(data), { maxFrameBytes: 64 * 1024 * 1024 })));
  ws.on('error', () => undefined);
  for (const frame of frames) ws.send(frame, { binary: true });
  const closeCode = await closed(ws, ms);
  ws.terminate();
  return { replies, closeCode };
}

describe('identity and secrets', () => {
  it('admin token guessing: an address is locked out after 5 wrong tokens, even its right token is refused then, and the run is untouched', async () => {
    const outcome = await attackedRun(async (served) => {
      const address = attackerAddress(7);
      const answered: string[] = [];
      const refusals: Array<number | string> = [];
      const closeCodes: Array<number | null> = [];
      for (let i = 0; i < 50 && !served.isOver(); i++) {
        const guess = encodeMessage({ type: 'admin', action: 'stop', adminToken: `guess-${i}` } as Message);
        const r = await exchange(served.ws, address, [dashboardHello(), guess], 500);
        if (r.refused !== undefined) refusals.push(r.refused);
        for (const reply of r.replies) if (reply.type === 'error') answered.push(reply.code);
        closeCodes.push(r.closeCode);
      }
      // The right token, from the locked-out address: refused before it is compared.
      const right = await exchange(served.ws, address, [dashboardHello(), encodeMessage({ type: 'admin', action: 'stop', adminToken: ADMIN_TOKEN } as Message)], 500);
      return { answered, refusals, closeCodes, right };
    });
    const reference = await cleanRun();
    expect(outcome.result.status).toBe('finished');
    expect(outcome.result.paramsSha256).toBe(reference.result.paramsSha256);
    expect(outcome.peakRss).toBeLessThan(RSS_BOUND_BYTES);
    expect(outcome.healthz.failures).toBe(0);
    const { answered, refusals, closeCodes, right } = outcome.attack as { answered: string[]; refusals: Array<number | string>; closeCodes: Array<number | null>; right: { refused?: number | string } };
    // At most 5 guesses reached the token comparison; the 5th closed with LOCKED_OUT (4015); later ones were refused at the upgrade (429).
    expect(answered.filter((c) => c === 'ADMIN_REFUSED').length).toBeLessThanOrEqual(5);
    expect(closeCodes).toContain(4015);
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.every((status) => status === 429)).toBe(true);
    expect(right.refused).toBe(429);
  });
});

void WebSocket;
void sleep;

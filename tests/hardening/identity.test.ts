// Identity and secrets: admin token guessing, workerId takeover after a blip, and what a
// tokenless dashboard or API client can read.
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type Message } from '@swarmgrad/protocol';
import { snapshot } from '../support/launch.js';
import { waitFor } from '../support/wait.js';
import { attackedRun, attackerAddress, cleanRun, closed, connect, dashboardHello, LAB_TOKEN, LAB_WORKER_NAME, RSS_BOUND_BYTES, ADMIN_TOKEN, subscribe, workerHello } from './harness.js';

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

/**
 * One admin guess on a fresh connection from `address`: waits (up to 15 s, the machine may be
 * loaded) for the coordinator's answer, then briefly for the close that follows a lock-out
 * (the server writes that close frame right after the error, in the same tick).
 */
async function guess(url: string, address: string, adminToken: string): Promise<{ refused?: number | string; codes: string[]; closeCode: number | null }> {
  const { ws, refused } = await connect(url, address);
  if (!ws) return { refused, codes: [], closeCode: null };
  const codes: string[] = [];
  const answered = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const reply = decodeMessage(new Uint8Array(data), { maxFrameBytes: 64 * 1024 * 1024 });
      if (reply.type === 'error') {
        codes.push(reply.code);
        resolve();
      }
    });
    ws.once('close', () => resolve());
  });
  ws.on('error', () => undefined);
  const closing = closed(ws, 16_000);
  ws.send(dashboardHello(), { binary: true });
  ws.send(encodeMessage({ type: 'admin', action: 'stop', adminToken } as Message), { binary: true });
  await Promise.race([answered, closing]);
  const closeCode = await Promise.race([closing, new Promise<null>((resolve) => setTimeout(() => resolve(null), 200))]);
  ws.terminate();
  return { codes, closeCode };
}

describe('identity and secrets', () => {
  it('admin token guessing: an address is locked out after 5 wrong tokens, even its right token is refused then, and the run is untouched', async () => {
    const outcome = await attackedRun(async (served) => {
      const address = attackerAddress(7);
      const answered: string[] = [];
      const refusals: Array<number | string> = [];
      const closeCodes: Array<number | null> = [];
      for (let i = 0; i < 50 && !served.isOver(); i++) {
        const r = await guess(served.ws, address, `guess-${i}`);
        if (r.refused !== undefined) refusals.push(r.refused);
        answered.push(...r.codes);
        closeCodes.push(r.closeCode);
      }
      // The right token, from the locked-out address: refused before it is compared.
      const right = await guess(served.ws, address, ADMIN_TOKEN);
      return { answered, refusals, closeCodes, right };
    }, [], ['--slowdown-ms', '400']); // the lab worker takes 400 ms a task, so the guesses fit in the run on a loaded machine
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

  it('workerId takeover after a blip: without the resume token the id is not given out; with it the worker gets its id back', async () => {
    const outcome = await attackedRun(async (served) => {
      await waitFor(() => snapshot(served.port), (s) => s.step >= 1, { timeoutMs: 120_000, what: 'step 1' });
      const lab = '127.0.0.1';
      const first = await exchange(served.ws, lab, [workerHello({ token: LAB_TOKEN, name: 'blipping' })], 300);
      const welcome = first.replies.find((m) => m.type === 'welcome') as Extract<Message, { type: 'welcome' }>;
      // The blip: that connection is gone (closed above). Attackers name its id.
      const bare = await exchange(served.ws, attackerAddress(3), [workerHello({ workerId: welcome.workerId, name: 'thief' })], 300);
      const guessed = await exchange(served.ws, attackerAddress(4), [workerHello({ workerId: welcome.workerId, name: 'thief', resumeToken: '0'.repeat(32) })], 300);
      const back = await exchange(served.ws, lab, [workerHello({ token: LAB_TOKEN, workerId: welcome.workerId, resumeToken: welcome.resumeToken!, name: 'blipping' })], 300);
      const idOf = (r: { replies: Message[] }) => (r.replies.find((m) => m.type === 'welcome') as { workerId?: string } | undefined)?.workerId;
      return { id: welcome.workerId, token: welcome.resumeToken, bare: idOf(bare), guessed: idOf(guessed), guessedCodes: guessed.replies.map((m) => m.type === 'error' && m.code), back: idOf(back) };
    }, [], ['--slowdown-ms', '200']); // four 300 ms exchanges must fit in the run on a loaded machine
    const reference = await cleanRun();
    expect(outcome.result.paramsSha256).toBe(reference.result.paramsSha256);
    const r = outcome.attack as { id: string; token: string; bare: string; guessed?: string; back: string };
    expect(r.token).toMatch(/^[0-9a-f]{32}$/);
    expect(r.bare).toBeDefined();
    expect(r.bare).not.toBe(r.id);
    expect(r.guessed).toBeDefined();
    expect(r.guessed).not.toBe(r.id);
    expect(r.back).toBe(r.id);
  });

  it('a tokenless dashboard and API client see no addresses, host names, user agents or server paths; an admin sees them', async () => {
    const outcome = await attackedRun(async (served) => {
      await waitFor(() => snapshot(served.port), (s) => s.step >= 2, { timeoutMs: 120_000, what: 'step 2' });
      const address = attackerAddress(11);
      const { ws } = await connect(served.ws, address);
      const received: string[] = [];
      ws!.on('message', (data: Buffer) => received.push(JSON.stringify(decodeMessage(new Uint8Array(data), { maxFrameBytes: 64 * 1024 * 1024 }))));
      ws!.send(dashboardHello(), { binary: true });
      ws!.send(subscribe(), { binary: true });
      await waitFor(() => received.length, (n) => n > 5, { timeoutMs: 60_000, what: 'events' });
      const api = [
        await (await fetch(`http://127.0.0.1:${served.port}/api/runs`)).text(),
        await (await fetch(`http://127.0.0.1:${served.port}/api/runs/current`)).text(),
      ];
      const admin = await (await fetch(`http://127.0.0.1:${served.port}/api/runs/current`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      ws!.terminate();
      return { dashboard: received.join('\n'), api: api.join('\n'), admin, out: served.out };
    }, [], ['--slowdown-ms', '200']); // the lab worker takes 200 ms a task, so the run is still serving when the API is read on a loaded machine (CI once found it gone)
    const { dashboard, api, admin, out } = outcome.attack as { dashboard: string; api: string; admin: string; out: string };
    expect(outcome.result.status).toBe('finished');
    for (const text of [dashboard, api]) {
      expect(text).not.toContain(LAB_WORKER_NAME);
      expect(text).not.toContain('127.0.0.1');
      expect(text).not.toMatch(/node\/v?\d+/);
      expect(text).not.toContain(out);
    }
    expect(dashboard).toContain('"kind":"snapshot"');
    expect(admin).toContain(LAB_WORKER_NAME);
    expect(admin).toContain('127.0.0.1');
  });
});

// SIGTERM under load: the coordinator writes a last checkpoint (at least the step it had
// reached) and exits, while attackers churn connections and deaf dashboards stop reading.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '@swarmgrad/coordinator';
import { latestCheckpoint, listCheckpoints } from '@swarmgrad/coordinator/node';
import { BASE_RUN, launchSwarmgrad, snapshot, tempDir } from '../support/launch.js';
import { delay, waitFor } from '../support/wait.js';
import { ADMIN_TOKEN, attackerAddress, connect, dashboardHello, LAB_TOKEN, labWorker, pool, subscribe, workerHello } from './harness.js';

describe('shutdown', () => {
  it('SIGTERM during a hello/close flood and deaf dashboards writes the last checkpoint and exits', async () => {
    const args = BASE_RUN.map((a, i) => (BASE_RUN[i - 1] === '--steps' ? '5000' : a));
    const out = tempDir('sigterm');
    const run = launchSwarmgrad(['serve', ...args, '--host', '127.0.0.1'], { out, json: true, env: { SWARMGRAD_TOKEN: LAB_TOKEN, SWARMGRAD_ADMIN_TOKEN: ADMIN_TOKEN } });
    const { ws, port } = await run.server();
    const worker = labWorker(ws);
    let stop = false;
    try {
      await waitFor(() => snapshot(port), (s) => s.step >= 3, { timeoutMs: 120_000, what: 'step 3' });
      const label = 'y'.repeat(4096);
      const churn = pool(100_000, 16, async (i) => {
        const { ws: socket } = await connect(ws, attackerAddress(i));
        if (!socket) return;
        socket.on('error', () => undefined);
        socket.send(i % 4 === 0 ? dashboardHello(label) : workerHello({ label }), { binary: true });
        if (i % 4 === 0) {
          socket.send(subscribe(), { binary: true });
          (socket as unknown as { _socket: { pause(): void } })._socket.pause();
          await delay(2000); // the deaf dashboard stays subscribed and unread for 2 s
        }
        socket.terminate();
      }, () => stop);
      await delay(3000); // lets the churn run under load for 3 s before the signal
      const reached = (await snapshot(port)).step;
      run.child.kill('SIGTERM');
      const signalledAt = Date.now();
      const exit = await run.exited;
      const seconds = (Date.now() - signalledAt) / 1000;
      stop = true;
      await churn;
      expect(exit.code).toBe(3);
      const files = await listCheckpoints(out);
      const newest = await latestCheckpoint(out);
      expect(newest).toBeDefined();
      expect(newest!.step).toBeGreaterThanOrEqual(reached);
      expect(decodeCheckpoint(new Uint8Array(readFileSync(files.at(-1)!.path))).step).toBe(newest!.step);
      console.log(`SIGTERM under load: exited after ${seconds.toFixed(1)} s with a checkpoint at step ${newest!.step} (step ${reached} reached before the signal)`);
    } finally {
      stop = true;
      worker.kill();
      run.child.kill('SIGKILL');
    }
  });
});

// Capacity: one coordinator with W simulated workers, and W simulated workers behind R relays
// (all over real sockets on 127.0.0.1). LeNet-5, B = 256, m = 1. The simulated workers answer
// at once with a fixed valid gradient (sim-workers.mjs), so the CPU measured is the
// coordinator's (its own process) and the relays' (one child process for all of them).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measureCoordinator } from './coordinator.mjs';

const SIM = fileURLToPath(new URL('./sim-workers.mjs', import.meta.url));
const FLEET = fileURLToPath(new URL('./relay-fleet.mjs', import.meta.url));

/** W simulated workers spread over R relays; `delta`: they take xor-deflate params deltas. */
export async function measureRelays({ relays, workers, steps = 5, delta = true }) {
  let fleet;
  let sims;
  let connected = 0;
  const marks = [];
  const waiters = [];
  const spawnClients = (url) => {
    fleet = fork(FLEET, [url, String(relays)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    fleet.on('message', (m) => {
      if (m.urls) sims = fork(SIM, [m.urls.join(','), String(workers), 'f32'], { stdio: 'ignore', env: { ...process.env, SIM_TOKEN: 'bench', SIM_DELTA: delta ? '1' : '0' } });
      if (m.workers !== undefined) connected = m.workers;
      if (m.mark) waiters.shift()?.(m.mark);
    });
    return { kill: () => (sims?.kill(), fleet.kill()) };
  };
  const mark = () => marks.push(new Promise((resolve) => (waiters.push(resolve), fleet.send('mark'))));
  const ready = async () => {
    while (connected < workers) await new Promise((r) => setTimeout(r, 100));
  };
  // Marks at steps 4 and steps + 3: the last step's mark could be lost when the run ends.
  const last = steps + 3;
  const result = await measureCoordinator({ workers, connectedPeers: relays, steps, spawnClients, ready, onStep: (step) => (step === 4 || step === last) && mark() });
  const [a, b] = await Promise.all(marks);
  return { ...result, relays, relayCpuMsPerStep: (b.cpuMs - a.cpuMs) / (last - 4), relayRssMB: b.rssMB };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [relays = '4', workers = '100', steps = '5'] = process.argv.slice(2);
  console.log(JSON.stringify(await measureRelays({ relays: Number(relays), workers: Number(workers), steps: Number(steps) })));
  process.exit(0);
}

// R relays in one process for the capacity benchmark (argv: coordinatorUrl relays). Tells its
// parent { urls } once they listen, { workers } (connected downstream, all relays) every
// 200 ms, and answers 'mark' with { cpuMs, rssMB } of this process.
import { startRelay } from '../../apps/server/dist/relay/relay.js';

const [coordinatorUrl, count] = process.argv.slice(2);
const relays = [];
for (let i = 0; i < Number(count); i++) {
  relays.push(await startRelay({ coordinatorUrl, workerToken: 'bench', host: '127.0.0.1', port: 0, name: `relay-${i}` }));
}
process.send({ urls: relays.map((r) => r.url) });
setInterval(async () => {
  let workers = 0;
  try {
    for (const r of relays) {
      const health = await (await fetch(r.url.replace('ws:', 'http:') + '/healthz')).json();
      workers += health.summary.workers.filter((w) => w.connected).length;
    }
  } catch {
    return; // the relays are closing: the run is over
  }
  process.send({ workers });
}, 200).unref();
process.on('message', (m) => {
  if (m !== 'mark') return;
  const cpu = process.cpuUsage();
  process.send({ mark: { cpuMs: (cpu.user + cpu.system) / 1000, rssMB: process.memoryUsage().rss / 2 ** 20 } });
});
process.on('disconnect', () => process.exit(0));

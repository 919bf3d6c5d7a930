/**
 * Every command of the CLI, as a real process, with nothing but its required flags (and the
 * documented defaults for everything else): `swarmgrad --help` lists the commands, and this
 * file fails when one is listed that it does not run. `train` and `serve` run for hours with
 * their defaults (4 epochs of MNIST): they are stopped with SIGTERM once their first step is
 * done, which is itself documented behaviour (a last checkpoint, exit 3, `--resume` continues).
 * Both listen on the default port 7070, so they run one after the other.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childPids, killAll, launchSwarmgrad, runSwarmgradSync, tempDir, type SwarmgradProcess } from '../support/launch.js';
import { waitFor } from '../support/wait.js';

const DEFAULT_PORT = 7070;
const API = `http://127.0.0.1:${DEFAULT_PORT}`;

type Proc = SwarmgradProcess;

function start(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  return launchSwarmgrad(args, { cwd, env });
}

const cli = (args: string[], cwd = process.cwd()) => runSwarmgradSync(args, { cwd });

/** Whether something accepts connections on the port. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function current(): Promise<{ step: number; status: string; workers: Array<{ connected: boolean; name: string | null }>; config: { runId: string } }> {
  return (await (await fetch(`${API}/api/runs/current`)).json()) as never;
}

/** The run folder `swarmgrad train|serve` made under `<cwd>/runs`, once its server.json is written; undefined if it exited first. */
async function runFolder(cwd: string, proc: Proc): Promise<string | undefined> {
  const dir = await waitFor(
    () => {
      if (proc.child.exitCode !== null) return null;
      const runs = join(cwd, 'runs');
      const names = existsSync(runs) ? readdirSync(runs) : [];
      return names.length === 1 && existsSync(join(runs, names[0]!, 'server.json')) ? join(runs, names[0]!) : '';
    },
    (found) => found !== '', { timeoutMs: 300_000, what: 'the run folder and its server.json' });
  return dir ?? undefined;
}

/**
 * Starts `swarmgrad <command>` (default port 7070) in a fresh folder. The machine running the
 * tests may have other servers on 7070 now and then: wait until the port is free, and start
 * again if another process took it first (the CLI then exits 2 saying the port is in use).
 */
async function startOnDefaultPort(command: 'train' | 'serve'): Promise<{ proc: Proc; cwd: string; out: string }> {
  for (let attempt = 1; ; attempt++) {
    await waitFor(() => portTaken(DEFAULT_PORT), (taken) => !taken, { timeoutMs: 600_000, what: `port ${DEFAULT_PORT} to be free` });
    const cwd = tempDir(`cmd-${command}`);
    const proc = start([command], cwd);
    const out = await runFolder(cwd, proc);
    if (out) return { proc, cwd, out };
    const { code } = await proc.exited;
    const busy = code === 2 && proc.stderr().includes(`BAD_INPUT: port ${DEFAULT_PORT} is in use`);
    if (!busy || attempt === 5) throw new Error(`swarmgrad ${command} exited with ${code}:\n${proc.stderr()}`);
  }
}

/** The live run of our own server on the default port (a run of another id means another server answered). */
async function currentOf(runId: string) {
  const run = await current();
  if (run.config.runId !== runId) throw new Error(`port ${DEFAULT_PORT} answers for run ${run.config.runId}, not ${runId}`);
  return run;
}

/** Whether a process runs (not gone, not a zombie). */
function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const checkpointsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.swgckpt'));

afterAll(killAll);

describe('every command of swarmgrad --help, with only its required flags', () => {
  let checkpoint = '';

  it('the top-level help lists exactly the commands tested here', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    const commands = r.stdout.split('\n').flatMap((line) => /^  ([a-z]+) {2,}/.exec(line)?.[1] ?? []);
    expect(commands).toEqual(['train', 'serve', 'worker', 'eval', 'inspect', 'export', 'predict', 'relay']);
  });

  it('swarmgrad train: the first step completes and the run folder appears; SIGTERM stops it cleanly with a checkpoint', async () => {
    const { proc: train, out } = await startOnDefaultPort('train');
    const server = JSON.parse(readFileSync(join(out, 'server.json'), 'utf8'));
    expect(server).toMatchObject({ pid: train.child.pid, port: DEFAULT_PORT });
    await waitFor(() => currentOf(server.runId), (s) => s.step >= 1, { timeoutMs: 600_000, what: 'the first training step' });
    // --workers 2 by default (the second may still be choosing its backend when the first step is done)
    await waitFor(() => currentOf(server.runId), (s) => s.workers.filter((w) => w.connected).length === 2, { timeoutMs: 600_000, what: 'both local workers' });
    const workerPids = childPids(train.child.pid!);
    expect(workerPids).toHaveLength(2);

    train.child.kill('SIGTERM');
    const { code, signal } = await train.exited;
    expect({ code, signal }).toEqual({ code: 3, signal: null }); // 3: stopped before its end
    expect(train.stderr()).toMatch(/SIGTERM: stopping the run at step \d+/);
    expect(train.stderr()).toContain(`continue with: swarmgrad train --resume --out ${out}`);
    expect(train.stderr()).not.toMatch(/\n\s+at /);
    const summary = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'stopped', checkpoint: null, config: { batchSize: 128, microShardSize: 32, seed: 1, optimizer: { type: 'adam', lr: 0.002 } } });
    expect(summary.steps).toBeGreaterThanOrEqual(1);
    const files = checkpointsIn(out);
    expect(files.length).toBeGreaterThanOrEqual(1);
    checkpoint = join(out, files.sort().at(-1)!);
    // the local workers went with it
    for (const pid of workerPids) expect(alive(pid), `local worker ${pid}`).toBe(false);
  }, 900_000);

  it('swarmgrad inspect FILE: the run, its step and paramsSha256, as text and as JSON', () => {
    const text = cli(['inspect', checkpoint]);
    expect(text.code).toBe(0);
    const json = JSON.parse(cli(['inspect', checkpoint, '--json']).stdout);
    expect(json.paramsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(text.stdout).toContain(`paramsSha256 ${json.paramsSha256}`);
    expect(text.stdout).toMatch(new RegExp(`run +${json.runId}, step ${json.step}/${json.totalSteps}`));
    expect(json.step).toBeGreaterThanOrEqual(1);
    expect(json.optimizer.stepCount).toBe(json.step);
  });

  it('swarmgrad eval --checkpoint FILE (default backend wasm): accuracy and confusion matrix; --json as its help shows it', () => {
    const text = cli(['eval', '--checkpoint', checkpoint]);
    expect(text.stderr).not.toMatch(/TypeError|unknown backend/);
    expect(text.code).toBe(0);
    const accuracy = /accuracy ([\d.]+)% \(([\d,]+)\/10,000\)/.exec(text.stdout);
    expect(accuracy).not.toBeNull();
    expect(text.stdout).toContain('confusion matrix (rows: true class, columns: predicted)');
    const json = JSON.parse(cli(['eval', '--checkpoint', checkpoint, '--json']).stdout);
    const inspected = JSON.parse(cli(['inspect', checkpoint, '--json']).stdout);
    expect(json.paramsSha256).toBe(inspected.paramsSha256);
    expect(json.samples).toBe(10_000); // the run's own dataset: MNIST's test set
    const confusion = json.confusion as number[][];
    expect(confusion).toHaveLength(10);
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(10_000);
    const correct = confusion.reduce((sum, row, k) => sum + row[k]!, 0);
    expect(json.accuracy).toBeCloseTo(correct / 10_000, 12);
    expect(Number(accuracy![2]!.replace(/,/g, ''))).toBe(correct);
  }, 600_000);

  it('swarmgrad export --checkpoint FILE (default onnx): writes model.onnx in the working folder, a valid ONNX protobuf', () => {
    const dir = tempDir('cmd-export');
    const r = cli(['export', '--checkpoint', checkpoint], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*model\.onnx \([\d,]+ bytes, \d+ classes\)/);
    const bytes = readFileSync(join(dir, 'model.onnx'));
    // LeNet-5's 61,706 float32 parameters are in it, plus the graph
    expect(bytes.length).toBeGreaterThan(61_706 * 4);
    expect(bytes.includes(Buffer.from('probabilities'))).toBe(true);
  }, 300_000);

  it('swarmgrad predict --checkpoint FILE IMAGE: one line per image with its class and top probabilities', () => {
    const dir = tempDir('cmd-predict');
    const image = new PNG({ width: 28, height: 28, colorType: 0 });
    for (let i = 0; i < 28 * 28; i++) {
      const on = Math.abs((i % 28) - 14) < 2 && Math.floor(i / 28) > 4 && Math.floor(i / 28) < 24; // a vertical stroke: a "1"
      image.data.fill(on ? 255 : 0, i * 4, i * 4 + 3);
      image.data[i * 4 + 3] = 255;
    }
    const file = join(dir, 'one.png');
    writeFileSync(file, PNG.sync.write(image, { colorType: 0 }));
    const r = cli(['predict', '--checkpoint', checkpoint, file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(`${file}: `)).toBe(true);
    expect(r.stdout.slice(file.length)).toMatch(/^: \d \(\d [\d.]+%/);
    const json = JSON.parse(cli(['predict', '--checkpoint', checkpoint, '--json', file]).stdout) as Array<{ file: string; class: string; probabilities: Record<string, number> }>;
    expect(json).toHaveLength(1);
    const total = Object.values(json[0]!.probabilities).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 5);
    expect(r.stdout).toContain(`${file}: ${json[0]!.class} (`);
  }, 300_000);

  it('swarmgrad serve + swarmgrad worker --coordinator URL: the worker computes the first step; SIGTERM ends both cleanly', async () => {
    const { proc: serve, cwd, out } = await startOnDefaultPort('serve');
    const { runId } = JSON.parse(readFileSync(join(out, 'server.json'), 'utf8'));
    // serve says how a worker joins it
    await waitFor(() => serve.stderr(), (text) => /waiting for workers: swarmgrad worker --coordinator ws:\/\/127\.0\.0\.1:7070\/ws /.test(text), { timeoutMs: 60_000, what: 'the join hint' });
    const idle = await currentOf(runId);
    expect(idle.step).toBe(0);
    expect(idle.workers).toHaveLength(0);
    // Lab machines: the run's lab token comes from the environment (not a flag), so each worker
    // runs with only its required flag. Tokenless workers would be volunteers, and volunteers
    // get work only once a trusted worker is there to verify it.
    const token = readFileSync(join(out, 'lab-token'), 'utf8').trim();
    const worker = start(['worker', '--coordinator', `ws://127.0.0.1:${DEFAULT_PORT}/ws`], cwd, { SWARMGRAD_TOKEN: token });
    // The same coordinator named by the environment variable every app reads.
    const envWorker = start(['worker'], cwd, { SWARMGRAD_COORDINATOR: `ws://127.0.0.1:${DEFAULT_PORT}/ws`, SWARMGRAD_TOKEN: token });
    await waitFor(() => currentOf(runId), (s) => s.workers.filter((w) => w.connected).length === 2, { timeoutMs: 300_000, what: 'both workers to join' });
    await waitFor(() => currentOf(runId), (s) => s.step >= 1, { timeoutMs: 600_000, what: 'the first step computed by the workers' });

    worker.child.kill('SIGTERM');
    envWorker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect((await envWorker.exited).code).toBe(0);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 3, signal: null });
    expect(serve.stderr()).not.toMatch(/\n\s+at /);
    expect(checkpointsIn(out).length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status).toBe('stopped');
  }, 900_000);

  it('swarmgrad relay --coordinator URL (the lab token from SWARMGRAD_TOKEN): joins as one trusted worker; a worker behind it computes the first step', async () => {
    const { proc: serve, cwd, out } = await startOnDefaultPort('serve');
    const { runId } = JSON.parse(readFileSync(join(out, 'server.json'), 'utf8'));
    const token = readFileSync(join(out, 'lab-token'), 'utf8').trim();
    const relay = start(['relay', '--coordinator', `ws://127.0.0.1:${DEFAULT_PORT}/ws`], cwd, { SWARMGRAD_TOKEN: token });
    await waitFor(() => currentOf(runId), (s) => s.workers.filter((w) => w.connected).length === 1, 300_000, 'the relay to join');
    // the relay's default port, 7071; its workers present the lab token by default
    const worker = start(['worker', '--coordinator', 'ws://127.0.0.1:7071/ws'], cwd, { SWARMGRAD_TOKEN: token });
    await waitFor(() => currentOf(runId), (s) => s.step >= 1, 600_000, 'the first step computed behind the relay');
    const run = await currentOf(runId);
    expect(run.workers.filter((w) => w.connected)).toHaveLength(1); // only the relay speaks to the coordinator
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 3, signal: null });
    await relay.exited;
    expect(relay.stderr()).not.toMatch(/\n\s+at /);
  }, 900_000);
});

/** A value each placeholder of the help text takes. */
function sampleValue(placeholder: string, dir: string): string {
  if (placeholder.includes('|') && !placeholder.includes('.json')) return placeholder.split('|').at(-1)!;
  const samples: Record<string, string> = {
    N: '1',
    'NAME|FILE.json': 'mlp',
    DATA: 'synthetic:2',
    DIR: join(dir, 'out'),
    FILE: join(dir, 'file'),
    ID: 'run-1',
    ADDRESS: '127.0.0.1',
    NAME: 'n',
    'ws://HOST:PORT': 'ws://127.0.0.1:1/ws',
    HxW: '8x8',
    PATH: join(dir, 'model.onnx'),
    VALUE: 'x',
  };
  const value = samples[placeholder];
  if (value === undefined) throw new Error(`no sample value for ${placeholder}`);
  return value;
}

describe('every flag a command --help shows is accepted by that command', () => {
  const dir = tempDir('cmd-flags');
  it.each(['train', 'serve', 'worker', 'eval', 'inspect', 'export', 'predict', 'relay'])('%s', (command) => {
    const help = cli([command, '--help']);
    expect(help.code).toBe(0);
    const flags = help.stdout.split('\n').flatMap((line) => {
      const match = /^  --([a-z-]+)(?: (\S+))?  /.exec(line);
      return match && match[1] !== 'help' ? [{ name: match[1]!, placeholder: match[2] }] : [];
    });
    expect(flags.length).toBeGreaterThan(0);
    const args = flags.flatMap(({ name, placeholder }) => (placeholder ? [`--${name}`, sampleValue(placeholder, dir)] : [`--${name}`]));
    // --help after every flag: the values are parsed and checked, nothing runs.
    const r = cli([command, ...args, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);
});

import { readFile } from 'node:fs/promises';
import { isWorkerError, startNodeWorker } from '@swarmgrad/worker/node';
import { parseArgs, usage, UsageError, type FlagSpec } from './args.js';

const specs = {
  coordinator: { type: 'string', help: 'the coordinator, ws://HOST:PORT (or its /ws path)' },
  'token-file': { type: 'string', help: 'file holding the lab token (or env SWARMGRAD_TOKEN); without one the worker joins as an untrusted volunteer' },
  backend: { type: 'string', choices: ['auto', 'webgpu', 'wasm', 'cpu', 'wasm-step'], help: 'compute backend; auto benchmarks webgpu, wasm and cpu; wasm-step (compiled training step, fastest on CPUs) is opt-in', default: 'auto' },
  name: { type: 'string', help: 'label shown on the dashboard (default: host name)' },
  'slowdown-ms': { type: 'int', min: 0, help: 'testing: delay every task by this much' },
  'exit-with-parent': { type: 'boolean', help: 'exit when the parent process goes away (set by swarmgrad train for its local workers)' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** `swarmgrad worker`: one Node worker; SIGTERM / SIGINT finish (or hand back) the current task and leave cleanly. */
export async function workerCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, specs);
  if (flags.help) {
    console.log(usage('worker', 'Compute gradients for a coordinator until it finishes or this process is stopped.', specs));
    return 0;
  }
  if (positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}; see swarmgrad worker --help`);
  const url = flags.coordinator as string | undefined;
  if (!url) throw new UsageError('--coordinator ws://HOST:PORT is required');
  if (!/^wss?:\/\//.test(url)) throw new UsageError(`--coordinator must be a ws:// or wss:// URL; got ${JSON.stringify(url)}`);
  let token = process.env.SWARMGRAD_TOKEN?.trim() || undefined;
  if (flags['token-file']) {
    try {
      token = (await readFile(flags['token-file'] as string, 'utf8')).trim();
    } catch (error) {
      throw new UsageError(`cannot read --token-file: ${(error as Error).message}`);
    }
  }
  const worker = startNodeWorker({
    url,
    backend: flags.backend as 'auto' | 'webgpu' | 'wasm' | 'cpu' | 'wasm-step' | undefined ?? 'auto',
    ...(token ? { token } : {}),
    ...(flags.name ? { name: flags.name as string } : {}),
    ...(flags['slowdown-ms'] ? { slowdownMs: flags['slowdown-ms'] as number } : {}),
    log: (entry) => {
      if (entry.level !== 'debug') console.error(`[worker] ${entry.level}: ${entry.message}${entry.code ? ` (${entry.code})` : ''}`);
    },
  });
  const stop = (): void => {
    void worker.stop();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (flags['exit-with-parent']) {
    // The IPC channel closes when the parent dies, even by SIGKILL.
    process.on('disconnect', stop);
  }
  try {
    await worker.done;
    return 0;
  } catch (error) {
    if (isWorkerError(error)) {
      console.error(`swarmgrad worker: ${error.code}${error.remoteCode ? ` (${error.remoteCode})` : ''}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    // Dawn / tfjs may keep handles open; the work is done.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  }
}

import { readFile } from 'node:fs/promises';
import { isWorkerError, startNodeWorker } from '@swarmgrad/worker/node';
import { parseCommand, usage, UsageError } from './args.js';
import { WORKER } from './commands.js';

/** `swarmgrad worker`: one Node worker; SIGTERM / SIGINT finish (or hand back) the current task and leave cleanly. */
export async function workerCommand(argv: string[]): Promise<number> {
  const { flags, help } = parseCommand(WORKER, argv);
  if (help) {
    console.log(usage(WORKER));
    return 0;
  }
  const url = flags.coordinator;
  if (!/^wss?:\/\//.test(url)) throw new UsageError('BAD_VALUE', `--coordinator must be a ws:// or wss:// URL; got ${JSON.stringify(url)}`);
  let token = process.env.SWARMGRAD_TOKEN?.trim() || undefined;
  if (flags['token-file']) {
    try {
      token = (await readFile(flags['token-file'], 'utf8')).trim();
    } catch (error) {
      throw new UsageError('BAD_INPUT', `cannot read --token-file: ${(error as Error).message}`);
    }
  }
  const worker = startNodeWorker({
    url,
    backend: flags.backend,
    ...(token ? { token } : {}),
    ...(flags.name ? { name: flags.name } : {}),
    ...(flags['slowdown-ms'] ? { slowdownMs: flags['slowdown-ms'] } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
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

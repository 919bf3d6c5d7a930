import { readFile } from 'node:fs/promises';
import { parseCommand, usage, UsageError } from '../args.js';
import { RELAY } from '../commands.js';
import { RelayError } from './errors.js';
import { startRelay } from './relay.js';

async function readToken(file: string | undefined, env: string | undefined, flag: string): Promise<string | undefined> {
  if (!file) return env?.trim() || undefined;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new UsageError('BAD_INPUT', `cannot read --${flag}: ${(error as Error).message}`);
  }
}

/** `swarmgrad relay`: forwards a coordinator's work to the workers that connect here, until the run ends. */
export async function relayCommand(argv: string[]): Promise<number> {
  const { flags, help } = parseCommand(RELAY, argv);
  if (help) {
    console.log(usage(RELAY));
    return 0;
  }
  const url = flags.coordinator;
  if (!/^wss?:\/\//.test(url)) throw new UsageError('BAD_VALUE', `--coordinator must be a ws:// or wss:// URL; got ${JSON.stringify(url)}`);
  const token = await readToken(flags['token-file'], process.env.SWARMGRAD_TOKEN, 'token-file');
  if (!token) throw new UsageError('MISSING_ARGUMENT', 'a relay needs the lab token: --token-file FILE or env SWARMGRAD_TOKEN');
  const workerToken = (await readToken(flags['worker-token-file'], process.env.SWARMGRAD_RELAY_WORKER_TOKEN, 'worker-token-file')) ?? token;
  const json = flags.json;
  try {
    const relay = await startRelay({
      coordinatorUrl: url,
      token,
      workerToken,
      host: flags.host,
      port: flags.port,
      ...(flags.name ? { name: flags.name } : {}),
      paramsDelta: !flags['full-params'],
      log: (line) => console.error(`[relay] ${line}`),
    });
    if (json) console.log(JSON.stringify({ listening: relay.url }));
    const stop = (): void => void relay.stop('relay stopped');
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    const summary = await relay.done;
    if (json) console.log(JSON.stringify(summary));
    else console.error(`[relay] done: ${summary.reason}; ${summary.blocksReturned} blocks returned, ${summary.jobsReissued} sub-tasks re-issued`);
    return 0;
  } catch (error) {
    if (error instanceof RelayError) {
      console.error(`swarmgrad relay: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

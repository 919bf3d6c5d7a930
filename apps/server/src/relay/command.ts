import { readFile } from 'node:fs/promises';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { RelayError } from './errors.js';
import { startRelay } from './relay.js';

const specs = {
  coordinator: { type: 'string', help: 'the coordinator, ws://HOST:PORT (or its /ws path)' },
  'token-file': { type: 'string', help: 'file holding the lab token the relay presents upstream (or env SWARMGRAD_TOKEN); required: the coordinator must trust the relay' },
  'worker-token-file': { type: 'string', help: 'file holding the token workers must present to this relay (or env SWARMGRAD_RELAY_WORKER_TOKEN; default: the lab token)' },
  port: { type: 'int', min: 0, help: 'port workers connect to (0: any free port)', default: 7071 },
  host: { type: 'string', help: 'address to listen on', default: '0.0.0.0' },
  name: { type: 'string', help: 'label shown on the coordinator dashboard (default: relay@<host name>)' },
  'full-params': { type: 'boolean', help: 'send workers the full parameters every step, not the lossless xor-deflate delta of consecutive steps' },
  json: { type: 'boolean', help: 'print a JSON line { listening } once listening and a JSON summary on stdout at the end' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

async function readToken(file: string | undefined, env: string | undefined, flag: string): Promise<string | undefined> {
  if (!file) return env?.trim() || undefined;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(`cannot read --${flag}: ${(error as Error).message}`);
  }
}

/** `swarmgrad relay`: forwards a coordinator's work to the workers that connect here, until the run ends. */
export async function relayCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, specs);
  if (flags.help) {
    console.log(usage('relay', 'Relay a coordinator to nearby workers: one trusted worker upstream, a coordinator for the workers that connect here.', specs));
    return 0;
  }
  if (positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}; see swarmgrad relay --help`);
  const url = flags.coordinator as string | undefined;
  if (!url) throw new UsageError('--coordinator ws://HOST:PORT is required');
  if (!/^wss?:\/\//.test(url)) throw new UsageError(`--coordinator must be a ws:// or wss:// URL; got ${JSON.stringify(url)}`);
  const token = await readToken(flags['token-file'] as string | undefined, process.env.SWARMGRAD_TOKEN, 'token-file');
  if (!token) throw new UsageError('a relay needs the lab token: --token-file FILE or env SWARMGRAD_TOKEN');
  const workerToken = (await readToken(flags['worker-token-file'] as string | undefined, process.env.SWARMGRAD_RELAY_WORKER_TOKEN, 'worker-token-file')) ?? token;
  const json = flags.json === true;
  try {
    const relay = await startRelay({
      coordinatorUrl: url,
      token,
      workerToken,
      host: (flags.host as string | undefined) ?? '0.0.0.0',
      port: (flags.port as number | undefined) ?? 7071,
      ...(flags.name ? { name: flags.name as string } : {}),
      paramsDelta: flags['full-params'] !== true,
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

import { UsageError } from './args.js';
import { COMMANDS } from './commands.js';
import { evalCommand, inspectCommand } from './eval.js';
import { trainCommand } from './train.js';
import { workerCommand } from './worker.js';
import { exportCommand } from './export-command.js';
import { predictCommand } from './predict-command.js';
import { relayCommand } from './relay/command.js';

/** The command names and what runs each; the top-level help lists {@link COMMANDS}. */
const HANDLERS: Record<string, (argv: string[]) => Promise<number>> = {
  train: (argv) => trainCommand(argv, true),
  serve: (argv) => trainCommand(argv, false),
  worker: workerCommand,
  eval: evalCommand,
  inspect: inspectCommand,
  export: exportCommand,
  predict: predictCommand,
  relay: relayCommand,
};

/** The top-level `--help`: every command and its summary, from the command table. */
export function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  return [
    'usage: swarmgrad <command> [flags]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'swarmgrad <command> --help shows a command\'s flags.',
  ].join('\n');
}

/**
 * Runs the CLI; resolves to the exit code: 0 done, 1 a runtime error with a stable code,
 * 2 a usage error (`CODE: message`, no stack trace), 3 a run that was stopped before its end.
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      console.log(topLevelHelp());
      return command === undefined ? 2 : 0;
    }
    const handler = Object.hasOwn(HANDLERS, command) ? HANDLERS[command] : undefined;
    if (!handler) throw new UsageError('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(command)}\n\n${topLevelHelp()}`);
    return await handler(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`swarmgrad${command && Object.hasOwn(HANDLERS, command) ? ` ${command}` : ''}: ${error.code}: ${error.message}`);
      return 2;
    }
    const coded = error as { code?: string; message?: string; name?: string };
    if (typeof coded?.code === 'string' && /^[A-Z_]+$/.test(coded.code)) {
      console.error(`swarmgrad ${command}: ${coded.code}: ${coded.message}`);
      return 1;
    }
    throw error;
  }
}

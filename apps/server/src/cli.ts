import { evalCommand, inspectCommand } from './eval.js';
import { UsageError } from './args.js';
import { trainCommand } from './train.js';
import { workerCommand } from './worker.js';
import { relayCommand } from './relay/command.js';

const HELP = `usage: swarmgrad <command> [flags]

  train     train a model: coordinator + local Node workers + dashboard (the main job)
  serve     coordinate a run and wait for workers (lab machines, volunteers)
  worker    compute gradients for a coordinator: swarmgrad worker --coordinator ws://HOST:PORT
  relay     forward a coordinator's work to nearby workers: swarmgrad relay --coordinator ws://HOST:PORT
  eval      evaluate a checkpoint: accuracy, loss, confusion matrix
  inspect   show a checkpoint's run, step, optimizer and paramsSha256

swarmgrad <command> --help shows a command's flags.`;

/** Runs the CLI; resolves to the exit code. Usage errors print a message, not a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await trainCommand(rest, true);
      case 'serve':
        return await trainCommand(rest, false);
      case 'worker':
        return await workerCommand(rest);
      case 'relay':
        return await relayCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'inspect':
        return await inspectCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`swarmgrad ${command ?? ''}: ${error.message}`.replace('  ', ' '));
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

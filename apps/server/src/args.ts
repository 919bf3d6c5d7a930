/**
 * The CLI's flag tables and their parser. Each command declares its flags once, in a
 * {@link CommandSpec}: type, default, choices, bounds and help text. `node:util`'s `parseArgs`
 * splits the command line; this module converts and checks values, fills in defaults and
 * renders `--help` (and the README's flag tables) from the same table, so help, README and
 * behaviour cannot drift apart.
 */
import { parseArgs as splitArgs } from 'node:util';

/** Stable codes of {@link UsageError} (the CLI prints `CODE: message` and exits 2). */
export const UsageErrorCode = {
  /** The first word is not a command. */
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  /** A flag the command does not have. */
  UNKNOWN_FLAG: 'UNKNOWN_FLAG',
  /** A flag that takes a value was given none (or a switch was given one). */
  MISSING_VALUE: 'MISSING_VALUE',
  /** A value of the wrong type, outside its choices or below its minimum. */
  BAD_VALUE: 'BAD_VALUE',
  /** A required flag or argument is missing. */
  MISSING_ARGUMENT: 'MISSING_ARGUMENT',
  /** An argument the command does not take. */
  UNEXPECTED_ARGUMENT: 'UNEXPECTED_ARGUMENT',
  /** Flags that do not go together (`--resume` with `--seed`, `--batch` not a multiple of `--micro-batch`). */
  CONFLICTING_FLAGS: 'CONFLICTING_FLAGS',
  /** What a flag names cannot be used: no such file, a corrupt checkpoint, a model that does not fit the data, a port in use. */
  BAD_INPUT: 'BAD_INPUT',
} as const;

/** One of {@link UsageErrorCode}. */
export type UsageErrorCode = (typeof UsageErrorCode)[keyof typeof UsageErrorCode];

/** A mistake in the command line; the CLI prints `code: message` and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly code: UsageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** How one flag is read. */
export interface FlagSpec {
  type: 'string' | 'int' | 'number' | 'boolean';
  /** One line for `--help`. */
  help: string;
  /** The value when the flag is absent; shown in `--help`. */
  default?: string | number;
  /** Shown in `--help` instead of `default` when the default is computed (`runs/<run-id>`). */
  defaultText?: string;
  /** For strings: the allowed values. */
  choices?: readonly string[];
  /** For numbers: inclusive lower bound. */
  min?: number;
  /** For numbers: inclusive upper bound. */
  max?: number;
  /** The command fails without it (after {@link FlagSpec.env}). */
  required?: boolean;
  /** An environment variable that gives the value when the flag is absent. */
  env?: string;
  /** Name of the value in `--help` (`FILE`, `ws://HOST:PORT`). */
  placeholder?: string;
}

/** A command: its name, one-line summary, positional argument and flags. */
export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  name: string;
  summary: string;
  /** A positional argument (`inspect FILE`); `variadic` takes any number (`IMAGE...`). */
  positional?: { name: string; help: string; required: boolean; variadic?: boolean };
  flags: F;
}

type FlagValue<S extends FlagSpec> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'int' | 'number' }
    ? S extends { default: number } | { required: true }
      ? number
      : number | undefined
    : S extends { default: string } | { required: true }
      ? S extends { choices: readonly (infer C)[] }
        ? C
        : string
      : string | undefined;

/** The parsed values of a flag table: defaults filled in, numbers converted. */
export type FlagValues<F extends Record<string, FlagSpec>> = { -readonly [K in keyof F]: FlagValue<F[K]> };

/** What {@link parseCommand} returns. */
export interface ParsedCommand<F extends Record<string, FlagSpec>> {
  flags: FlagValues<F>;
  /** The (first) positional argument, if the command has one and it was given. */
  positional: string | undefined;
  /** Every positional argument (more than one only for a `variadic` one). */
  positionals: string[];
  /** `--help` / `-h` was given: print {@link usage} and do nothing else. */
  help: boolean;
  /** Flags that were given on the command line (not defaults, not environment). */
  given: ReadonlySet<string>;
}

/**
 * Parses `argv` for `command`: `--flag value`, `--flag=value`, switches, at most one
 * positional argument and `--help`. Unknown flags, missing or bad values are
 * {@link UsageError}s with a code from {@link UsageErrorCode}.
 */
export function parseCommand<F extends Record<string, FlagSpec>>(command: CommandSpec<F>, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommand<F> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(command.flags)) options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  let split: ReturnType<typeof splitArgs>;
  try {
    split = splitArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw fromNodeError(command, error as Error & { code?: string });
  }
  const raw = split.values as Record<string, string | boolean | undefined>;
  const help = raw.help === true;
  const flags: Record<string, string | number | boolean | undefined> = {};
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(command.flags)) {
    const value = raw[name];
    if (value !== undefined) given.add(name);
    if (spec.type === 'boolean') {
      flags[name] = value === true;
      continue;
    }
    const text = (value as string | undefined) ?? (spec.env ? env[spec.env]?.trim() || undefined : undefined);
    if (text !== undefined) flags[name] = convert(name, text, spec);
    else if (spec.default !== undefined) flags[name] = spec.default;
    else if (spec.required && !help) throw new UsageError('MISSING_ARGUMENT', `--${name}${spec.placeholder ? ` ${spec.placeholder}` : ''} is required${spec.env ? ` (or env ${spec.env})` : ''}; see swarmgrad ${command.name} --help`);
  }
  const positionals = split.positionals;
  const allowed = !command.positional ? 0 : command.positional.variadic ? Infinity : 1;
  if (positionals.length > allowed) throw new UsageError('UNEXPECTED_ARGUMENT', `unexpected argument ${JSON.stringify(positionals[allowed])}; see swarmgrad ${command.name} --help`);
  const positional = positionals[0];
  if (command.positional?.required && positional === undefined && !help) throw new UsageError('MISSING_ARGUMENT', `${command.positional.name} is required: swarmgrad ${command.name} ${command.positional.name}`);
  return { flags: flags as FlagValues<F>, positional, positionals, help, given };
}

/** A `node:util` parse error as a {@link UsageError} that names the flag and what it expects. */
function fromNodeError(command: CommandSpec, error: Error & { code?: string }): UsageError {
  const flag = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1] ?? '';
  const name = flag.replace(/^-+/, '');
  const known = Object.keys(command.flags).map((f) => `--${f}`);
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError('UNKNOWN_FLAG', `unknown flag ${flag}; swarmgrad ${command.name} takes ${[...known, '--help'].join(', ')}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const spec = command.flags[name];
      if (spec?.type === 'boolean' || name === 'help' || name === 'h') return new UsageError('BAD_VALUE', `${flag} is a switch and takes no value`);
      return new UsageError('MISSING_VALUE', `${flag} needs a value (${spec?.help ?? ''}); write ${flag}=VALUE for a value that starts with '-'`);
    }
    default:
      return new UsageError('BAD_VALUE', error.message);
  }
}

function convert(name: string, text: string, spec: FlagSpec): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(text)) throw new UsageError('BAD_VALUE', `--${name} must be one of ${spec.choices.join(', ')}; got ${JSON.stringify(text)}`);
    if (text === '') throw new UsageError('BAD_VALUE', `--${name} needs a non-empty value (${spec.help})`);
    return text;
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (spec.type === 'int' && !Number.isInteger(value))) {
    throw new UsageError('BAD_VALUE', `--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}; got ${JSON.stringify(text)}`);
  }
  if (spec.min !== undefined && value < spec.min) throw new UsageError('BAD_VALUE', `--${name} must be at least ${spec.min}; got ${value}`);
  if (spec.max !== undefined && value > spec.max) throw new UsageError('BAD_VALUE', `--${name} must be at most ${spec.max}; got ${value}`);
  return value;
}

/** How a flag's value is written in help: `N`, `adam|sgd`, `FILE`. */
export function flagPlaceholder(spec: FlagSpec): string {
  if (spec.type === 'boolean') return '';
  if (spec.placeholder) return spec.placeholder;
  if (spec.choices) return spec.choices.join('|');
  return spec.type === 'string' ? 'VALUE' : 'N';
}

/** The help text of a flag with its default, environment variable and whether it is required. */
export function flagDescription(spec: FlagSpec): string {
  const notes: string[] = [];
  if (spec.required) notes.push('required');
  if (spec.env) notes.push(`env ${spec.env}`);
  const shown = spec.defaultText ?? spec.default;
  if (shown !== undefined) notes.push(`default ${shown}`);
  return notes.length ? `${spec.help} [${notes.join('; ')}]` : spec.help;
}

/** The one-line synopsis of a command: `swarmgrad eval --checkpoint FILE [flags]`. */
export function synopsis(command: CommandSpec): string {
  const required = Object.entries(command.flags)
    .filter(([, spec]) => spec.required)
    .map(([name, spec]) => `--${name} ${flagPlaceholder(spec)}`);
  const name = command.positional ? `${command.positional.name}${command.positional.variadic ? '...' : ''}` : '';
  const positional = command.positional ? (command.positional.required ? name : `[${name}]`) : '';
  return ['swarmgrad', command.name, positional, ...required, '[flags]'].filter(Boolean).join(' ');
}

/** The `--help` text of a command, rendered from its flag table. */
export function usage(command: CommandSpec): string {
  const rows: Array<[string, string]> = Object.entries(command.flags).map(([name, spec]) => {
    const value = flagPlaceholder(spec);
    return [`  --${name}${value ? ` ${value}` : ''}`, flagDescription(spec)];
  });
  if (command.positional) rows.unshift([`  ${command.positional.name}`, command.positional.help]);
  rows.push(['  --help, -h', 'show this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [`usage: ${synopsis(command)}`, '', command.summary, '', ...rows.map(([left, right]) => left.padEnd(width) + right)].join('\n');
}

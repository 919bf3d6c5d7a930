/**
 * A small, strict command-line parser: every flag is declared with its type, unknown flags
 * and bad values are `UsageError`s with a clear message (the CLI prints it and exits 2).
 */

/** A mistake in the command line; the CLI prints `message` and the command's usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** How one flag is read. */
export interface FlagSpec {
  type: 'string' | 'int' | 'number' | 'boolean';
  /** One line for `--help`. */
  help: string;
  /** Shown in `--help`. */
  default?: string | number | boolean;
  /** For strings: allowed values. */
  choices?: readonly string[];
  /** For numbers: inclusive lower bound. */
  min?: number;
  /** Boolean flags that may also take a value (`--resume DIR`). */
  optionalValue?: boolean;
}

/** Parsed flags and positional arguments. */
export interface Parsed {
  flags: Record<string, string | number | boolean | undefined>;
  positional: string[];
}

/** Parses `argv` against `specs`; `--flag value` and `--flag=value` both work. */
export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>): Parsed {
  const flags: Parsed['flags'] = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (!spec) {
      throw new UsageError(`unknown flag --${name}; known flags: ${Object.keys(specs).map((f) => `--${f}`).join(', ')}`);
    }
    let raw: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (spec.type === 'boolean') {
      if (raw === undefined && spec.optionalValue && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) raw = argv[++i]!;
      flags[name] = raw === undefined ? true : spec.optionalValue ? raw : parseBoolean(name, raw);
      continue;
    }
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined || raw.startsWith('--')) throw new UsageError(`--${name} needs a value (${spec.help})`);
    }
    flags[name] = parseValue(name, raw, spec);
  }
  return { flags, positional };
}

function parseBoolean(name: string, raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new UsageError(`--${name} is a switch; got value ${JSON.stringify(raw)}`);
}

function parseValue(name: string, raw: string, spec: FlagSpec): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got ${JSON.stringify(raw)}`);
    }
    return raw;
  }
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (spec.type === 'int' && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}; got ${JSON.stringify(raw)}`);
  }
  if (spec.min !== undefined && value < spec.min) throw new UsageError(`--${name} must be at least ${spec.min}; got ${value}`);
  return value;
}

/** The `--help` text for a command. */
export function usage(command: string, summary: string, specs: Record<string, FlagSpec>, positional = ''): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const value = s.type === 'boolean' ? (s.optionalValue ? ' [VALUE]' : '') : s.choices ? ` ${s.choices.join('|')}` : ` ${s.type === 'string' ? 'VALUE' : 'N'}`;
    return [`  --${name}${value}`, `${s.help}${s.default !== undefined ? ` (default ${s.default})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [`usage: swarmgrad ${command}${positional ? ` ${positional}` : ''} [flags]`, '', summary, '', ...rows.map(([l, r]) => l.padEnd(width) + r)].join('\n');
}

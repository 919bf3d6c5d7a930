import { describe, expect, it } from 'vitest';
import { flagPlaceholder, parseCommand, synopsis, usage, UsageError, UsageErrorCode, type CommandSpec, type FlagSpec } from './args.js';
import { COMMANDS, EVAL, INSPECT, SERVE, TRAIN, WORKER } from './commands.js';

const demo = {
  name: 'demo',
  summary: 'A demo command.',
  positional: { name: 'FILE', help: 'a file', required: false },
  flags: {
    steps: { type: 'int', min: 0, help: 'steps', default: 4 },
    lr: { type: 'number', help: 'learning rate' },
    backend: { type: 'string', choices: ['cpu', 'wasm'], help: 'backend', default: 'wasm' },
    json: { type: 'boolean', help: 'json' },
    url: { type: 'string', help: 'where', env: 'DEMO_URL', required: true, placeholder: 'URL' },
  },
} as const satisfies CommandSpec;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).code;
  }
  return undefined;
}

describe('parseCommand', () => {
  it('reads --flag value, --flag=value, switches and the positional argument', () => {
    const parsed = parseCommand(demo, ['--steps', '20', '--lr=0.5', '--json', 'file.ckpt', '--backend', 'cpu', '--url', 'x'], {});
    expect(parsed.flags).toEqual({ steps: 20, lr: 0.5, json: true, backend: 'cpu', url: 'x' });
    expect(parsed.positional).toBe('file.ckpt');
    expect([...parsed.given].sort()).toEqual(['backend', 'json', 'lr', 'steps', 'url']);
    expect(parsed.help).toBe(false);
  });

  it('fills in every default, leaves flags without one undefined and switches false', () => {
    const parsed = parseCommand(demo, [], { DEMO_URL: 'from-env' });
    expect(parsed.flags).toEqual({ steps: 4, lr: undefined, backend: 'wasm', json: false, url: 'from-env' });
    expect(parsed.given.size).toBe(0);
  });

  it('a flag on the command line wins over its environment variable', () => {
    expect(parseCommand(demo, ['--url', 'flag'], { DEMO_URL: 'env' }).flags.url).toBe('flag');
  });

  it('--help and -h skip the required checks', () => {
    expect(parseCommand(demo, ['--help'], {}).help).toBe(true);
    expect(parseCommand(demo, ['-h'], {}).help).toBe(true);
  });

  it.each([
    [['--stepz', '3'], UsageErrorCode.UNKNOWN_FLAG],
    [['-x'], UsageErrorCode.UNKNOWN_FLAG],
    [['--steps'], UsageErrorCode.MISSING_VALUE],
    [['--steps', '--json'], UsageErrorCode.MISSING_VALUE],
    [['--steps', '2.5'], UsageErrorCode.BAD_VALUE],
    [['--steps', '-1'], UsageErrorCode.MISSING_VALUE],
    [['--steps=-1'], UsageErrorCode.BAD_VALUE],
    [['--steps', ''], UsageErrorCode.BAD_VALUE],
    [['--lr', 'fast'], UsageErrorCode.BAD_VALUE],
    [['--lr', 'Infinity'], UsageErrorCode.BAD_VALUE],
    [['--backend', 'tpu'], UsageErrorCode.BAD_VALUE],
    [['--json=maybe'], UsageErrorCode.BAD_VALUE],
    [['a', 'b'], UsageErrorCode.UNEXPECTED_ARGUMENT],
  ])('%j is a UsageError with code %s', (argv, code) => {
    expect(codeOf(() => parseCommand(demo, [...argv, '--url', 'x'], {}))).toBe(code);
  });

  it('a missing required flag is MISSING_ARGUMENT and names the flag and its environment variable', () => {
    expect(codeOf(() => parseCommand(demo, [], {}))).toBe('MISSING_ARGUMENT');
    expect(() => parseCommand(demo, [], {})).toThrow(/--url URL is required \(or env DEMO_URL\)/);
  });

  it('messages say what was wrong and what was expected', () => {
    expect(() => parseCommand(demo, ['--steps', '2.5', '--url', 'x'], {})).toThrow('--steps must be an integer; got "2.5"');
    expect(() => parseCommand(demo, ['--steps=-1', '--url', 'x'], {})).toThrow('--steps must be at least 0; got -1');
    expect(() => parseCommand(WORKER, ['--coordinator', 'ws://h:1', '--threads', '65'], {})).toThrow('--threads must be at most 64; got 65');
    expect(() => parseCommand(WORKER, ['--coordinator', 'ws://h:1', '--threads', '0'], {})).toThrow('--threads must be at least 1; got 0');
    expect(parseCommand(WORKER, ['--coordinator', 'ws://h:1', '--threads', '4'], {}).flags.threads).toBe(4);
    expect(() => parseCommand(demo, ['--backend', 'tpu', '--url', 'x'], {})).toThrow('--backend must be one of cpu, wasm; got "tpu"');
    expect(() => parseCommand(demo, ['--stepz', '--url', 'x'], {})).toThrow(/unknown flag --stepz; swarmgrad demo takes --steps, --lr, --backend, --json, --url, --help/);
  });

  it('a variadic positional argument takes any number', () => {
    const many = { name: 'many', summary: 'Many.', positional: { name: 'IMAGE', help: 'images', required: true, variadic: true }, flags: {} } as const satisfies CommandSpec;
    expect(parseCommand(many, ['a', 'b', 'c']).positionals).toEqual(['a', 'b', 'c']);
    expect(codeOf(() => parseCommand(many, []))).toBe('MISSING_ARGUMENT');
    expect(synopsis(many)).toBe('swarmgrad many IMAGE... [flags]');
    expect(codeOf(() => parseCommand(INSPECT, ['a', 'b']))).toBe('UNEXPECTED_ARGUMENT');
  });

  it('a required positional argument is MISSING_ARGUMENT without it', () => {
    expect(codeOf(() => parseCommand(INSPECT, []))).toBe('MISSING_ARGUMENT');
    expect(parseCommand(INSPECT, ['f.ckpt']).positional).toBe('f.ckpt');
  });
});

describe('the command table', () => {
  const commands: CommandSpec[] = [TRAIN, SERVE, WORKER, EVAL, INSPECT];

  it('lists every command once', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(['train', 'serve', 'worker', 'eval', 'inspect', 'export', 'predict', 'relay']);
  });

  it.each(commands.map((c) => [c.name, c] as const))('%s: every default is of its flag type, within its choices and bounds', (_name, command) => {
    for (const [name, spec] of Object.entries(command.flags) as Array<[string, FlagSpec]>) {
      if (spec.default === undefined) continue;
      if (spec.type === 'int') expect(Number.isInteger(spec.default), name).toBe(true);
      if (spec.type === 'int' || spec.type === 'number') expect(typeof spec.default, name).toBe('number');
      if (spec.type === 'string') expect(typeof spec.default, name).toBe('string');
      if (spec.choices) expect(spec.choices, name).toContain(spec.default);
      if (spec.min !== undefined) expect(spec.default as number, name).toBeGreaterThanOrEqual(spec.min);
    }
  });

  it.each(commands.map((c) => [c.name, c] as const))('%s: parsing nothing but the required flags yields the documented defaults', (_name, command) => {
    const required = Object.entries(command.flags as Record<string, FlagSpec>)
      .filter(([, spec]) => spec.required)
      .flatMap(([name]) => [`--${name}`, 'ws://127.0.0.1:1/ws']);
    const positional = command.positional?.required ? ['x.ckpt'] : [];
    const { flags } = parseCommand(command, [...required, ...positional], {});
    for (const [name, spec] of Object.entries(command.flags as Record<string, FlagSpec>)) {
      const value = (flags as Record<string, unknown>)[name];
      if (spec.type === 'boolean') expect(value, name).toBe(false);
      else if (!spec.required) expect(value, name).toBe(spec.default);
    }
  });

  it('eval: the backend defaults to wasm, as its help says', () => {
    expect(parseCommand(EVAL, ['--checkpoint', 'f']).flags.backend).toBe('wasm');
    expect(usage(EVAL)).toMatch(/--backend wasm\|cpu\|webgpu\s+compute backend \[default wasm\]/);
  });

  it('serve listens on every interface by default, train on the loopback only', () => {
    expect(parseCommand(SERVE, []).flags.host).toBe('0.0.0.0');
    expect(parseCommand(TRAIN, []).flags.host).toBe('127.0.0.1');
    expect(Object.keys(SERVE.flags)).not.toContain('workers');
  });

  it.each(commands.map((c) => [c.name, c] as const))('%s: --help lists every flag with its value and default', (_name, command) => {
    const text = usage(command);
    expect(text.split('\n')[0]).toBe(`usage: ${synopsis(command)}`);
    for (const [name, spec] of Object.entries(command.flags as Record<string, FlagSpec>)) {
      const line = text.split('\n').find((l) => l.startsWith(`  --${name} `) || l === `  --${name}` || l.startsWith(`  --${name}  `));
      expect(line, name).toBeDefined();
      expect(line).toContain(spec.help);
      if (flagPlaceholder(spec)) expect(line).toContain(`--${name} ${flagPlaceholder(spec)}`);
      if (spec.default !== undefined) expect(line).toContain(`default ${spec.default}`);
    }
  });

  it('required flags appear in the synopsis', () => {
    expect(synopsis(WORKER)).toBe('swarmgrad worker --coordinator ws://HOST:PORT [flags]');
    expect(synopsis(EVAL)).toBe('swarmgrad eval --checkpoint FILE [flags]');
    expect(synopsis(INSPECT)).toBe('swarmgrad inspect FILE [flags]');
    expect(synopsis(TRAIN)).toBe('swarmgrad train [flags]');
  });
});

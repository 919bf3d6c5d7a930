import { describe, expect, it } from 'vitest';
import { parseArgs, usage, UsageError, type FlagSpec } from './args.js';

const specs: Record<string, FlagSpec> = {
  steps: { type: 'int', min: 0, help: 'steps' },
  lr: { type: 'number', help: 'learning rate' },
  backend: { type: 'string', choices: ['cpu', 'wasm'], help: 'backend' },
  json: { type: 'boolean', help: 'json' },
  resume: { type: 'boolean', optionalValue: true, help: 'resume' },
};

describe('parseArgs', () => {
  it('reads --flag value, --flag=value, switches and positionals', () => {
    expect(parseArgs(['--steps', '20', '--lr=0.5', '--json', 'file.ckpt', '--backend', 'cpu'], specs)).toEqual({
      flags: { steps: 20, lr: 0.5, json: true, backend: 'cpu' },
      positional: ['file.ckpt'],
    });
    expect(parseArgs(['--resume', 'runs/a'], specs).flags.resume).toBe('runs/a');
  });

  it.each([
    [['--stepz', '3'], /unknown flag --stepz/],
    [['--steps'], /--steps needs a value/],
    [['--steps', '2.5'], /--steps must be an integer; got "2.5"/],
    [['--steps', '-1'], /--steps must be at least 0; got -1/],
    [['--lr', 'fast'], /--lr must be a number; got "fast"/],
    [['--backend', 'tpu'], /--backend must be one of cpu, wasm; got "tpu"/],
    [['--json=maybe'], /--json is a switch/],
  ])('%j is a UsageError', (argv, message) => {
    expect(() => parseArgs(argv, specs)).toThrowError(UsageError);
    expect(() => parseArgs(argv, specs)).toThrowError(message);
  });

  it('usage lists every flag with its help', () => {
    const text = usage('train', 'Train.', specs);
    for (const name of Object.keys(specs)) expect(text).toContain(`--${name}`);
  });
});

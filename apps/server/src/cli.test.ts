import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main, topLevelHelp } from './cli.js';
import { COMMANDS } from './commands.js';
import { readmeBlock, updateReadme } from './readme.js';

/** Runs `main(argv)` in this process and returns its exit code and what it printed. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void out.push(args.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
  const code = await main(argv);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('main', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the top-level help lists every command of the table', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command.name} +${command.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(stdout).toBe(topLevelHelp());
  });

  it('no command prints the help and exits 2', async () => {
    expect((await run()).code).toBe(2);
  });

  it.each(COMMANDS.map((c) => c.name))('%s --help exits 0 and prints its usage', async (name) => {
    const { code, stdout } = await run(name, '--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: swarmgrad ${name}`));
  });

  it.each([
    [['frobnicate'], 'UNKNOWN_COMMAND', /^swarmgrad: UNKNOWN_COMMAND: unknown command "frobnicate"/],
    [['toString'], 'UNKNOWN_COMMAND', /unknown command "toString"/],
    [['eval'], 'MISSING_ARGUMENT', /^swarmgrad eval: MISSING_ARGUMENT: --checkpoint FILE is required/],
    [['inspect'], 'MISSING_ARGUMENT', /^swarmgrad inspect: MISSING_ARGUMENT: FILE is required/],
    [['worker', '--coordinator', 'http://x'], 'BAD_VALUE', /must be a ws:\/\/ or wss:\/\/ URL; got "http:\/\/x"/],
    [['train', '--workers', '-2'], 'MISSING_VALUE', /--workers needs a value/],
    [['serve', '--workers', '2'], 'UNKNOWN_FLAG', /unknown flag --workers/],
    [['eval', '--checkpoint', '/nonexistent/final.ckpt'], 'BAD_INPUT', /no checkpoint at \/nonexistent\/final\.ckpt/],
  ])('%j: exit 2 with code %s', async (argv, code, message) => {
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${code}: `);
    expect(result.stderr).toMatch(message);
  });
});

describe('README.md', () => {
  it('its flag tables are the ones the command table renders (npm run readme -w @swarmgrad/server)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(readmeBlock());
    expect(updateReadme(readme)).toBe(readme);
  });
});

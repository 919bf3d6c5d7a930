import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NODE_HEAP_FLAG, WORKER_EXEC_ARGV } from './local-workers.js';

const BIN = fileURLToPath(new URL('../bin/swarmgrad.js', import.meta.url));

describe('the Node flags of swarmgrad processes', () => {
  it('the bin starts Node with NODE_HEAP_FLAG, and runs as a program', () => {
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_HEAP_FLAG}`);
    // Executed directly (as npm's bin link and `npm start` do), not through `node`.
    const help = spawnSync(BIN, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: swarmgrad/m);
  });

  it.runIf(process.platform === 'linux')('a coordinator started through the bin runs with the flag', { timeout: 30_000 }, async () => {
    const out = mkdtempSync(join(os.tmpdir(), 'swarmgrad-flags-'));
    const child = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const look = (chunk: Buffer): void => {
          seen += chunk.toString();
          if (seen.includes('listening on')) resolve();
        };
        child.stdout!.on('data', look);
        child.stderr!.on('data', look);
        child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${seen}`)));
      });
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(argv).toContain(NODE_HEAP_FLAG);
    } finally {
      child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('local workers get the heap flag and single-threaded GC on top of this process’s flags', () => {
    expect(WORKER_EXEC_ARGV).toContain(NODE_HEAP_FLAG);
    expect(WORKER_EXEC_ARGV).toContain('--single-threaded-gc');
    expect(WORKER_EXEC_ARGV.slice(0, process.execArgv.length)).toEqual(process.execArgv);
  });
});

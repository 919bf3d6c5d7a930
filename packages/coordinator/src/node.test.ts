import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, tinyRun } from './testing/harness.js';
import {
  checkpointFileName,
  checkpointWriter,
  encodeCheckpoint,
  latestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpointAtomic,
  CoordinatorErrorCode,
  paramsSha256,
} from './node.js';

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'swarmgrad-ckpt-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function someCheckpoint() {
  const harness = new Harness(1);
  harness.create({ run: tinyRun({ totalSteps: 2 }) });
  harness.addWorker({});
  harness.coordinator.start();
  await harness.run();
  return harness.coordinator.checkpoint();
}

describe('node checkpoint files', () => {
  it('writes atomically (no temporary file left) and reads back', async () => {
    const checkpoint = await someCheckpoint();
    const path = join(directory, 'run.swgckpt');
    await writeCheckpointAtomic(path, encodeCheckpoint(checkpoint));
    await writeCheckpointAtomic(path, encodeCheckpoint(checkpoint)); // replaces
    expect(await readdir(directory)).toEqual(['run.swgckpt']);
    const read = await readCheckpoint(path);
    expect(paramsSha256(read.params)).toBe(paramsSha256(checkpoint.params));
    expect(read.step).toBe(2);
  });

  it('removes the temporary file when the write fails', async () => {
    await expect(writeCheckpointAtomic(join(directory, 'missing-dir', 'x.swgckpt'), new Uint8Array(4))).rejects.toThrow();
    expect(await readdir(directory)).toEqual([]);
  });

  it('names the file in a corrupt-checkpoint error', async () => {
    const checkpoint = await someCheckpoint();
    const path = join(directory, 'bad.swgckpt');
    const bytes = encodeCheckpoint(checkpoint);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(path, bytes);
    await expect(readCheckpoint(path)).rejects.toMatchObject({ code: CoordinatorErrorCode.CHECKPOINT_CORRUPT, message: expect.stringContaining(path) });
  });

  it('checkpointWriter keeps the newest checkpoints; latestCheckpoint skips corrupt ones', async () => {
    const checkpoint = await someCheckpoint();
    const write = checkpointWriter({ directory: join(directory, 'ckpts'), keep: 2 });
    for (const step of [1, 2, 10]) await write({ ...checkpoint, step, optimizer: { ...checkpoint.optimizer, stepCount: step } });
    const files = await listCheckpoints(join(directory, 'ckpts'), 'test-run');
    expect(files.map((f) => f.step)).toEqual([2, 10]);
    expect(files[1]!.path.endsWith(checkpointFileName('test-run', 10))).toBe(true);
    expect(checkpointFileName('a/b c', 7)).toBe('a_b_c-step-000000007.swgckpt');
    expect((await latestCheckpoint(join(directory, 'ckpts'), 'test-run'))?.step).toBe(10);
    const newest = files[1]!.path;
    const bytes = await readFile(newest);
    bytes[100]! ^= 0xff;
    await writeFile(newest, bytes);
    expect((await latestCheckpoint(join(directory, 'ckpts'), 'test-run'))?.step).toBe(2);
    const skipped: string[] = [];
    expect((await latestCheckpoint(join(directory, 'ckpts'), undefined, (path, error) => skipped.push(`${path} ${error.code}`)))?.step).toBe(2);
    expect(skipped).toEqual([`${newest} CHECKPOINT_CORRUPT`]);
    expect(await latestCheckpoint(join(directory, 'nowhere'), 'test-run')).toBeUndefined();
  });
});

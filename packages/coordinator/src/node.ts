/**
 * `@swarmgrad/coordinator/node` — everything of the main entry plus Node file helpers:
 * atomic checkpoint writes, checkpoint reads, and a ready-made `onCheckpoint` that keeps
 * the last few checkpoints of a run in a directory.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';

export * from './index.js';

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same directory is written
 * and fsynced, renamed over `path`, then the directory is fsynced. A crash leaves either
 * the old file or the new one, never a torn one. The temporary file is removed on failure.
 */
export async function writeCheckpointAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const file = await open(temporary, 'wx', 0o644);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    renamed = true;
    await syncDirectory(directory);
  } finally {
    if (!renamed) await rm(temporary, { force: true });
  }
}

async function syncDirectory(directory: string): Promise<void> {
  let handle;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms (Windows) and file systems cannot fsync a directory; the rename stands.
    const code = (error as { code?: string }).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Reads and decodes a checkpoint file.
 * @throws CoordinatorError `CHECKPOINT_FORMAT` / `CHECKPOINT_CORRUPT` (see `decodeCheckpoint`); Node's `ENOENT` etc. for file errors.
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const bytes = await readFile(path);
  try {
    return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    if (error instanceof CoordinatorError) throw new CoordinatorError(error.code, `${path}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Options of `checkpointWriter`. */
export interface CheckpointWriterOptions {
  /** Directory to write into (created if missing). */
  directory: string;
  /** Checkpoints to keep per run, newest first (default 3; older ones are deleted after a successful write). */
  keep?: number;
}

const CHECKPOINT_NAME = /^(.+)-step-(\d{9,})\.swgckpt$/;

/** File name of a run's checkpoint at `step`: `<runId>-step-<step, 9+ digits>.swgckpt` (runId with unsafe characters replaced by `_`). */
export function checkpointFileName(runId: string, step: number): string {
  return `${safeRunId(runId)}-step-${String(step).padStart(9, '0')}.swgckpt`;
}

function safeRunId(runId: string): string {
  return runId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * An `onCheckpoint` for `new Coordinator({ onCheckpoint })`: encodes each checkpoint,
 * writes it atomically as `checkpointFileName(runId, step)` in `directory`, and keeps the
 * newest `keep` of that run.
 */
export function checkpointWriter(options: CheckpointWriterOptions): (checkpoint: Checkpoint) => Promise<void> {
  const keep = options.keep ?? 3;
  if (!Number.isSafeInteger(keep) || keep < 1) throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, `keep must be an integer ≥ 1; got ${String(keep)}`);
  return async (checkpoint) => {
    await mkdir(options.directory, { recursive: true });
    const name = checkpointFileName(checkpoint.run.runId, checkpoint.step);
    await writeCheckpointAtomic(join(options.directory, name), encodeCheckpoint(checkpoint));
    const mine = (await listCheckpoints(options.directory, checkpoint.run.runId)).reverse();
    for (const old of mine.slice(keep)) await rm(old.path, { force: true });
  };
}

/** Checkpoint files of `runId` (or of every run) in `directory`, oldest step first. A missing directory has none. */
export async function listCheckpoints(directory: string, runId?: string): Promise<{ path: string; runId: string; step: number }[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const out: { path: string; runId: string; step: number }[] = [];
  for (const name of names) {
    const match = CHECKPOINT_NAME.exec(name);
    if (!match) continue;
    if (runId !== undefined && match[1] !== safeRunId(runId)) continue;
    out.push({ path: join(directory, name), runId: match[1]!, step: Number(match[2]) });
  }
  return out.sort((a, b) => a.step - b.step || a.path.localeCompare(b.path));
}

/**
 * The newest readable checkpoint of `runId` (of any run when omitted) in `directory`, or
 * undefined. Corrupt ones are skipped, each reported to `onSkip` when given.
 */
export async function latestCheckpoint(
  directory: string,
  runId?: string,
  onSkip?: (path: string, error: CoordinatorError) => void,
): Promise<Checkpoint | undefined> {
  const files = await listCheckpoints(directory, runId);
  for (const file of files.reverse()) {
    try {
      return await readCheckpoint(file.path);
    } catch (error) {
      if (!(error instanceof CoordinatorError)) throw error;
      onSkip?.(file.path, error);
    }
  }
  return undefined;
}
export { BAN_FILE_NAME, persistentBanList } from './ban-file.js';

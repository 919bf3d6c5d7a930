import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunConfig } from '@swarmgrad/coordinator';
import { latestCheckpoint, listCheckpoints, paramsSha256 } from '@swarmgrad/coordinator/node';
import type { PastRun as WirePastRun } from '@swarmgrad/protocol';

/** A past run (`GET /api/runs/:id`), with the model library's config types. */
type PastRun = WirePastRun<RunConfig>;

/**
 * Runs in the sub-folders of `root` (each a `--out` folder): each one's `run.json` summary,
 * or what its newest checkpoint says (the listing rows of `GET /api/runs`, without config).
 */
export async function listRuns(root: string): Promise<PastRun[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const runs: PastRun[] = [];
  for (const name of names.sort()) {
    const run = await describeRun(root, name).catch(() => undefined);
    if (run) runs.push(run);
  }
  return runs;
}

async function describeRun(root: string, name: string): Promise<PastRun | undefined> {
  const dir = join(root, name);
  try {
    const summary = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as { runId: string; status: string; steps: number; testAccuracy: number | null };
    return { runId: summary.runId, status: summary.status, step: summary.steps, out: name, testAccuracy: summary.testAccuracy, live: false };
  } catch {
    const files = await listCheckpoints(dir);
    const last = files[files.length - 1];
    if (!last) return undefined;
    return { runId: last.runId, status: 'interrupted', step: last.step, out: name, testAccuracy: null, live: false };
  }
}

/** `GET /api/runs/:id` for a past run: its config, step, history and parameter hash, from its newest checkpoint. */
export async function readRun(root: string, runId: string): Promise<PastRun | undefined> {
  const run = (await listRuns(root)).find((r) => r.runId === runId);
  if (!run) return undefined;
  const checkpoint = await latestCheckpoint(join(root, run.out));
  if (!checkpoint) return { ...run };
  return { ...run, config: checkpoint.run, step: checkpoint.step, history: checkpoint.history, paramsSha256: paramsSha256(checkpoint.params) };
}

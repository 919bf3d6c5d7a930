/**
 * The ban list on disk (Node): `bans.json` in the run folder, written atomically after every
 * change, read back when a coordinator restarts, so a banned peer stays refused.
 */
import { readFile } from 'node:fs/promises';
import { BanList } from './ban-list.js';
import { writeCheckpointAtomic } from './node.js';

/** File name of the ban list in a run folder. */
export const BAN_FILE_NAME = 'bans.json';

/**
 * Loads the ban list at `path` (an empty one if the file does not exist) and returns it wired
 * to write itself back to `path` (temporary file, fsync, rename) after every change. Writes
 * are serialised; `flush()` waits for the last one.
 * @throws TypeError if the file exists but is not a ban list.
 */
export async function persistentBanList(path: string): Promise<{ bans: BanList; flush(): Promise<void> }> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  let chain: Promise<void> = Promise.resolve();
  const save = (list: BanList): void => {
    const bytes = new TextEncoder().encode(`${JSON.stringify(list.toJSON(), null, 1)}\n`);
    chain = chain.then(() => writeCheckpointAtomic(path, bytes)).catch(() => undefined);
  };
  const bans = text === undefined ? new BanList(save) : BanList.fromJSON(JSON.parse(text), save);
  return { bans, flush: () => chain };
}

/**
 * Bans of untrusted workers, by worker id and by remote address, each with a reason and an
 * expiry. Plain data (`toJSON` / `BanList.fromJSON`) so an adapter can persist it in the run
 * folder and a restarted coordinator keeps refusing the same peers.
 */

/** One ban. `key` is `worker:<id>` or `address:<ip>`. */
export interface BanEntry {
  key: string;
  kind: 'worker' | 'address';
  /** The worker id or address banned. */
  value: string;
  /** Why (e.g. `gradient differs bitwise from the trusted recomputation (step 3, block 4+4)`). */
  reason: string;
  /** Clock ms when banned. */
  since: number;
  /** Clock ms when the ban ends (Infinity: never); expired entries are dropped on the next read. */
  until: number;
}

/** The persisted form: `{ version: 1, bans: BanEntry[] }` (Infinity written as null). */
export interface BanListJson {
  version: 1;
  bans: Array<Omit<BanEntry, 'until'> & { until: number | null }>;
}

/** Default ban duration: 24 hours. */
export const DEFAULT_BAN_MS = 24 * 60 * 60 * 1000;
/** Most bans kept; the oldest are dropped first (a bound an attacker cannot grow past). */
export const MAX_BANS = 10_000;

/**
 * True for loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x). Address bans skip them: every
 * peer behind a local reverse proxy, and every local test process, shares them, so banning one
 * would refuse innocent peers. Worker-id bans still apply.
 */
export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

/** Bans with expiry; list and lift them by key. */
export class BanList {
  private readonly entries = new Map<string, BanEntry>();
  private readonly onChange: ((list: BanList) => void) | undefined;

  /** @param onChange called after every ban, lift or expiry (persist here). */
  constructor(onChange?: (list: BanList) => void) {
    this.onChange = onChange;
  }

  /** Restores a list written by `toJSON`; malformed entries are skipped. @throws TypeError for another version. */
  static fromJSON(json: unknown, onChange?: (list: BanList) => void): BanList {
    const list = new BanList(onChange);
    const data = json as Partial<BanListJson> | null;
    if (!data || data.version !== 1 || !Array.isArray(data.bans)) throw new TypeError('not a swarmgrad ban list (expected { version: 1, bans: [...] })');
    for (const raw of data.bans) {
      if (!raw || (raw.kind !== 'worker' && raw.kind !== 'address') || typeof raw.value !== 'string' || typeof raw.reason !== 'string' || typeof raw.since !== 'number') continue;
      const until = raw.until === null ? Infinity : typeof raw.until === 'number' ? raw.until : NaN;
      if (Number.isNaN(until)) continue;
      const key = `${raw.kind}:${raw.value}`;
      list.entries.set(key, { key, kind: raw.kind, value: raw.value, reason: raw.reason, since: raw.since, until });
    }
    return list;
  }

  /**
   * Bans `workerId` and, unless it is a loopback address, `address`, for `durationMs`
   * (Infinity: for good). Returns the entries added.
   */
  ban(target: { workerId?: string | null; address?: string | null }, reason: string, now: number, durationMs = DEFAULT_BAN_MS): BanEntry[] {
    const added: BanEntry[] = [];
    const add = (kind: 'worker' | 'address', value: string) => {
      const key = `${kind}:${value}`;
      const entry: BanEntry = { key, kind, value, reason, since: now, until: now + durationMs };
      this.entries.delete(key);
      this.entries.set(key, entry);
      added.push(entry);
    };
    if (target.workerId) add('worker', target.workerId);
    if (target.address && !isLoopbackAddress(target.address)) add('address', target.address);
    while (this.entries.size > MAX_BANS) this.entries.delete(this.entries.keys().next().value!);
    if (added.length) this.onChange?.(this);
    return added;
  }

  /** The ban that refuses this peer now, if any (worker id first, then address). */
  find(target: { workerId?: string | null; address?: string | null }, now: number): BanEntry | undefined {
    this.expire(now);
    if (target.workerId) {
      const entry = this.entries.get(`worker:${target.workerId}`);
      if (entry) return entry;
    }
    if (target.address && !isLoopbackAddress(target.address)) return this.entries.get(`address:${target.address}`);
    return undefined;
  }

  /** Bans in force, oldest first. */
  list(now: number): BanEntry[] {
    this.expire(now);
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  /** Lifts the ban with `key` (`worker:<id>`, `address:<ip>`, or a bare worker id / address). Returns whether one was lifted. */
  lift(key: string): boolean {
    const candidates = key.includes(':') && /^(worker|address):/.test(key) ? [key] : [`worker:${key}`, `address:${key}`];
    let lifted = false;
    for (const k of candidates) lifted = this.entries.delete(k) || lifted;
    if (lifted) this.onChange?.(this);
    return lifted;
  }

  /** Number of bans held (expired ones included until the next read). */
  get size(): number {
    return this.entries.size;
  }

  /** The persisted form. */
  toJSON(): BanListJson {
    return { version: 1, bans: [...this.entries.values()].map((e) => ({ ...e, until: Number.isFinite(e.until) ? e.until : null })) };
  }

  private expire(now: number): void {
    let changed = false;
    for (const [key, entry] of this.entries) {
      if (entry.until <= now) {
        this.entries.delete(key);
        changed = true;
      }
    }
    if (changed) this.onChange?.(this);
  }
}

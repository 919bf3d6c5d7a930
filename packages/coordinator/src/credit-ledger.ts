/**
 * Verified credit (BOINC): a volunteer earns credit only for results a trusted worker
 * recomputed and found equal. Unverified work earns nothing; a detected cheater's credit is
 * revoked. Trusted lab workers are not on the board.
 */

import type { CreditEntry } from '@swarmgrad/protocol';

export type { CreditEntry } from '@swarmgrad/protocol';

/** Most volunteers kept; when full, the one with the least credit is dropped (a bound Sybils cannot grow past). */
export const MAX_CREDIT_ENTRIES = 10_000;

/** The credit of every volunteer seen, and a leaderboard. */
export class CreditLedger {
  private readonly entries = new Map<string, CreditEntry>();

  /** Credits a verified result of `samples` samples to `workerId` (no-op once revoked). */
  credit(workerId: string, name: string | null, samples: number): void {
    const entry = this.entry(workerId, name);
    if (entry.revoked) return;
    entry.verifiedResults++;
    entry.verifiedSamples += samples;
  }

  /** Revokes everything `workerId` earned (it was caught cheating). */
  revoke(workerId: string): void {
    const entry = this.entry(workerId, null);
    entry.revoked = true;
    entry.verifiedResults = 0;
    entry.verifiedSamples = 0;
  }

  /** `workerId`'s credit (zeros if unknown). */
  get(workerId: string): CreditEntry {
    const entry = this.entries.get(workerId);
    return entry ? { ...entry } : { workerId, name: null, verifiedResults: 0, verifiedSamples: 0, revoked: false };
  }

  /** The top `limit` volunteers by verified samples (then results, then id), revoked ones excluded. */
  leaderboard(limit = 20): CreditEntry[] {
    return [...this.entries.values()]
      .filter((e) => !e.revoked && e.verifiedResults > 0)
      .sort((a, b) => b.verifiedSamples - a.verifiedSamples || b.verifiedResults - a.verifiedResults || (a.workerId < b.workerId ? -1 : 1))
      .slice(0, limit)
      .map((e) => ({ ...e }));
  }

  /** Total verified samples over all volunteers. */
  totalVerifiedSamples(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.verifiedSamples;
    return total;
  }

  private entry(workerId: string, name: string | null): CreditEntry {
    let entry = this.entries.get(workerId);
    if (!entry) {
      if (this.entries.size >= MAX_CREDIT_ENTRIES) this.evictPoorest();
      entry = { workerId, name, verifiedResults: 0, verifiedSamples: 0, revoked: false };
      this.entries.set(workerId, entry);
    }
    if (name !== null) entry.name = name;
    return entry;
  }

  private evictPoorest(): void {
    let poorest: CreditEntry | undefined;
    for (const e of this.entries.values()) if (!poorest || e.verifiedSamples < poorest.verifiedSamples) poorest = e;
    if (poorest) this.entries.delete(poorest.workerId);
  }
}

/**
 * The Verification card: how untrusted volunteers are checked (mode, share cap, floor), each
 * worker's verification state, bans with their reasons, rollbacks (replayed steps), the
 * verification overhead per step, and the verified-credit leaderboard. Fed by the snapshot's
 * `verification` field and `verification` events.
 */
import { card, h, replace, setText } from '../dom.js';
import { formatInt, formatPercent } from '../format.js';
import type { VerificationReport } from '../types.js';

export class VerificationCard {
  readonly element: HTMLElement;
  private readonly summary = h('p', { class: 'muted small', 'data-testid': 'verification-summary' });
  private readonly workersBody = h('tbody');
  private readonly bansBody = h('tbody');
  private readonly creditBody = h('tbody');
  private readonly rollbacksBody = h('tbody');

  /** @param lift asks the coordinator to lift a ban (the admin action `liftBan`); shown as a button per ban. */
  constructor(private readonly lift?: (key: string) => void) {
    const table = (head: string[], body: HTMLElement, testid: string) =>
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': testid }, h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))), body));
    this.element = card('Verification', [
      this.summary,
      h('div', { class: 'grid-2' }, h('div', {}, h('h3', { class: 'subhead' }, 'Volunteers'), table(['Worker', 'Level', 'Verified', 'Pending', 'Rejected', 'Unchecked', 'Check rate'], this.workersBody, 'verification-workers')), h('div', {}, h('h3', { class: 'subhead' }, 'Verified credit'), table(['#', 'Volunteer', 'Verified samples', 'Verified results'], this.creditBody, 'credit-leaderboard'))),
      h('h3', { class: 'subhead' }, 'Bans'),
      table(['Banned', 'Reason', 'Since', 'Until', ''], this.bansBody, 'bans'),
      h('h3', { class: 'subhead' }, 'Rollbacks'),
      table(['From step', 'To step', 'Steps replayed', 'Cheater', 'Complete'], this.rollbacksBody, 'rollbacks'),
    ]);
    this.render(null);
  }

  /** Draws `report` (null: the coordinator sent none). */
  render(report: VerificationReport | null): void {
    if (!report) {
      setText(this.summary, 'No verification report from this coordinator.');
      return;
    }
    const t = report.totals;
    const last = report.overhead[report.overhead.length - 1];
    setText(
      this.summary,
      `Volunteers: ${report.mode}` +
        (report.mode === 'verify'
          ? ` · share cap ${formatPercent(report.untrustedShare)} · probation ${report.probationResults} results · check-rate floor ${formatPercent(report.rateFloor)} · final audit ${report.auditSteps} steps · ${formatInt(t.verified)} results verified, ${formatInt(t.mismatches)} caught · ${formatInt(t.replayedSteps)} steps replayed · overhead ${formatPercent(t.overheadFraction)} overall${last ? `, ${formatPercent(last.fraction)} at step ${last.step}` : ''}`
          : ''),
    );
    replace(this.workersBody, ...report.workers.filter((w) => w.level !== 'trusted').map((w) => h('tr', { 'data-level': w.level }, h('td', {}, w.workerId), h('td', {}, w.level), h('td', {}, formatInt(w.verified)), h('td', {}, formatInt(w.pending)), h('td', {}, formatInt(w.rejected)), h('td', {}, formatInt(w.unchecked)), h('td', {}, formatPercent(w.rate)))));
    replace(this.creditBody, ...report.credit.map((c, i) => h('tr', {}, h('td', {}, String(i + 1)), h('td', {}, `${c.name ?? c.workerId} (${c.workerId})`), h('td', {}, formatInt(c.verifiedSamples)), h('td', {}, formatInt(c.verifiedResults)))));
    const time = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? 'never' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
    replace(this.bansBody, ...report.bans.map((b) => h('tr', {}, h('td', {}, b.key), h('td', {}, b.reason), h('td', {}, time(b.since)), h('td', {}, time(b.until)), h('td', {}, this.lift ? h('button', { class: 'button', 'data-testid': 'lift-ban', onclick: () => this.lift?.(b.key) }, 'Lift') : null))));
    replace(this.rollbacksBody, ...report.rollbacks.map((r) => h('tr', {}, h('td', {}, String(r.fromStep)), h('td', {}, String(r.toStep)), h('td', {}, String(r.fromStep - r.toStep)), h('td', {}, r.workerId), h('td', {}, r.complete ? 'yes' : 'no: older than the replay ring'))));
  }
}

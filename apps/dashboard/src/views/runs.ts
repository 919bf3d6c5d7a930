/** Every run the server knows: the live one and the past runs in its output folder. */
import { ApiError, listRuns } from '../api.js';
import { h, replace, setText } from '../dom.js';
import { formatInt, formatPercent } from '../format.js';
import type { Change } from '../store.js';
import type { RunListing } from '../types.js';
import type { AppContext, View } from './view.js';

export class RunsView implements View {
  readonly element: HTMLElement;
  private readonly body = h('tbody');
  private readonly status = h('p', { class: 'insight-status', role: 'status' });
  private runs: RunListing[] = [];

  constructor(
    private readonly app: AppContext,
    /** Whether the server can answer (false once it closed). */
    private readonly reachable: () => boolean,
  ) {
    this.element = h(
      'div',
      { class: 'view runs', 'data-testid': 'view-runs' },
      h(
        'section',
        { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', {}, 'Runs'), h('div', { class: 'card-actions' }, h('button', { class: 'button', onclick: () => void this.load() }, 'Refresh'))),
        h('p', { class: 'intro' }, 'The live run and the runs in the same output folder, read from their checkpoints. Open one to see its curves, settings and what its network learned.'),
        this.status,
        h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'runs' }, h('thead', {}, h('tr', {}, ...['Run', 'Status', 'Steps', 'Test accuracy', 'Folder'].map((t) => h('th', {}, t)))), this.body)),
      ),
    );
  }

  show(): void {
    void this.load();
  }

  update(changes: ReadonlySet<Change | 'admin' | 'connection'>): void {
    if (changes.has('status')) this.render();
  }

  private async load(): Promise<void> {
    if (!this.reachable()) {
      setText(this.status, 'The server has closed: the list is as it was last seen.');
      this.render();
      return;
    }
    setText(this.status, 'Loading…');
    try {
      this.runs = (await listRuns()).runs;
      setText(this.status, '');
    } catch (error) {
      setText(this.status, `Could not list the runs: ${error instanceof ApiError ? error.message : String(error)}`);
    }
    this.render();
  }

  private render(): void {
    if (!this.runs.length) {
      replace(this.body, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No runs listed yet.')));
      return;
    }
    const shown = this.app.run.runId;
    replace(
      this.body,
      ...this.runs.map((run) =>
        h(
          'tr',
          { class: `clickable ${run.runId === shown ? 'current' : ''}`, 'data-run-id': run.runId, tabindex: 0, onclick: () => this.app.navigate('training', run.runId), onkeydown: (event: KeyboardEvent) => event.key === 'Enter' && this.app.navigate('training', run.runId) },
          h('td', {}, h('a', { href: `#training/${encodeURIComponent(run.runId)}` }, run.runId), run.live ? h('span', { class: 'badge live' }, 'live') : null),
          h('td', {}, h('span', { class: `status-pill status-${run.status}` }, run.status)),
          h('td', { class: 'num' }, formatInt(run.step)),
          h('td', { class: 'num' }, run.testAccuracy === undefined || run.testAccuracy === null ? '—' : formatPercent(run.testAccuracy, 2)),
          h('td', { class: 'muted small mono' }, run.out ?? ''),
        ),
      ),
    );
  }
}

/**
 * The run at a glance: progress and key numbers, the admin controls, loss / accuracy /
 * throughput / step-time charts, the workers, recent steps, the model, the settings and an
 * event log. Everything updates from the live event stream.
 */
import { LineChart, StackedBars } from '../charts.js';
import { card, h, replace, setText } from '../dom.js';
import { formatAgo, formatClock, formatDuration, formatInt, formatNumber, formatPercent, formatRate, formatShape } from '../format.js';
import type { Change } from '../store.js';
import type { AppContext, View } from './view.js';
import { VerificationCard } from './verification-card.js';

const COLOURS = {
  train: 'var(--c-train)',
  test: 'var(--c-test)',
  accuracy: 'var(--c-acc)',
  speed: 'var(--c-speed)',
  compute: 'var(--c-compute)',
  transfer: 'var(--c-transfer)',
  wait: 'var(--c-wait)',
};

export class TrainingView implements View {
  readonly element: HTMLElement;
  private readonly kpi: Record<'step' | 'loss' | 'accuracy' | 'throughput' | 'lr' | 'workers', { value: HTMLElement; sub: HTMLElement }>;
  private readonly progressBar: HTMLElement;
  private readonly lossChart = new LineChart({ empty: 'waiting for the first step' });
  private readonly accuracyChart = new LineChart({ yFormat: (v) => `${Math.round(v * 1000) / 10}%`, empty: 'no evaluation yet' });
  private readonly speedChart = new LineChart({ yMin: 0, empty: 'waiting for the first step' });
  private readonly timeChart = new StackedBars({ yFormat: (v) => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))} s` : `${Math.round(v)} ms`), empty: 'waiting for the first step' });
  private readonly workersBody = h('tbody');
  private readonly workersNote = h('p', { class: 'muted small' });
  private readonly verificationCard = new VerificationCard((key) => this.app.admin('liftBan', key));
  private readonly stepsBody = h('tbody');
  private readonly modelBody = h('tbody');
  private readonly modelFoot = h('tfoot');
  private readonly settings = h('dl', { class: 'settings' });
  private readonly totals = h('dl', { class: 'settings' });
  private readonly log = h('ol', { class: 'log', 'data-testid': 'event-log' });
  private readonly controls: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly lrInput: HTMLInputElement;
  private readonly lrButton: HTMLButtonElement;
  private readonly controlNote = h('p', { class: 'control-note muted small', 'data-testid': 'control-note' });
  private stopArmed: ReturnType<typeof setTimeout> | undefined;
  private clock: ReturnType<typeof setInterval> | undefined;
  private logCount = -1;

  constructor(private readonly app: AppContext) {
    const kpi = (name: string, label: string) => {
      const value = h('div', { class: 'kpi-value', 'data-testid': name }, '—');
      const sub = h('div', { class: 'kpi-sub' });
      return { value, sub, element: h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, label), value, sub) };
    };
    const step = kpi('step', 'Step');
    this.progressBar = h('div', { class: 'progress-fill' });
    step.element.append(h('div', { class: 'progress' }, this.progressBar));
    const loss = kpi('loss', 'Train loss');
    const accuracy = kpi('accuracy', 'Test accuracy');
    const throughput = kpi('throughput', 'Throughput');
    const lr = kpi('lr', 'Learning rate');
    const workers = kpi('workers-count', 'Workers');
    this.kpi = { step, loss, accuracy, throughput, lr, workers };

    this.pauseButton = h('button', { class: 'button', 'data-testid': 'pause', onclick: () => this.togglePause() }, 'Pause');
    this.stopButton = h('button', { class: 'button danger', 'data-testid': 'stop', onclick: () => this.stop() }, 'Stop');
    this.lrInput = h('input', { type: 'number', step: 'any', min: '0', inputmode: 'decimal', class: 'input lr-input', 'aria-label': 'new learning rate', 'data-testid': 'lr-input', placeholder: 'e.g. 0.0005' });
    this.lrButton = h('button', { class: 'button', 'data-testid': 'lr-set', onclick: () => this.setLr() }, 'Set rate');
    this.lrInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.setLr();
    });
    this.controls = h(
      'div',
      { class: 'controls', 'data-testid': 'controls' },
      h('div', { class: 'control-group' }, this.pauseButton, this.stopButton),
      h('div', { class: 'control-group' }, h('label', { class: 'muted small' }, 'Learning rate'), this.lrInput, this.lrButton),
      this.controlNote,
    );

    const table = (head: string[], body: HTMLElement, testid: string, foot?: HTMLElement) =>
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': testid }, h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))), body, foot));

    this.element = h(
      'div',
      { class: 'view training' },
      h('div', { class: 'kpis' }, step.element, loss.element, accuracy.element, throughput.element, lr.element, workers.element),
      card('Control', this.controls, { class: 'control-card' }),
      h(
        'div',
        { class: 'grid-2' },
        card('Loss', this.withId(this.lossChart.element, 'chart-loss')),
        card('Test accuracy', this.withId(this.accuracyChart.element, 'chart-accuracy')),
        card('Throughput (samples/s)', this.withId(this.speedChart.element, 'chart-throughput')),
        card('Step time', this.withId(this.timeChart.element, 'chart-step-time')),
      ),
      card('Workers', [table(['Worker', 'Kind', 'Backend', 'Throughput', 'Tasks', 'Shards', 'Rejected', 'Trust', 'Last seen'], this.workersBody, 'workers'), this.workersNote]),
      this.verificationCard.element,
      card('Recent steps', table(['Step', 'Epoch', 'Loss', 'LR', 'Samples/s', 'Step time', 'Compute', 'Transfer', 'Wait', 'Workers', 'Backends', 'Re-issued'], this.stepsBody, 'recent-steps')),
      h(
        'div',
        { class: 'grid-2' },
        card('Model', table(['#', 'Layer', 'Output', 'Parameters'], this.modelBody, 'model-summary', this.modelFoot)),
        card('Settings', [this.settings, h('h3', { class: 'subhead' }, 'Totals'), this.totals]),
      ),
      card('Events', this.log),
    );
  }

  show(): void {
    this.update(new Set(['status', 'steps', 'evals', 'workers', 'config', 'log', 'admin', 'connection', 'verification']));
    clearInterval(this.clock);
    // Only "last seen" and ETAs age between events: re-render them locally, nothing is fetched.
    this.clock = setInterval(() => this.renderWorkers(), 1000);
  }

  hide(): void {
    clearInterval(this.clock);
  }

  update(changes: ReadonlySet<Change | 'admin' | 'connection'>): void {
    if (changes.has('status') || changes.has('steps') || changes.has('evals') || changes.has('workers')) this.renderKpis();
    if (changes.has('steps')) {
      this.renderLossAndSpeed();
      this.renderRecentSteps();
    }
    if (changes.has('evals')) {
      this.renderAccuracy();
      this.renderLossAndSpeed();
    }
    if (changes.has('workers') || changes.has('status')) this.renderWorkers();
    if (changes.has('verification')) this.verificationCard.render(this.app.run.verification);
    if (changes.has('config')) this.renderConfig();
    if (changes.has('config') || changes.has('workers') || changes.has('steps')) this.renderTotals();
    if (changes.has('log')) this.renderLog();
    if (changes.has('status') || changes.has('admin') || changes.has('connection')) this.renderControls();
  }

  private withId(element: HTMLElement, id: string): HTMLElement {
    element.dataset.testid = id;
    return element;
  }

  private renderKpis(): void {
    const run = this.app.run;
    const last = run.lastStep;
    const total = run.totalSteps || run.config?.totalSteps || 0;
    setText(this.kpi.step.value, total ? `${formatInt(run.step)} / ${formatInt(total)}` : formatInt(run.step));
    this.progressBar.style.width = `${total ? Math.min(100, (run.step / total) * 100) : 0}%`;
    const recent = run.history.slice(-20);
    const meanMs = recent.length ? recent.reduce((s, r) => s + r.stepMs, 0) / recent.length : NaN;
    const eta = !run.finished && run.live && total > run.step && Number.isFinite(meanMs) ? ` · ETA ${formatDuration((total - run.step) * meanMs)}` : '';
    setText(this.kpi.step.sub, `epoch ${run.epoch + 1}${eta}`);
    setText(this.kpi.loss.value, formatNumber(last?.loss ?? null));
    const smooth = ema(run.history.map((r) => r.loss), 0.9);
    setText(this.kpi.loss.sub, last ? `smoothed ${formatNumber(smooth[smooth.length - 1] ?? null)} · step ${last.step + 1}` : 'no step yet');
    const ev = run.lastEval;
    setText(this.kpi.accuracy.value, formatPercent(ev?.accuracy ?? null, 2));
    setText(this.kpi.accuracy.sub, ev ? `at step ${ev.step} · loss ${formatNumber(ev.loss)} · ${formatInt(ev.samples)} images` : 'no evaluation yet');
    setText(this.kpi.throughput.value, last ? `${formatInt(last.samplesPerSecond)}/s` : '—');
    setText(this.kpi.throughput.sub, last ? `step ${formatDuration(last.stepMs)} · batch ${formatInt(run.config?.batchSize)}` : '');
    setText(this.kpi.lr.value, formatRate(run.live ? run.lr : last?.lr ?? null));
    setText(this.kpi.lr.sub, run.config ? `${run.config.optimizer.type}${run.config.optimizer.schedule ? `, ${run.config.optimizer.schedule.type}` : ''} from ${formatRate(run.config.optimizer.lr)}` : '');
    const connected = [...run.workers.values()].filter((w) => w.connected);
    setText(this.kpi.workers.value, run.live ? String(connected.length) : String(last?.workers ?? '—'));
    const backends = [...new Set(connected.map((w) => w.backend))].sort().join(', ');
    setText(this.kpi.workers.sub, run.live ? backends || 'none connected' : `at the last step${last?.backends.length ? ` · ${last.backends.join(', ')}` : ''}`);
  }

  private renderLossAndSpeed(): void {
    const run = this.app.run;
    const xs = run.history.map((r) => r.step + 1);
    const loss = run.history.map((r) => r.loss);
    const evalXs = run.evals.map((e) => e.step);
    this.lossChart.setSeries([
      { label: 'train loss (raw)', color: COLOURS.train, xs, ys: loss, faint: true, quiet: true },
      { label: 'train loss', color: COLOURS.train, xs, ys: ema(loss, xs.length > 50 ? 0.9 : 0.6) },
      { label: 'test loss', color: COLOURS.test, xs: evalXs, ys: run.evals.map((e) => e.loss), style: 'line+dots' },
    ]);
    const speed = run.history.map((r) => r.samplesPerSecond);
    this.speedChart.setSeries([
      { label: 'samples/s (raw)', color: COLOURS.speed, xs, ys: speed, faint: true, quiet: true },
      { label: 'samples/s', color: COLOURS.speed, xs, ys: ema(speed, 0.8), format: (v) => `${Math.round(v)}/s` },
    ]);
    this.timeChart.setData(xs, [
      { label: 'compute', color: COLOURS.compute, values: run.history.map((r) => r.computeMs) },
      { label: 'transfer', color: COLOURS.transfer, values: run.history.map((r) => r.transferMs) },
      { label: 'wait', color: COLOURS.wait, values: run.history.map((r) => r.waitMs) },
    ]);
  }

  private renderAccuracy(): void {
    const run = this.app.run;
    this.accuracyChart.setSeries([{ label: 'test accuracy', color: COLOURS.accuracy, xs: run.evals.map((e) => e.step), ys: run.evals.map((e) => e.accuracy), style: 'line+dots' }]);
  }

  private renderWorkers(): void {
    const run = this.app.run;
    const workers = [...run.workers.values()].sort((a, b) => Number(b.connected) - Number(a.connected) || a.joinedAt - b.joinedAt);
    if (!run.live) {
      replace(this.workersBody, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'Past runs keep no worker records; each step lists its backends below.')));
      setText(this.workersNote, '');
      return;
    }
    if (!workers.length) {
      replace(this.workersBody, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No worker has joined yet. Start one with swarmgrad worker --coordinator ws://HOST:PORT/ws, or open the volunteer page.')));
      return;
    }
    const now = run.now();
    const rows = workers.map((w) => {
      const ago = w.connected ? formatAgo(now - w.lastSeen) : `left${w.leftReason ? ` (${w.leftReason})` : ''}`;
      return h(
        'tr',
        { class: w.connected ? '' : 'gone', 'data-worker-id': w.id },
        h('td', {}, h('strong', {}, w.name ?? w.id), h('div', { class: 'muted small' }, w.id, w.cores ? ` · ${w.cores} cores` : '')),
        h('td', {}, h('span', { class: `badge env-${w.environment}` }, w.environment === 'browser' ? 'browser' : 'Node')),
        h('td', {}, h('span', { class: `badge backend-${w.backend}` }, w.backend), w.adapter ? h('div', { class: 'muted small adapter', title: w.adapter }, w.adapter) : null),
        h('td', { class: 'num', 'data-col': 'throughput' }, `${formatInt(w.samplesPerSecond)}/s`, w.measured ? '' : h('span', { class: 'muted small', title: 'not measured yet: the hello\'s hint or a default' }, ' est.')),
        h('td', { class: 'num', 'data-col': 'tasks' }, formatInt(w.tasksDone)),
        h('td', { class: 'num' }, formatInt(w.shardsDone)),
        h('td', { class: `num ${w.rejected ? 'bad' : ''}`, 'data-col': 'rejected' }, formatInt(w.rejected)),
        h('td', {}, h('span', { class: `badge ${w.trusted ? 'trusted' : 'volunteer'}` }, w.trusted ? 'trusted' : 'volunteer')),
        h('td', { class: 'small', title: w.lastError ?? '' }, ago, w.lastError ? h('div', { class: 'bad small' }, w.lastError) : null),
      );
    });
    replace(this.workersBody, ...rows);
    const connected = workers.filter((w) => w.connected).length;
    setText(this.workersNote, `${connected} connected, ${workers.length - connected} gone. Counters refresh with the run's snapshots (every few seconds while steps complete).`);
  }

  private renderRecentSteps(): void {
    const rows = this.app.run.history.slice(-10).reverse().map((r) =>
      h(
        'tr',
        { 'data-step': r.step + 1 },
        h('td', { class: 'num' }, formatInt(r.step + 1)),
        h('td', { class: 'num' }, String(r.epoch + 1)),
        h('td', { class: 'num' }, formatNumber(r.loss)),
        h('td', { class: 'num', 'data-col': 'lr' }, formatRate(r.lr)),
        h('td', { class: 'num' }, formatInt(r.samplesPerSecond)),
        h('td', { class: 'num' }, formatDuration(r.stepMs)),
        h('td', { class: 'num' }, formatDuration(r.computeMs)),
        h('td', { class: 'num' }, formatDuration(r.transferMs)),
        h('td', { class: 'num' }, formatDuration(r.waitMs)),
        h('td', { class: 'num' }, String(r.workers)),
        h('td', {}, r.backends.join(', ')),
        h('td', { class: `num ${r.shardsReissued ? 'warn' : ''}` }, String(r.shardsReissued)),
      ),
    );
    replace(this.stepsBody, ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 12, class: 'muted' }, 'No step yet.'))]));
  }

  private renderConfig(): void {
    const run = this.app.run;
    const model = run.model;
    if (model) {
      replace(
        this.modelBody,
        h('tr', { class: 'muted' }, h('td', {}, ''), h('td', {}, 'input'), h('td', { class: 'num' }, formatShape(model.inputShape)), h('td', {}, '')),
        ...model.layers.map((l) => h('tr', {}, h('td', { class: 'num muted' }, String(l.index)), h('td', {}, l.description), h('td', { class: 'num' }, formatShape(l.outputShape)), h('td', { class: 'num' }, l.paramCount ? formatInt(l.paramCount) : '—'))),
      );
      replace(this.modelFoot, h('tr', {}, h('td', {}, ''), h('td', {}, `${model.name} · ${model.loss}`), h('td', {}, ''), h('td', { class: 'num' }, h('strong', {}, formatInt(model.parameterCount)))));
    }
    const c = run.config;
    if (!c) return;
    const o = c.optimizer as unknown as Record<string, unknown>;
    const extra = Object.entries(o).filter(([k]) => !['type', 'lr', 'schedule'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ');
    const schedule = c.optimizer.schedule ? Object.entries(c.optimizer.schedule).map(([k, v]) => (k === 'type' ? String(v) : `${k} ${v}`)).join(', ') : 'constant';
    const B = c.batchSize, m = c.microShardSize;
    const rows: [string, string][] = [
      ['Run', c.runId],
      ['Dataset', `${c.dataset.name}${run.data ? ` · ${formatInt(run.data.train.length)} train / ${run.data.test ? formatInt(run.data.test.length) : '—'} test` : ''}`],
      ['Batch', `${formatInt(B)} = ${formatInt(B / m)} micro-shards × ${formatInt(m)}`],
      ['Optimizer', `${c.optimizer.type}, lr ${formatRate(c.optimizer.lr)}${extra ? `, ${extra}` : ''}`],
      ['Schedule', schedule],
      ['Steps', formatInt(c.totalSteps)],
      ['Evaluation', `${c.evalEvery ? `every ${formatInt(c.evalEvery)} steps` : 'at the end'} on ${c.evalSamples ? formatInt(c.evalSamples) : 'all'} test images`],
      ['Checkpoints', c.checkpointEvery ? `every ${formatInt(c.checkpointEvery)} steps` : 'at the end'],
      ['Gradient codec', c.codec ?? 'f32'],
      ['Seed', String(c.seed)],
    ];
    if (run.out) rows.push(['Folder', run.out]);
    if (run.paramsSha256) rows.push(['Parameters SHA-256', run.paramsSha256]);
    replace(this.settings, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  private renderTotals(): void {
    const run = this.app.run;
    const t = run.totals;
    const started = run.startedAt;
    const last = run.lastStep;
    const rows: [string, string][] = t
      ? [
          ['Samples trained', formatInt(t.samplesTrained)],
          ['Results accepted', formatInt(t.resultsAccepted)],
          ['Results rejected', formatInt(t.resultsRejected)],
          ['Shards re-issued', formatInt(t.shardsReissued)],
          ['Checkpoints', formatInt(t.checkpoints)],
          ['Running for', started !== null && last ? formatDuration((run.finished ? last.time : run.now()) - started) : '—'],
        ]
      : [
          ['Steps recorded', formatInt(run.history.length)],
          ['Evaluations', formatInt(run.evals.length)],
          ['Samples trained', run.config ? formatInt(run.step * run.config.batchSize) : '—'],
        ];
    replace(this.totals, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  private renderLog(): void {
    const entries = this.app.run.log;
    if (entries.length === this.logCount) return;
    this.logCount = entries.length;
    const items = entries.slice(-60).reverse().map((e) => h('li', { class: `tone-${e.tone}` }, h('time', {}, formatClock(e.time)), h('span', { class: 'log-kind' }, e.kind), h('span', {}, e.text)));
    replace(this.log, ...(items.length ? items : [h('li', { class: 'muted' }, 'Nothing happened yet.')]));
  }

  private renderControls(): void {
    const run = this.app.run;
    const status = run.status;
    const can = this.app.canAdmin && this.app.reachable && run.live && !run.finished;
    const paused = status === 'paused';
    setText(this.pauseButton, paused ? 'Resume' : 'Pause');
    this.pauseButton.dataset.testid = paused ? 'resume' : 'pause';
    this.pauseButton.disabled = !can || status === 'waiting';
    this.stopButton.disabled = !can;
    this.lrInput.disabled = !can;
    this.lrButton.disabled = !can;
    if (!this.lrInput.value && run.lr !== null) this.lrInput.placeholder = `now ${formatRate(run.lr)}`;
    let note: string;
    if (!run.live) note = 'A past run: nothing to control.';
    else if (run.finished) note = `The run is ${status}.`;
    else if (!this.app.reachable) note = 'The server cannot be reached.';
    else if (!this.app.canAdmin) note = 'Read-only. To pause, resume, stop or change the learning rate, unlock with the admin token (the file admin-token in the run\'s output folder).';
    else note = 'Admin actions apply between steps: the step in flight completes first.';
    setText(this.controlNote, note);
    this.controls.classList.toggle('locked', !can);
  }

  private togglePause(): void {
    const paused = this.app.run.status === 'paused';
    if (this.app.admin(paused ? 'resume' : 'pause')) this.app.toast(paused ? 'Resuming…' : 'Pausing after the step in flight…');
  }

  private stop(): void {
    if (this.stopArmed === undefined) {
      setText(this.stopButton, 'Really stop?');
      this.stopButton.classList.add('armed');
      this.stopArmed = setTimeout(() => this.disarm(), 4000);
      return;
    }
    this.disarm();
    if (this.app.admin('stop')) this.app.toast('Stopping the run (a last checkpoint is written)…', 'warn');
  }

  private disarm(): void {
    clearTimeout(this.stopArmed);
    this.stopArmed = undefined;
    setText(this.stopButton, 'Stop');
    this.stopButton.classList.remove('armed');
  }

  private setLr(): void {
    const value = Number(this.lrInput.value);
    if (!this.lrInput.value || !Number.isFinite(value) || value <= 0) {
      this.app.toast('The learning rate must be a number above 0.', 'bad');
      return;
    }
    if (this.app.admin('setLearningRate', value)) {
      this.app.toast(`Learning rate ${formatRate(value)} from the next step…`);
      this.lrInput.value = '';
    }
  }
}

/** Exponential moving average with bias correction (as TensorBoard's smoothing). */
export function ema(values: readonly number[], weight: number): number[] {
  const out: number[] = [];
  let last = 0;
  let norm = 0;
  for (const v of values) {
    last = last * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    out.push(last / norm);
  }
  return out;
}

/**
 * What the network learned, after Zeiler & Fergus (2014): the first layer's filters, the
 * feature maps of one test image, the test patches that excite a filter most, the confusion
 * matrix and the misclassified images. The server computes them on demand from one pinned
 * copy of the parameters (see `InsightsSession`); these views draw the numbers.
 */
import { ApiError } from '../api.js';
import { h, replace, setText } from '../dom.js';
import { formatInt, formatNumber, formatPercent, formatShape } from '../format.js';
import { colourBar, drawImage, drawTile, scaleFor } from '../images.js';
import type { Change } from '../store.js';
import type { ActivationsInsight, ConfusionInsight, FiltersInsight, InsightIndex, MisclassifiedInsight, PatchesInsight } from '../types.js';
import type { AppContext, View } from './view.js';

/** The frame every insights view shares: title, which step the numbers come from, Refresh. */
abstract class InsightView implements View {
  readonly element: HTMLElement;
  protected readonly body = h('div', { class: 'insight-body' });
  protected readonly toolbar = h('div', { class: 'insight-tools' });
  private readonly stepNote = h('span', { class: 'pin-note', 'data-testid': 'pinned-step' });
  private readonly refreshButton: HTMLButtonElement;
  private readonly status = h('div', { class: 'insight-status', role: 'status' });
  protected loadedStep: number | null = null;
  private generation = 0;

  constructor(
    protected readonly app: AppContext,
    name: string,
    title: string,
    intro: string,
  ) {
    this.refreshButton = h('button', { class: 'button primary', 'data-testid': 'refresh', onclick: () => void this.load(true) }, 'Refresh');
    this.element = h(
      'div',
      { class: `view insight ${name}`, 'data-testid': `view-${name}` },
      h(
        'section',
        { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', {}, title), h('div', { class: 'card-actions' }, this.stepNote, this.refreshButton)),
        h('p', { class: 'intro' }, intro),
        this.toolbar,
        this.status,
        this.body,
      ),
    );
    app.insights.onPin(() => this.updateNote());
  }

  show(): void {
    this.updateNote();
    if (this.loadedStep === null || this.loadedStep !== this.app.insights.pinnedStep) void this.load(false);
  }

  update(changes: ReadonlySet<Change | 'admin' | 'connection'>): void {
    if (changes.has('steps') || changes.has('status') || changes.has('connection')) this.updateNote();
  }

  /** Fetches and draws; `refresh` takes the run's latest parameters first. */
  protected async load(refresh: boolean): Promise<void> {
    if (!this.app.reachable) {
      this.setStatus(
        this.loadedStep === null
          ? 'The server has closed, and insights are computed by a server. Any swarmgrad server started in the same output folder lists this run under Runs and computes them from its final checkpoint.'
          : 'The server has closed: showing what was computed last.',
        'warn',
      );
      this.updateNote();
      return;
    }
    const generation = ++this.generation;
    this.setStatus('Computing…', 'busy');
    this.refreshButton.disabled = true;
    try {
      const step = await this.fetchAndDraw(refresh, () => generation === this.generation);
      if (generation !== this.generation) return;
      this.loadedStep = step;
      this.setStatus('', 'idle');
    } catch (error) {
      if (generation !== this.generation) return;
      const message = error instanceof ApiError ? `${error.message}${error.code !== 'HTTP' ? ` (${error.code})` : ''}` : String(error);
      this.setStatus(`Could not compute this view: ${message}`, 'bad');
    } finally {
      if (generation === this.generation) this.refreshButton.disabled = !this.app.reachable;
      this.updateNote();
    }
  }

  /** Fetches the view's data and draws it; returns the step of the parameters used. `current()` is false once a newer load started. */
  protected abstract fetchAndDraw(refresh: boolean, current: () => boolean): Promise<number>;

  protected setStatus(text: string, tone: 'idle' | 'busy' | 'warn' | 'bad'): void {
    setText(this.status, text);
    this.status.className = `insight-status ${tone}`;
    this.element.dataset.state = tone;
  }

  private updateNote(): void {
    const run = this.app.run;
    const pinned = this.app.insights.pinnedStep;
    let text: string;
    if (pinned === null) text = run.live ? `the run is at step ${formatInt(run.step)}` : `checkpoint at step ${formatInt(run.step)}`;
    else if (!run.live) text = `parameters of the checkpoint at step ${formatInt(pinned)}`;
    else text = pinned === run.step ? `parameters of step ${formatInt(pinned)} (the latest)` : `parameters of step ${formatInt(pinned)} · the run is at ${formatInt(run.step)}`;
    setText(this.stepNote, text);
    this.refreshButton.disabled = !this.app.reachable || this.app.insights.busy;
    this.refreshButton.hidden = !run.live;
  }
}

// ---------------------------------------------------------------------------------------------

export class FiltersView extends InsightView {
  constructor(app: AppContext) {
    super(app, 'filters', 'First-layer filters', 'Each tile is one filter of the first convolution layer, drawn as an image: blue weights are negative, red positive, white near zero. Trained filters become edge, stroke and blob detectors. Click a filter to see the test patches that excite it most.');
  }

  protected async fetchAndDraw(refresh: boolean, current: () => boolean): Promise<number> {
    const data = await this.app.insights.get<FiltersInsight>('filters', {}, refresh);
    if (!current()) return data.step;
    const [kh, kw, cin, cout] = data.shape;
    const bound = Math.max(Math.abs(data.min), Math.abs(data.max)) || 1;
    const scale = scaleFor(Math.max(kh, kw), 96);
    const tiles = data.filters.map((values, f) => {
      let tile: HTMLCanvasElement;
      if (cin === 3) {
        let lo = Infinity, hi = -Infinity;
        for (const v of values) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        tile = drawTile(values, kh, kw, 3, 'rgb', { mode: 'image', min: lo, max: hi, scale, label: `filter ${f}` });
      } else {
        // One input channel (or many: their mean).
        const plane = new Float32Array(kh * kw);
        for (let p = 0; p < kh * kw; p++) {
          let sum = 0;
          for (let c = 0; c < cin; c++) sum += values[p * cin + c]!;
          plane[p] = sum / cin;
        }
        tile = drawTile(plane, kh, kw, 1, 0, { mode: 'diverging', min: -bound, max: bound, scale, label: `filter ${f}` });
      }
      const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
      return h(
        'button',
        { class: 'figure clickable', 'data-filter': f, title: `Top patches of filter ${f}`, onclick: () => this.app.navigate('patches', undefined, { layer: data.layer.index, filter: f }) },
        tile,
        h('span', { class: 'figure-title' }, `#${f}`),
        h('span', { class: 'figure-sub' }, `‖w‖ ${formatNumber(norm, 3)}${data.bias ? ` · b ${formatNumber(data.bias[f] ?? 0, 2)}` : ''}`),
      );
    });
    replace(
      this.body,
      h(
        'p',
        { class: 'muted small' },
        `Layer ${data.layer.index} · ${data.layer.description} · ${formatInt(cout)} filters of ${kh}×${kw}×${cin}${cin === 3 ? ' (RGB, each scaled to its own range)' : cin > 1 ? ' (mean over input channels)' : ''}${data.filters.length < cout ? ` · first ${data.filters.length} shown` : ''} `,
        cin === 3 ? null : colourBar('diverging', formatNumber(-bound, 2), formatNumber(bound, 2)),
      ),
      h('div', { class: 'figure-grid filters-grid', 'data-testid': 'filters' }, ...tiles),
    );
    return data.step;
  }
}

// ---------------------------------------------------------------------------------------------

export class ActivationsView extends InsightView {
  private image = 0;
  private testLength = 10_000;
  private perMap = false;
  private readonly input: HTMLInputElement;
  private readonly count = h('span', { class: 'muted small' });

  constructor(app: AppContext) {
    super(app, 'activations', 'Activations of a test image', 'The feature maps every convolution and pooling layer computes for one test image (bright = strong activation). Early layers respond to strokes and edges at each position; deeper ones to larger parts. Click a map to see the test patches that excite that filter most.');
    this.input = h('input', { type: 'number', min: '0', step: '1', class: 'input image-input', value: '0', 'aria-label': 'test image index', 'data-testid': 'image-input' });
    this.input.addEventListener('change', () => this.pick(Number(this.input.value)));
    const scaleToggle = h('input', { type: 'checkbox', 'aria-label': 'scale each map to its own range' });
    scaleToggle.addEventListener('change', () => {
      this.perMap = scaleToggle.checked;
      void this.load(false);
    });
    this.toolbar.append(
      h('label', { class: 'muted small' }, 'Test image'),
      h('button', { class: 'button', 'aria-label': 'previous image', 'data-testid': 'image-prev', onclick: () => this.pick(this.image - 1) }, '←'),
      this.input,
      h('button', { class: 'button', 'aria-label': 'next image', 'data-testid': 'image-next', onclick: () => this.pick(this.image + 1) }, '→'),
      h('button', { class: 'button', onclick: () => this.pick(Math.floor(Math.random() * this.testLength)) }, 'Random'),
      this.count,
      h('label', { class: 'toggle small' }, scaleToggle, 'scale each map on its own'),
    );
  }

  override show(params?: Record<string, number>): void {
    if (params?.image !== undefined && params.image !== this.image) {
      this.image = params.image;
      this.input.value = String(this.image);
      this.loadedStep = null;
    }
    super.show();
  }

  private pick(index: number): void {
    if (!Number.isInteger(index)) return;
    this.image = Math.max(0, Math.min(this.testLength - 1, index));
    this.input.value = String(this.image);
    void this.load(false);
  }

  protected async fetchAndDraw(refresh: boolean, current: () => boolean): Promise<number> {
    const data = await this.app.insights.get<ActivationsInsight>('activations', { image: this.image }, refresh);
    if (!current()) return data.step;
    this.testLength = data.test.length;
    this.input.max = String(data.test.length - 1);
    setText(this.count, `of ${formatInt(data.test.length)} (${data.test.name})`);
    const { image } = data;
    const names = data.test.classNames;
    const probabilities = image.probabilities ?? [];
    const best = image.predicted;
    const right = best === image.label;
    const bars = probabilities.map((p, k) =>
      h(
        'div',
        { class: `prob ${k === image.label ? 'truth' : ''} ${k === best ? 'best' : ''}` },
        h('span', { class: 'prob-label' }, names[k] ?? String(k)),
        h('span', { class: 'prob-bar' }, h('i', { style: `width:${(p * 100).toFixed(1)}%` })),
        h('span', { class: 'prob-value' }, formatPercent(p, 1)),
      ),
    );
    const subject = h(
      'div',
      { class: 'subject' },
      h('div', { class: 'subject-image' }, drawImage(image.data, image.shape, scaleFor(Math.max(image.shape[0], image.shape[1]), 168), `test image ${image.index}`)),
      h(
        'div',
        { class: 'subject-facts' },
        h('div', { class: 'big' }, `#${image.index}`),
        h('div', {}, 'label ', h('strong', {}, names[image.label] ?? String(image.label))),
        best !== null ? h('div', { 'data-testid': 'prediction' }, 'predicted ', h('strong', { class: right ? 'good' : 'bad' }, names[best] ?? String(best)), ` (${formatPercent(probabilities[best] ?? 0, 1)})`) : null,
        h('div', { class: 'probs' }, ...bars),
      ),
    );
    const layers = data.layers.map((layer) => {
      const [hgt, wid, shown] = layer.shape;
      const scale = scaleFor(Math.max(hgt, wid), 84);
      const layerMin = Math.min(...layer.min);
      const layerMax = Math.max(...layer.max);
      const tiles = Array.from({ length: shown }, (_, k) => {
        const lo = this.perMap ? layer.min[k]! : Math.min(0, layerMin);
        const hi = this.perMap ? layer.max[k]! : layerMax;
        return h(
          'button',
          { class: 'figure clickable', 'data-channel': k, title: `max ${formatNumber(layer.max[k]!)} · top patches of filter ${k}`, onclick: () => this.app.navigate('patches', undefined, { layer: layer.index, filter: k }) },
          drawTile(layer.data, hgt, wid, shown, k, { mode: 'heat', min: lo, max: hi > lo ? hi : lo + 1, scale, label: `layer ${layer.index} map ${k}` }),
          h('span', { class: 'figure-title' }, `#${k}`),
          h('span', { class: 'figure-sub' }, `max ${formatNumber(layer.max[k]!, 3)}`),
        );
      });
      return h(
        'section',
        { class: 'layer-block', 'data-layer': layer.index },
        h('h3', {}, `${layer.index} · ${layer.description}`, h('span', { class: 'muted small' }, ` → ${formatShape(layer.outputShape)}${shown < layer.channels ? ` (first ${shown} maps)` : ''} · receptive field ${layer.receptiveField.join('×')}`)),
        h('div', { class: 'figure-grid maps-grid' }, ...tiles),
      );
    });
    replace(
      this.body,
      subject,
      h('p', { class: 'muted small legend-line' }, colourBar('heat', this.perMap ? 'map min' : '0', this.perMap ? 'map max' : 'layer max')),
      h('div', { class: 'layers', 'data-testid': 'activation-layers' }, ...layers),
    );
    return data.step;
  }
}

// ---------------------------------------------------------------------------------------------

export class PatchesView extends InsightView {
  private layer: number | null = null;
  private filter = 0;
  private count = 16;
  private readonly layerSelect = h('select', { class: 'input', 'aria-label': 'layer', 'data-testid': 'patch-layer' });
  private readonly filterSelect = h('select', { class: 'input', 'aria-label': 'filter', 'data-testid': 'patch-filter' });
  private index: InsightIndex | null = null;

  constructor(app: AppContext) {
    super(app, 'patches', 'Top patches of a filter', 'The test images that excite one filter most, each cut to the part of the image that one unit of the layer sees (its receptive field), strongest first — what the filter has learned to look for.');
    this.layerSelect.addEventListener('change', () => {
      this.layer = Number(this.layerSelect.value);
      this.filter = 0;
      void this.load(false);
    });
    this.filterSelect.addEventListener('change', () => {
      this.filter = Number(this.filterSelect.value);
      void this.load(false);
    });
    const countSelect = h('select', { class: 'input', 'aria-label': 'patches' }, ...[9, 16, 25, 36].map((n) => h('option', { value: n, selected: n === this.count }, `${n} patches`)));
    countSelect.addEventListener('change', () => {
      this.count = Number(countSelect.value);
      void this.load(false);
    });
    this.toolbar.append(
      h('label', { class: 'muted small' }, 'Layer'),
      this.layerSelect,
      h('label', { class: 'muted small' }, 'Filter'),
      h('button', { class: 'button', 'aria-label': 'previous filter', onclick: () => this.step(-1) }, '←'),
      this.filterSelect,
      h('button', { class: 'button', 'aria-label': 'next filter', 'data-testid': 'filter-next', onclick: () => this.step(1) }, '→'),
      countSelect,
    );
  }

  override show(params?: Record<string, number>): void {
    if (params?.layer !== undefined && (params.layer !== this.layer || params.filter !== this.filter)) {
      this.layer = params.layer;
      this.filter = params.filter ?? 0;
      this.loadedStep = null;
    }
    super.show();
  }

  private step(delta: number): void {
    const options = this.filterSelect.options.length;
    if (!options) return;
    this.filter = (this.filter + delta + options) % options;
    void this.load(false);
  }

  protected async fetchAndDraw(refresh: boolean, current: () => boolean): Promise<number> {
    if (refresh || !this.index || this.index.step !== this.app.insights.pinnedStep) {
      // Refresh through the index first, so the patches and the layer list share one pin.
      this.index = refresh ? await this.app.insights.get<InsightIndex>('', {}, true) : await this.app.insights.layers();
    }
    const visual = this.index.model.layers.filter((l) => l.visual);
    if (this.layer === null || !visual.some((l) => l.index === this.layer)) this.layer = visual[0]?.index ?? 0;
    const data = await this.app.insights.get<PatchesInsight>('top-patches', { layer: this.layer, filter: this.filter, count: this.count });
    if (!current()) return data.step;
    replace(this.layerSelect, ...visual.map((l) => h('option', { value: l.index, selected: l.index === this.layer }, `${l.index} · ${l.description}`)));
    replace(this.filterSelect, ...Array.from({ length: data.channels }, (_, k) => h('option', { value: k, selected: k === data.filter }, `#${k}`)));
    const { height, width, depth } = data.receptiveField;
    const scale = scaleFor(Math.max(height, width), 84);
    const names = this.index.test.classNames;
    const tiles = data.patches.map((patch, rank) =>
      h(
        'button',
        { class: 'figure clickable', 'data-image': patch.image, title: `test image #${patch.image} (label ${names[patch.label] ?? patch.label}), unit (${patch.y}, ${patch.x}), rows ${patch.top}…${patch.top + height - 1}, columns ${patch.left}…${patch.left + width - 1}`, onclick: () => this.app.navigate('activations', undefined, { image: patch.image }) },
        drawTile(patch.data, height, width, depth, depth === 3 ? 'rgb' : 0, { mode: 'image', min: 0, max: 1, scale, label: `patch ${rank + 1}` }),
        h('span', { class: 'figure-title' }, formatNumber(patch.activation, 3)),
        h('span', { class: 'figure-sub' }, `#${patch.image} · ${names[patch.label] ?? patch.label}`),
      ),
    );
    // For the first convolution layer, the filter itself next to what excites it.
    let filterFigure: HTMLElement | null = null;
    const firstConv = this.index.model.layers.find((l) => l.type === 'conv2d' || l.type === 'conv1d');
    if (firstConv?.index === data.layer.index && firstConv.type === 'conv2d') {
      const filters = await this.app.insights.get<FiltersInsight>('filters');
      if (!current()) return data.step;
      const [kh, kw, cin] = filters.shape;
      const values = filters.filters[data.filter];
      if (values && (cin === 1 || cin === 3)) {
        const bound = Math.max(Math.abs(filters.min), Math.abs(filters.max)) || 1;
        const tile = cin === 3
          ? drawTile(values, kh, kw, 3, 'rgb', { mode: 'image', min: Math.min(...values), max: Math.max(...values), scale, label: `filter ${data.filter}` })
          : drawTile(values, kh, kw, 1, 0, { mode: 'diverging', min: -bound, max: bound, scale, label: `filter ${data.filter}` });
        filterFigure = h('div', { class: 'figure the-filter' }, tile, h('span', { class: 'figure-title' }, 'the filter'), h('span', { class: 'figure-sub' }, `#${data.filter}`));
      }
    }
    replace(
      this.body,
      h(
        'p',
        { class: 'muted small' },
        `Filter ${data.filter} of layer ${data.layer.index} (${data.layer.description}): the ${data.patches.length} strongest of the first ${formatInt(data.samples)} test images, one patch per image, each ${height}×${width} pixels (the receptive field; black where it hangs over the border). Numbers are the activations.`,
      ),
      h('div', { class: 'patches-row' }, filterFigure, h('div', { class: 'figure-grid patches-grid', 'data-testid': 'patches' }, ...tiles)),
    );
    return data.step;
  }
}

// ---------------------------------------------------------------------------------------------

export class ErrorsView extends InsightView {
  constructor(app: AppContext) {
    super(app, 'errors', 'Confusion and mistakes', 'How the test images are classified: rows are the true classes, columns the predictions (the diagonal is right), then the mistakes the network is most sure of. Click an image to see its activations.');
  }

  protected async fetchAndDraw(refresh: boolean, current: () => boolean): Promise<number> {
    const confusion = await this.app.insights.get<ConfusionInsight>('confusion', {}, refresh);
    const wrong = await this.app.insights.get<MisclassifiedInsight>('misclassified', { limit: 48 });
    if (!current()) return confusion.step;
    const names = confusion.classNames;
    const rows = confusion.matrix.map((row, t) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, names[t] ?? String(t)),
        ...row.map((n, p) => {
          const share = n / total;
          const tone = t === p ? `rgba(43,147,72,${(0.12 + share * 0.75).toFixed(3)})` : n ? `rgba(224,49,49,${(0.1 + Math.min(1, share * 3) * 0.7).toFixed(3)})` : 'transparent';
          return h('td', { class: `cell ${t === p ? 'diag' : ''} ${share > 0.45 ? 'strong' : ''}`, style: `background:${tone}`, title: `true ${names[t]}, predicted ${names[p]}: ${n} (${formatPercent(share)})` }, n ? String(n) : '');
        }),
        h('td', { class: 'num recall' }, formatPercent(row[t]! / total, 1)),
      );
    });
    const matrix = h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'confusion', 'data-testid': 'confusion' },
        h('thead', {}, h('tr', {}, h('th', { class: 'corner' }, 'true \\ predicted'), ...names.map((n) => h('th', {}, n)), h('th', {}, 'recall'))),
        h('tbody', {}, ...rows),
      ),
    );
    const tiles = wrong.images.map((image) =>
      h(
        'button',
        { class: 'figure clickable', 'data-image': image.index, title: `test image #${image.index}: label ${names[image.label]}, predicted ${names[image.predicted]} with ${formatPercent(image.confidence)}`, onclick: () => this.app.navigate('activations', undefined, { image: image.index }) },
        drawImage(image.data, wrong.shape, scaleFor(Math.max(wrong.shape[0], wrong.shape[1]), 72), `test image ${image.index}`),
        h('span', { class: 'figure-title' }, h('span', { class: 'good' }, names[image.label] ?? String(image.label)), ' → ', h('span', { class: 'bad' }, names[image.predicted] ?? String(image.predicted))),
        h('span', { class: 'figure-sub' }, `${formatPercent(image.confidence, 0)} · #${image.index}`),
      ),
    );
    replace(
      this.body,
      h(
        'div',
        { class: 'errors-summary' },
        h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, 'Accuracy'), h('div', { class: 'kpi-value', 'data-testid': 'confusion-accuracy' }, formatPercent(confusion.accuracy, 2)), h('div', { class: 'kpi-sub' }, `first ${formatInt(confusion.samples)} test images`)),
        h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, 'Loss'), h('div', { class: 'kpi-value' }, formatNumber(confusion.loss)), h('div', { class: 'kpi-sub' }, 'mean cross-entropy')),
        h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, 'Misclassified'), h('div', { class: 'kpi-value' }, formatInt(wrong.total)), h('div', { class: 'kpi-sub' }, `of ${formatInt(wrong.samples)}`)),
      ),
      h('h3', { class: 'subhead' }, 'Confusion matrix'),
      matrix,
      h('h3', { class: 'subhead' }, wrong.images.length ? `The ${wrong.images.length} most confident mistakes` : 'No mistakes among these images'),
      h('div', { class: 'figure-grid errors-grid', 'data-testid': 'misclassified' }, ...tiles),
    );
    return confusion.step;
  }
}

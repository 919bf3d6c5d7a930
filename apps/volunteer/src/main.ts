/**
 * The volunteer page: two buttons and a status board. The work runs in a dedicated Web
 * Worker (`worker.ts`, wrapped with comlink); this thread only draws what it reports, plus
 * the run's progress from a dashboard subscription and this tab's share from the
 * coordinator's accounting.
 *
 * URL parameters: `coordinator` (WebSocket URL; default `/ws` of this page's host),
 * `backend` (`auto` | `webgpu` | `wasm-step` | `wasm` | `cpu`), `name` (label on dashboards),
 * `autostart=1` (start contributing at once), `slowdownMs` (testing: delay every task).
 */
import './style.css';
import * as Comlink from 'comlink';
import type { BackendPreference, WorkerLogEntry } from '@swarmgrad/worker';
import type { BackendSummary, StartOptions, VolunteerEvent, VolunteerWorkerApi } from './api.js';
import { BACKEND_LABELS, describe, formatRate, plural, type TabState } from './describe.js';
import { RunFeed, type RunView } from './run-feed.js';
import { ShareTracker, type Share } from './share.js';

const BACKENDS: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm-fma', 'wasm-step', 'wasm', 'cpu'];
const MAX_LOG_LINES = 100;

const params = new URLSearchParams(location.search);
const coordinatorUrl = params.get('coordinator') ?? `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
const apiBase = httpOrigin(coordinatorUrl);
const requestedBackend = params.get('backend');
const name = params.get('name') ?? tabName();
const slowdownMs = Number(params.get('slowdownMs') ?? '0');

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

const ui = {
  dot: $('dot'),
  state: $('state'),
  detail: $('detail'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  tasks: $('tasks'),
  rate: $('rate'),
  share: $('share'),
  shareDetail: $('share-detail'),
  verified: $('verified'),
  verifiedDetail: $('verified-detail'),
  loss: $('loss'),
  accuracy: $('accuracy'),
  accuracyDetail: $('accuracy-detail'),
  step: $('step'),
  stepDetail: $('step-detail'),
  runStatus: $('run-status'),
  runLine: $('run-line'),
  progress: $('progress-bar'),
  sparkLine: document.getElementById('spark-line') as unknown as SVGPolylineElement,
  backendSelect: $<HTMLSelectElement>('backend-select'),
  backendLine: $('backend-line'),
  reasons: $('reasons'),
  log: $('log'),
  coordinator: $('coordinator'),
};

// ---------------------------------------------------------------------------------------
// State

const tab: TabState = { phase: 'idle', now: Date.now() };
let backend: BackendSummary | undefined;
let run: RunView = { connected: false, step: 0, workers: 0, losses: [] };
let share: Share | undefined;
let worker: Comlink.Remote<VolunteerWorkerApi> | undefined;
const trackedWorkers = new Set<string>();

if (requestedBackend !== null && (BACKENDS as readonly string[]).includes(requestedBackend)) ui.backendSelect.value = requestedBackend;

const tracker = new ShareTracker(apiBase, (next) => {
  share = { ...next };
  schedule();
});

const feed = new RunFeed(coordinatorUrl, (view) => {
  const wasOver = isOver(run.status);
  if (run.runId !== undefined && view.runId !== undefined && view.runId !== run.runId) {
    // Another run at the same address: shares start over.
    tracker.reset();
    trackedWorkers.clear();
    share = undefined;
  }
  const lastStepDone = view.totalSteps !== undefined && view.step === view.totalSteps && run.step !== view.step;
  run = { ...view, losses: view.losses };
  // The coordinator exits soon after the last step: count it while it can still be asked.
  if (lastStepDone) void tracker.poll();
  tab.runStatus = view.status;
  if (!wasOver && isOver(view.status)) onRunOver();
  schedule();
});
feed.start();

// ---------------------------------------------------------------------------------------
// Actions

ui.start.addEventListener('click', () => void start());
ui.pause.addEventListener('click', () => {
  addLog({ level: 'info', message: 'paused: the task in hand is finished first' }, Date.now());
  void worker?.pause();
});

async function start(): Promise<void> {
  if (tab.phase === 'session') {
    addLog({ level: 'info', message: 'resumed' }, Date.now());
    await worker?.resume();
    return;
  }
  worker ??= createWorker();
  tab.error = undefined;
  tab.phase = 'choosing';
  tab.choosingDetail = 'starting';
  schedule();
  const options: StartOptions = { coordinatorUrl, backend: ui.backendSelect.value as BackendPreference, name };
  if (Number.isFinite(slowdownMs) && slowdownMs > 0) options.slowdownMs = slowdownMs;
  await worker.start(options, Comlink.proxy(onWorkerEvent));
}

function createWorker(): Comlink.Remote<VolunteerWorkerApi> {
  const raw = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'swarmgrad-volunteer' });
  raw.addEventListener('error', (event) => {
    tab.phase = 'stopped';
    tab.error = { code: 'WORKER_FAILED', message: `the background worker failed: ${event.message || 'it could not start'}` };
    schedule();
  });
  return Comlink.wrap<VolunteerWorkerApi>(raw);
}

function onWorkerEvent(event: VolunteerEvent): void {
  switch (event.type) {
    case 'choosing':
      tab.choosingDetail = event.detail;
      break;
    case 'backend':
      backend = event.backend;
      addLog({ level: 'info', message: `computing on ${BACKEND_LABELS[backend.name] ?? backend.name}${backend.adapter !== undefined ? ` (${adapterText(backend.adapter)})` : ''}` }, Date.now());
      break;
    case 'status': {
      const status = event.status;
      tab.session = status;
      if (status.connection !== 'stopped') tab.phase = 'session';
      if (status.connection === 'connected' && status.workerId !== undefined && !trackedWorkers.has(status.workerId)) {
        trackedWorkers.add(status.workerId);
        tracker.track(status.workerId, run.step);
      }
      break;
    }
    case 'log':
      addLog(event.entry, event.at);
      break;
    case 'error':
      tab.error = { code: event.code, message: event.message };
      addLog({ level: 'error', code: event.code, message: event.message }, Date.now());
      break;
    case 'stopped':
      tab.phase = 'stopped';
      tracker.pause();
      break;
  }
  schedule();
}

/** The run finished or was stopped: leave cleanly instead of knocking on a closed door. */
function onRunOver(): void {
  addLog({ level: 'info', message: `the run has ${run.status ?? 'ended'} at step ${run.step}` }, Date.now());
  void tracker.poll().finally(() => tracker.pause());
  if (tab.phase === 'session' || tab.phase === 'choosing') void worker?.stop();
}

function isOver(status: string | undefined): boolean {
  return status === 'finished' || status === 'stopped';
}

// ---------------------------------------------------------------------------------------
// Drawing (at most once per frame)

let frame = 0;
function schedule(): void {
  if (frame !== 0) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}
// The reconnect countdown and the rates tick even without events.
setInterval(schedule, 1000);

function render(): void {
  tab.now = Date.now();
  const description = describe(tab);
  ui.state.textContent = description.title;
  ui.state.dataset['status'] = description.status;
  ui.detail.textContent = description.detail;
  ui.dot.dataset['tone'] = description.tone;
  document.title = description.status === 'computing' ? 'Computing — swarmgrad' : 'swarmgrad — lend this tab';

  const s = tab.session;
  const live = tab.phase === 'session' && s !== undefined && s.connection !== 'stopped' && s.connection !== 'stopping';
  const paused = live && s.state === 'paused';
  const runOver = isOver(run.status);
  ui.start.disabled = tab.phase === 'choosing' || (live && !paused) || (runOver && !live);
  ui.start.textContent = paused
    ? 'Resume'
    : live
      ? 'Contributing'
      : tab.phase === 'choosing'
        ? 'Starting…'
        : runOver
          ? 'Run over'
          : tab.phase === 'stopped'
            ? 'Start again'
            : 'Start contributing';
  ui.pause.disabled = !live || paused;
  ui.backendSelect.disabled = tab.phase === 'choosing' || live;

  ui.tasks.textContent = (s?.tasksDone ?? 0).toLocaleString('en-US');
  ui.rate.textContent = live || s !== undefined ? formatRate(s?.samplesPerSecond) : '—';
  const verified = share?.verified;
  ui.verified.textContent = verified !== undefined ? verified.samples.toLocaleString('en-US') : '—';
  ui.verifiedDetail.textContent =
    verified === undefined ? '' : verified.refusal !== null ? `refused: ${verified.refusal}` : `${plural(verified.results, 'result')} verified${verified.level !== null ? ` · ${verified.level}` : ''}`;
  ui.verified.dataset['samples'] = String(verified?.samples ?? 0);
  if (share !== undefined && share.total > 0) {
    ui.share.textContent = `${((100 * share.mine) / share.total).toFixed(share.mine === share.total || share.mine === 0 ? 0 : 1)}%`;
    ui.shareDetail.textContent = `${share.mine.toLocaleString('en-US')} of ${plural(share.total, 'shard')}`;
  } else {
    ui.share.textContent = '—';
    ui.shareDetail.textContent = share !== undefined ? 'counting…' : '';
  }

  ui.loss.textContent = run.loss !== undefined ? run.loss.toFixed(3) : '—';
  ui.accuracy.textContent = run.accuracy !== undefined ? `${(run.accuracy * 100).toFixed(1)}%` : '—';
  ui.accuracyDetail.textContent = run.evalStep !== undefined ? `test set, step ${run.evalStep}` : 'not evaluated yet';
  ui.step.textContent = run.totalSteps !== undefined ? run.step.toLocaleString('en-US') : '—';
  ui.stepDetail.textContent = run.totalSteps !== undefined ? `of ${run.totalSteps.toLocaleString('en-US')}` : '';

  renderRun();
  renderBackend();
  ui.coordinator.textContent = `${s?.workerId !== undefined ? `worker ${s.workerId} · ` : ''}${name} · ${coordinatorUrl}`;
  ui.coordinator.dataset['workerId'] = s?.workerId ?? '';
}

function renderRun(): void {
  // A finished run stays "finished" after the coordinator has gone away.
  const status = run.connected || isOver(run.status) ? (run.status ?? 'unknown') : 'offline';
  ui.runStatus.textContent = status;
  ui.runStatus.dataset['tone'] = status === 'running' || status === 'evaluating' ? 'busy' : status === 'finished' ? 'ok' : status === 'offline' || status === 'paused' ? 'warn' : 'idle';
  if (!run.connected && run.runId === undefined) {
    ui.runLine.textContent = 'Connecting to the coordinator…';
  } else {
    const parts = [
      run.modelName !== undefined ? `${run.modelName}` : undefined,
      run.runId !== undefined ? `run ${run.runId}` : undefined,
      plural(run.workers, 'worker') + ' online',
      run.samplesPerSecond !== undefined ? `${formatRate(run.samplesPerSecond)} samples/s overall` : undefined,
    ];
    ui.runLine.textContent = parts.filter((part) => part !== undefined).join(' · ');
  }
  const fraction = run.totalSteps !== undefined && run.totalSteps > 0 ? Math.min(1, run.step / run.totalSteps) : 0;
  ui.progress.style.width = `${(fraction * 100).toFixed(1)}%`;
  ui.sparkLine.setAttribute('points', sparkPoints(run.losses));
}

function renderBackend(): void {
  if (backend === undefined) {
    ui.backendLine.textContent =
      tab.phase === 'choosing'
        ? `Choosing: ${tab.choosingDetail ?? 'starting'}…`
        : 'Chosen when you start: WebGPU if this browser has it, else WebAssembly, else plain JavaScript; “Auto” measures which is fastest here.';
    ui.reasons.replaceChildren();
    return;
  }
  const label = BACKEND_LABELS[backend.name] ?? backend.name;
  const measured = backend.samplesPerSecond !== undefined ? ` · self-test ${formatRate(backend.samplesPerSecond)} samples/s` : '';
  ui.backendLine.textContent = `${label}${backend.adapter !== undefined ? ` — ${adapterText(backend.adapter)}` : ''}${measured} · chosen in ${(backend.choiceMs / 1000).toFixed(1)} s`;
  ui.backendLine.dataset['backend'] = backend.name;
  const items = Object.entries(backend.reasons).map(([other, reason]) => {
    const item = document.createElement('li');
    const strong = document.createElement('strong');
    strong.textContent = `${BACKEND_LABELS[other] ?? other}: `;
    item.append(strong, reason ?? '');
    return item;
  });
  ui.reasons.replaceChildren(...items);
}

/** Browsers that hide adapter ids report device `0x0000`: `0x0000 (ANGLE (…)) via …` reads better as `ANGLE (…) via …`. */
function adapterText(adapter: string): string {
  return adapter.replace(/^0x0+ \((.*)\)(?= via )/, '$1');
}

function sparkPoints(losses: readonly number[]): string {
  if (losses.length < 2) return '';
  const max = Math.max(...losses);
  const min = Math.min(...losses);
  const span = max - min || 1;
  return losses.map((loss, i) => `${((i / (losses.length - 1)) * 300).toFixed(1)},${(44 - ((loss - min) / span) * 40).toFixed(1)}`).join(' ');
}

function addLog(entry: WorkerLogEntry, at: number): void {
  const item = document.createElement('li');
  item.dataset['level'] = entry.level;
  item.textContent = `${new Date(at).toLocaleTimeString()} ${entry.message}`;
  ui.log.prepend(item);
  while (ui.log.childElementCount > MAX_LOG_LINES) ui.log.lastElementChild?.remove();
}

// ---------------------------------------------------------------------------------------
// Helpers

/** `ws://host:port/ws` → `http://host:port` (the JSON API lives beside the WebSocket). */
function httpOrigin(wsUrl: string): string {
  try {
    const url = new URL(wsUrl, location.href);
    url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
    return url.origin;
  } catch {
    return location.origin;
  }
}

/** A label for dashboards, kept for the tab's life: `volunteer-3f9a (Chrome)`. */
function tabName(): string {
  let id = sessionStorage.getItem('swarmgrad-volunteer-id');
  if (id === null) {
    id = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
    sessionStorage.setItem('swarmgrad-volunteer-id', id);
  }
  const agent = navigator.userAgent;
  const browser = /Firefox\//.test(agent) ? 'Firefox' : /Edg\//.test(agent) ? 'Edge' : /Chrom(e|ium)\//.test(agent) ? 'Chrome' : /Safari\//.test(agent) ? 'Safari' : 'browser';
  return `volunteer-${id} (${browser})`;
}

render();
if (params.get('autostart') === '1') void start();

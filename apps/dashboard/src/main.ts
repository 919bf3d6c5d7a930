/**
 * The swarmgrad dashboard: monitors the server's live run over its WebSocket (and past runs
 * in its output folder over the HTTP API), shows what the network learned, and — with the
 * admin token — pauses, resumes, stops the run or changes its learning rate.
 */
import './styles.css';
import type { AdminAction } from '@swarmgrad/protocol';
import { ApiError, readPastRun } from './api.js';
import { h, replace, setText } from './dom.js';
import { formatInt, formatPercent } from './format.js';
import { InsightsSession } from './insights-session.js';
import { LiveSession, type LiveState } from './live.js';
import { RunState, type Change } from './store.js';
import type { RunEvent } from './types.js';
import { ActivationsView, ErrorsView, FiltersView, PatchesView } from './views/insights.js';
import { RunsView } from './views/runs.js';
import { TrainingView } from './views/training.js';
import type { AppContext, View, ViewName } from './views/view.js';

const VIEWS: { name: ViewName; label: string }[] = [
  { name: 'training', label: 'Training' },
  { name: 'filters', label: 'Filters' },
  { name: 'activations', label: 'Activations' },
  { name: 'patches', label: 'Top patches' },
  { name: 'errors', label: 'Errors' },
  { name: 'runs', label: 'Runs' },
];
const TOKEN_KEY = 'swarmgrad.adminToken';

type AnyChange = Change | 'admin' | 'connection';

class DashboardApp implements AppContext {
  private liveRun: RunState | null = null;
  private shown: RunState | null = null;
  private readonly sessions = new Map<string, InsightsSession>();
  private views = new Map<ViewName, View>();
  private viewName: ViewName = 'training';
  private viewParams: Record<string, number> | undefined;
  private wantedRun: string | undefined;
  connection: LiveState = 'connecting';
  private token: string | null;
  private tokenVerified = false;
  private readonly liveSession: LiveSession;
  private pending = new Set<AnyChange>();
  private frame = 0;
  private loadingPast: string | undefined;
  /** The first snapshot arrived (the live run is known). */
  private started = false;

  // page furniture
  private readonly runTitle = h('span', { class: 'run-id', 'data-testid': 'run-id' }, 'connecting…');
  private readonly statusPill = h('span', { class: 'status-pill', 'data-testid': 'status' }, '…');
  private readonly pastBadge = h('span', { class: 'badge past', hidden: true }, 'past run');
  private readonly connectionNote = h('span', { class: 'connection', 'data-testid': 'connection' });
  private readonly adminButton = h('button', { class: 'admin-button', 'data-testid': 'admin-toggle', 'aria-expanded': 'false' });
  private readonly tokenInput = h('input', { type: 'password', class: 'input', placeholder: 'admin token', autocomplete: 'off', 'aria-label': 'admin token', 'data-testid': 'token-input' });
  private readonly adminPanel: HTMLElement;
  private readonly adminState = h('p', { class: 'small', 'data-testid': 'admin-state' });
  private readonly tabs = new Map<ViewName, HTMLAnchorElement>();
  private readonly banner = h('div', { class: 'banner', hidden: true, 'data-testid': 'banner' });
  private readonly main = h('main', { class: 'views' });
  private readonly toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });

  constructor(root: HTMLElement) {
    this.token = takeTokenFromHash() ?? sessionStorage.getItem(TOKEN_KEY);
    this.adminButton.addEventListener('click', () => this.toggleAdminPanel());
    const unlock = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'token-submit' }, 'Unlock');
    const forget = h('button', { type: 'button', class: 'button', 'data-testid': 'token-forget', onclick: () => this.forgetToken() }, 'Forget token');
    const form = h('form', { class: 'row', autocomplete: 'off' }, this.tokenInput, unlock, forget);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.unlock();
    });
    this.adminPanel = h(
      'div',
      { class: 'admin-panel', hidden: true, 'data-testid': 'admin-panel' },
      h('p', { class: 'small' }, 'Admin actions (pause, resume, stop, learning rate) need the run\'s admin token: the file ', h('code', {}, 'admin-token'), ' in its output folder, or ', h('code', {}, 'SWARMGRAD_ADMIN_TOKEN'), '. It stays in this tab only. You can also open ', h('code', {}, '/dashboard/#token=…'), '.'),
      form,
      this.adminState,
    );
    const nav = h('nav', { class: 'tabs', 'aria-label': 'views' });
    for (const view of VIEWS) {
      const tab = h('a', { href: `#${view.name}`, class: 'tab', 'data-view': view.name }, view.label);
      tab.addEventListener('click', (event) => {
        event.preventDefault();
        this.navigate(view.name, this.shown && this.shown !== this.liveRun ? this.shown.runId : undefined);
      });
      this.tabs.set(view.name, tab);
      nav.append(tab);
    }
    root.replaceChildren(
      h(
        'header',
        { class: 'top' },
        h('div', { class: 'top-row' }, h('a', { class: 'brand', href: '#training', onclick: (event: MouseEvent) => { event.preventDefault(); this.navigate('training'); } }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'swarmgrad'), h('div', { class: 'run-title' }, this.runTitle, this.statusPill, this.pastBadge), h('div', { class: 'top-right' }, this.connectionNote, this.adminButton)),
        nav,
      ),
      this.adminPanel,
      this.banner,
      this.main,
      this.toasts,
    );
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.liveSession = new LiveSession(
      { url: `${scheme}://${location.host}/ws` },
      {
        onEvent: (event, seq, runId) => this.onEvent(event, seq, runId),
        onError: (code, message, fatal) => this.onServerError(code, message, fatal),
        onState: (state) => this.onConnection(state),
        onTokenChecked: (accepted) => this.onTokenChecked(accepted),
      },
    );
    window.addEventListener('hashchange', () => {
      // A token pasted into the address of an open dashboard.
      const token = takeTokenFromHash();
      if (token) this.useToken(token);
      this.route();
    });
    this.route();
    this.liveSession.connect(this.token ?? undefined);
    this.renderHeader();
  }

  // --- AppContext

  get run(): RunState {
    return this.shown ?? this.liveRun ?? new RunState('…', true);
  }

  get reachable(): boolean {
    return this.connection === 'live';
  }

  get canAdmin(): boolean {
    return this.token !== null && this.tokenVerified;
  }

  get insights(): InsightsSession {
    const run = this.run;
    let session = this.sessions.get(run.runId);
    if (!session) {
      session = new InsightsSession(run.runId, run.live);
      this.sessions.set(run.runId, session);
    }
    return session;
  }

  admin(action: AdminAction, value?: number | string): boolean {
    if (!this.canAdmin || !this.token) {
      this.toast('Unlock with the admin token first.', 'warn');
      return false;
    }
    const sent = this.liveSession.admin(this.token, action, value);
    if (!sent) this.toast('Not connected to the server.', 'bad');
    return sent;
  }

  navigate(view: ViewName, runId?: string, params?: Record<string, number>): void {
    this.viewParams = params;
    const live = this.liveRun?.runId;
    const target = runId && runId !== live ? `#${view}/${encodeURIComponent(runId)}` : `#${view}`;
    if (location.hash !== target) location.hash = target;
    else this.route();
  }

  toast(text: string, tone: 'info' | 'good' | 'warn' | 'bad' = 'info'): void {
    const item = h('div', { class: `toast tone-${tone}`, 'data-testid': 'toast' }, text);
    this.toasts.append(item);
    setTimeout(() => item.classList.add('leaving'), 4200);
    setTimeout(() => item.remove(), 4600);
  }

  // --- routing

  private route(): void {
    const [rawView, rawRun] = location.hash.replace(/^#\/?/, '').split('/');
    const view = (VIEWS.find((v) => v.name === rawView)?.name ?? 'training') as ViewName;
    const runId = rawRun ? decodeURIComponent(rawRun) : undefined;
    this.viewName = view;
    this.wantedRun = runId;
    this.selectRun();
  }

  /** Shows the wanted run (the live one unless the address names another) in the wanted view. */
  private selectRun(): void {
    const wanted = this.wantedRun;
    if (!wanted || wanted === this.liveRun?.runId) {
      if (this.liveRun) this.setShown(this.liveRun);
      else this.showPlaceholder('Connecting to the coordinator…');
      return;
    }
    if (this.shown?.runId === wanted && !this.shown.live) {
      this.setShown(this.shown);
      return;
    }
    if (this.loadingPast === wanted) return;
    if (!this.reachable && this.connection !== 'connecting') {
      this.showPlaceholder('The server has closed: past runs cannot be read.');
      return;
    }
    if (this.connection === 'connecting') {
      this.showPlaceholder('Connecting…');
      return;
    }
    this.loadingPast = wanted;
    this.showPlaceholder(`Reading run ${wanted} from its checkpoint…`);
    readPastRun(wanted).then(
      (past) => {
        this.loadingPast = undefined;
        if (this.wantedRun !== wanted) return;
        this.setShown(RunState.fromPast(past));
      },
      (error: unknown) => {
        this.loadingPast = undefined;
        if (this.wantedRun !== wanted) return;
        this.showPlaceholder(`Could not read run ${wanted}: ${error instanceof ApiError ? error.message : String(error)}`);
      },
    );
  }

  private setShown(run: RunState): void {
    if (this.shown !== run) {
      for (const view of this.views.values()) view.hide?.();
      this.shown = run;
      this.views = new Map<ViewName, View>([
        ['training', new TrainingView(this)],
        ['filters', new FiltersView(this)],
        ['activations', new ActivationsView(this)],
        ['patches', new PatchesView(this)],
        ['errors', new ErrorsView(this)],
        ['runs', new RunsView(this, () => this.reachable)],
      ]);
      replace(this.main, ...[...this.views.values()].map((v) => v.element));
    }
    for (const [name, view] of this.views) {
      const active = name === this.viewName;
      if (!active && !view.element.hidden) view.hide?.();
      view.element.hidden = !active;
    }
    for (const [name, tab] of this.tabs) {
      tab.classList.toggle('active', name === this.viewName);
      if (name === this.viewName) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
      tab.href = run.live ? `#${name}` : `#${name}/${encodeURIComponent(run.runId)}`;
    }
    this.views.get(this.viewName)?.show(this.viewParams);
    this.viewParams = undefined;
    this.renderHeader();
  }

  private showPlaceholder(text: string): void {
    for (const view of this.views.values()) view.hide?.();
    this.views.clear();
    this.shown = null;
    replace(this.main, h('div', { class: 'placeholder' }, h('div', { class: 'spinner', 'aria-hidden': 'true' }), h('p', {}, text)));
    this.renderHeader();
  }

  // --- the live stream

  private onEvent(event: RunEvent, seq: number | undefined, runId: string): void {
    if (!this.liveRun || (event.kind === 'snapshot' && this.liveRun.runId !== runId)) {
      this.liveRun = new RunState(runId, true);
    }
    const run = this.liveRun;
    const changes = run.apply(event, seq);
    if (event.kind === 'status') {
      if (event.status === 'paused') this.toast('Paused: the step in flight completes, then nothing new starts.', 'warn');
      else if (event.previous === 'paused' && event.status === 'running') this.toast('Resumed.', 'good');
      else if (event.status === 'stopped') this.toast(`The run was stopped at step ${formatInt(event.step)}.`, 'bad');
      else if (event.status === 'finished') this.toast(`The run finished: ${formatInt(event.step)} steps.`, 'good');
    }
    if (event.kind === 'lr') this.toast(`Learning rate ${event.lr} from step ${formatInt(event.step)}.`, 'good');
    if (event.kind === 'snapshot' && !this.started) {
      // The first snapshot: now the live run's id is known, show what the address asks for.
      this.started = true;
      this.selectRun();
      return;
    }
    if (this.shown === run) this.schedule(changes);
    else this.schedule(new Set(['status']));
  }

  private onServerError(code: string, message: string, fatal: boolean): void {
    if (code === 'ADMIN_REFUSED') {
      // During a token check the check reports it; otherwise an action was refused.
      if (!this.tokenVerified) return;
      this.toast(`Refused: ${message}`, 'bad');
      return;
    }
    if (code === 'BAD_STATE') {
      this.toast(message.replace(/^cannot/, 'Cannot'), 'warn');
      return;
    }
    const run = this.liveRun;
    if (run) this.schedule(run.note(`${code}: ${message}${fatal ? ' (the server closed the connection)' : ''}`, 'bad'));
  }

  private onConnection(state: LiveState): void {
    this.connection = state;
    if (state === 'closed' && this.liveRun) this.schedule(this.liveRun.note('the server closed the connection after the run ended', 'info'));
    this.schedule(new Set(['connection']));
  }

  private onTokenChecked(accepted: boolean): void {
    if (!this.token) return;
    if (accepted) {
      this.tokenVerified = true;
      sessionStorage.setItem(TOKEN_KEY, this.token);
      setText(this.adminState, 'Unlocked: admin actions are enabled.');
      this.adminState.className = 'small good';
    } else {
      this.token = null;
      this.tokenVerified = false;
      sessionStorage.removeItem(TOKEN_KEY);
      setText(this.adminState, 'The server refused this token: still read-only.');
      this.adminState.className = 'small bad';
      this.toast('The admin token was refused: the dashboard stays read-only.', 'bad');
    }
    this.schedule(new Set(['admin']));
  }

  // --- admin token

  private toggleAdminPanel(): void {
    this.adminPanel.hidden = !this.adminPanel.hidden;
    this.adminButton.setAttribute('aria-expanded', String(!this.adminPanel.hidden));
    if (!this.adminPanel.hidden) this.tokenInput.focus();
  }

  private unlock(): void {
    const token = this.tokenInput.value.trim();
    if (!token) return;
    this.tokenInput.value = '';
    this.useToken(token);
  }

  /** Holds `token` and asks the server to check it (the answer comes with the next snapshot). */
  private useToken(token: string): void {
    this.token = token;
    this.tokenVerified = false;
    setText(this.adminState, 'Checking the token…');
    this.adminState.className = 'small muted';
    if (this.liveSession.connected) this.liveSession.subscribe(token);
    this.schedule(new Set(['admin']));
  }

  private forgetToken(): void {
    this.token = null;
    this.tokenVerified = false;
    sessionStorage.removeItem(TOKEN_KEY);
    setText(this.adminState, 'Token forgotten: read-only.');
    this.adminState.className = 'small muted';
    this.schedule(new Set(['admin']));
  }

  // --- rendering

  private schedule(changes: Iterable<AnyChange>): void {
    for (const change of changes) this.pending.add(change);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const pending = this.pending;
      this.pending = new Set();
      this.views.get(this.viewName)?.update(pending);
      this.renderHeader();
    });
  }

  private renderHeader(): void {
    const run = this.shown ?? this.liveRun;
    setText(this.runTitle, run ? run.runId : 'connecting…');
    const status = run ? String(run.status) : '…';
    setText(this.statusPill, status);
    this.statusPill.className = `status-pill status-${status}`;
    this.pastBadge.hidden = !run || run.live;
    const note: Record<LiveState, string> = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting…', closed: 'server closed' };
    setText(this.connectionNote, note[this.connection]);
    this.connectionNote.className = `connection conn-${this.connection}`;
    const locked = !this.canAdmin;
    setText(this.adminButton, locked ? (this.token ? 'Checking…' : 'Read-only') : 'Admin');
    this.adminButton.className = `admin-button ${locked ? 'locked' : 'unlocked'}`;
    this.adminButton.title = locked ? 'Unlock admin actions with the admin token' : 'Admin actions enabled';
    if (this.canAdmin && !this.adminState.textContent) setText(this.adminState, 'Unlocked: admin actions are enabled.');

    // The banner: which run is shown, and whether it is still live.
    const live = this.liveRun;
    let banner: (Node | string)[] | null = null;
    if (run && !run.live) {
      banner = [
        `A past run, read from its checkpoint at step ${formatInt(run.step)}${run.lastEval ? ` (test accuracy ${formatPercent(run.lastEval.accuracy, 2)})` : ''}. `,
        live ? h('a', { href: '#training', onclick: (event: MouseEvent) => { event.preventDefault(); this.navigate(this.viewName === 'runs' ? 'training' : this.viewName); } }, `Back to the live run ${live.runId} (${live.status}, step ${formatInt(live.step)})`) : '',
      ];
    } else if (run && this.connection === 'closed') {
      banner = [`The run ${run.status === 'finished' ? 'finished' : run.status === 'stopped' ? 'was stopped' : 'ended'} at step ${formatInt(run.step)} and its server has closed. This page keeps the final state; its checkpoint is in the output folder.`];
    } else if (this.connection === 'reconnecting') {
      banner = ['Lost the connection to the server; reconnecting…'];
    }
    this.banner.hidden = banner === null;
    if (banner) replace(this.banner, ...banner);
    this.banner.className = `banner ${this.connection === 'reconnecting' ? 'warn' : ''}`;
    document.title = run ? `${status} · ${formatInt(run.step)}/${formatInt(run.totalSteps)} · ${run.runId} — swarmgrad` : 'swarmgrad dashboard';
  }
}

/** `#token=…` (also `#view&token=…`): taken out of the address so it is not shared or kept in history. */
function takeTokenFromHash(): string | null {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return null;
  const token = decodeURIComponent(match[1]!).trim();
  const rest = location.hash.replace(/(?:^#|&)token=[^&]*/, '').replace(/^&/, '').replace(/^#?/, '#');
  history.replaceState(null, '', `${location.pathname}${location.search}${rest === '#' ? '' : rest}`);
  return token || null;
}

new DashboardApp(document.getElementById('app')!);

// Issue #12 part 1: the `swarmgrad` invocations the containers make, run here as plain
// processes. The commands, arguments and environment are read from the rendered Kubernetes
// overlay, the Compose file and the Dockerfile's ENTRYPOINT; only what a machine without
// containers cannot reproduce is mapped: paths of mounts (/var/lib/swarmgrad, /etc/swarmgrad,
// /run/secrets, /opt/swarmgrad), the coordinator's host name (→ 127.0.0.1) and port (→ a free
// one), and the run's length (`--steps` appended to SWARMGRAD_RUN_FLAGS).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { waitFor } from '../support/wait.js';
import { renderKustomization, type Resource } from './kustomize.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INFRA = join(ROOT, 'infra');
/** Appended to the run flags so that the run is short; the rest is the manifests' own. */
const SHORT_RUN = '--steps 12 --checkpoint-every 4 --eval-samples 500';

interface ContainerSpec {
  command: string[];
  env: Record<string, string>;
}

/** The image's ENTRYPOINT, from the Dockerfile. */
function entrypoint(): string[] {
  const parsed = DockerfileParser.parse(readFileSync(join(INFRA, 'docker/Dockerfile'), 'utf8'));
  const instruction = parsed.getInstructions().filter((i) => i.getKeyword() === 'ENTRYPOINT').at(-1)!;
  return JSON.parse(instruction.getArgumentsContent()!) as string[];
}

/** A container's full command line: command (or the image's ENTRYPOINT) + args. */
function commandLine(command: string[] | undefined, args: string[] | undefined): string[] {
  return [...(command ?? entrypoint()), ...(args ?? [])];
}

/** Rewrites one container command for this machine (see the file comment). */
function localize(spec: ContainerSpec, map: { dirs: Record<string, string>; port: number; hosts: string[] }): { argv: string[]; env: NodeJS.ProcessEnv } {
  const rewrite = (value: string): string => {
    let out = value;
    for (const [from, to] of Object.entries(map.dirs)) out = out.split(from).join(to);
    for (const host of map.hosts) out = out.replace(`ws://${host}:7070/`, `ws://127.0.0.1:${map.port}/`);
    return out;
  };
  const argv = spec.command.map(rewrite).map((arg, i, all) => (all[i - 1] === '--port' ? String(map.port) : arg));
  if (argv[0] === 'swarmgrad-coordinator') argv.splice(0, 1, 'sh', join(INFRA, 'docker/swarmgrad-coordinator'));
  const env: NodeJS.ProcessEnv = { ...process.env, SWARMGRAD_HOME: ROOT };
  for (const [name, value] of Object.entries(spec.env)) env[name] = rewrite(value);
  if (env.SWARMGRAD_RUN_FLAGS !== undefined) env.SWARMGRAD_RUN_FLAGS = `${env.SWARMGRAD_RUN_FLAGS} ${SHORT_RUN}`;
  return { argv, env };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(argv: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(argv[0]!, argv.slice(1), { env, cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Polls `read` until it returns something other than undefined (a read that throws means "not yet"). */
function poll<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 90_000): Promise<T> {
  return waitFor(read, (value) => value !== undefined, { timeoutMs, what, intervalMs: 200, retryErrors: true }) as Promise<T>;
}

/** Metric name → value of the series without labels other than `run` (first sample). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && !out.has(m[1]!)) out.set(m[1]!, Number(m[3]));
  }
  return out;
}

function containerOf(r: Resource): ContainerSpec {
  const c = (r.spec as { template: { spec: { containers: { command?: string[]; args?: string[]; env?: { name: string; value: string }[] }[] } } }).template.spec.containers[0]!;
  return { command: commandLine(c.command, c.args), env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])) };
}

function tokens(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lab-token'), 'lab-token-of-the-test\n');
  writeFileSync(join(dir, 'admin-token'), 'admin-token-of-the-test\n');
  return dir;
}

describe('the containers\' swarmgrad invocations, as plain processes', () => {
  const k8sCopy = mkdtempSync(join(tmpdir(), 'swarmgrad-k8s-'));
  cpSync(join(INFRA, 'k8s'), k8sCopy, { recursive: true });
  tokens(join(k8sCopy, 'overlays/example'));
  const rendered = renderKustomization(join(k8sCopy, 'overlays/example'));
  const k8s = {
    coordinator: containerOf(rendered.find((r) => r.kind === 'StatefulSet')!),
    worker: containerOf(rendered.find((r) => r.kind === 'Deployment')!),
  };
  const compose = parseYaml(readFileSync(join(INFRA, 'compose.yaml'), 'utf8').replace(/\$\{([A-Z_]+):-([^}]*)\}/g, '$2')) as {
    services: Record<string, { entrypoint?: string[]; command: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] } }>;
  };
  const composeSpec = (name: string): ContainerSpec => {
    const s = compose.services[name]!;
    return { command: commandLine(s.entrypoint, s.command), env: s.environment ?? {} };
  };

  it('every flag they pass exists: each command line, with --help appended, is accepted', () => {
    const dirs = { '/opt/swarmgrad': ROOT };
    for (const [label, spec] of Object.entries({ 'k8s coordinator': k8s.coordinator, 'k8s worker': k8s.worker, 'compose coordinator': composeSpec('coordinator'), 'compose worker': composeSpec('worker') })) {
      const { argv, env } = localize({ ...spec, command: [...spec.command, '--help'] }, { dirs, port: 7070, hosts: [] });
      const out = mkdtempSync(join(tmpdir(), 'swarmgrad-help-'));
      const result = spawnSync(argv[0]!, argv.slice(1).map((a) => (a.startsWith('/var/lib/swarmgrad') ? out : a)), { env, encoding: 'utf8' });
      expect(result.status, `${label}: ${argv.join(' ')}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/^usage: swarmgrad (serve|worker)/);
    }
    // ...and a misspelt flag would have been refused.
    const { argv, env } = localize({ ...k8s.worker, command: [...k8s.worker.command, '--tokenfile', 'x', '--help'] }, { dirs, port: 7070, hosts: [] });
    expect(spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8' }).status).toBe(2);
  });

  it('Kubernetes: coordinator + worker train, /healthz and /metrics answer, a killed coordinator pod resumes from its volume', async () => {
    const data = mkdtempSync(join(tmpdir(), 'swarmgrad-pvc-'));
    const secrets = tokens(mkdtempSync(join(tmpdir(), 'swarmgrad-secret-')));
    const port = await freePort();
    const map = { dirs: { '/var/lib/swarmgrad': data, '/etc/swarmgrad': secrets, '/opt/swarmgrad': ROOT }, port, hosts: ['swarmgrad-coordinator'] };
    const coordinator = localize(k8s.coordinator, map);
    const worker = localize(k8s.worker, map);
    const url = `http://127.0.0.1:${port}`;

    let pod = start(coordinator.argv, coordinator.env);
    const health = await poll(async () => (await fetch(`${url}/healthz`)).json() as Promise<{ ok: boolean; status: string }>, '/healthz');
    expect(health).toEqual({ ok: true, status: expect.stringMatching(/^(waiting|running)$/) });
    expect(pod.output()).toContain('no checkpoint in');
    const workerPod = start(worker.argv, worker.env);

    const metrics = await poll(async () => {
      const m = parseMetrics(await (await fetch(`${url}/metrics`)).text());
      return (m.get('swarmgrad_step') ?? 0) >= 5 ? m : undefined;
    }, 'step 5 in /metrics');
    expect(metrics.get('swarmgrad_workers')).toBe(1);
    expect(metrics.get('swarmgrad_total_steps')).toBe(12);

    // The pod dies without a grace period; its replacement runs the same command on the same volume.
    pod.child.kill('SIGKILL');
    await pod.exited;
    pod = start(coordinator.argv, coordinator.env);
    const finished = await poll(async () => {
      const h = (await (await fetch(`${url}/healthz`)).json()) as { status: string };
      return h.status === 'finished' ? h : undefined;
    }, 'the resumed run to finish', 120_000);
    expect(finished.status).toBe('finished');
    expect(pod.output()).toContain('holds checkpoints: continuing the run');
    expect(pod.output()).toMatch(/resumed at step ([4-9]|1[0-2])\b/);
    // run.json is written last, just after /healthz says finished.
    const run = await poll(async () => (existsSync(join(data, 'run/run.json')) ? (JSON.parse(readFileSync(join(data, 'run/run.json'), 'utf8')) as { status: string; steps: number }) : undefined), 'run.json');
    expect(run).toMatchObject({ status: 'finished', steps: 12 });
    expect(existsSync(join(data, 'run/final.ckpt'))).toBe(true);
    // The Grafana dashboard only asks for series the coordinator exports (the verification
    // panel is for series still to come); evaluation series exist once the run has evaluated.
    const dashboard = readFileSync(join(INFRA, 'grafana/dashboards/swarmgrad.json'), 'utf8');
    const asked = new Set([...dashboard.matchAll(/swarmgrad_[a-z_]+/g)].map((m) => m[0]).filter((n) => !n.startsWith('swarmgrad_verification_')));
    // A family is exported with its first sample: rejections by code only after a rejection.
    asked.delete('swarmgrad_rejected_results_total');
    const exported = await (await fetch(`${url}/metrics`)).text();
    for (const name of asked) expect(exported, name).toContain(`# TYPE ${name} `);

    expect(workerPod.output()).toMatch(/reconnecting/);
    pod.child.kill('SIGTERM');
    expect(await pod.exited).toBe(0);
    workerPod.child.kill('SIGTERM');
    await workerPod.exited;
  });

  it('Compose: the coordinator\'s healthcheck command passes against the running coordinator', async () => {
    const data = mkdtempSync(join(tmpdir(), 'swarmgrad-volume-'));
    const secrets = tokens(mkdtempSync(join(tmpdir(), 'swarmgrad-secrets-')));
    const port = await freePort();
    const map = { dirs: { '/var/lib/swarmgrad': data, '/run/secrets': secrets, '/opt/swarmgrad': ROOT }, port, hosts: ['coordinator'] };
    const coordinator = localize(composeSpec('coordinator'), map);
    const check = compose.services.coordinator!.healthcheck!.test;
    expect(check[0]).toBe('CMD');
    const probe = () => spawnSync(check[1]!, check.slice(2).map((a) => a.replace('127.0.0.1:7070', `127.0.0.1:${port}`)), { encoding: 'utf8' }).status;
    expect(probe()).toBe(1); // nothing listens yet
    const container = start(coordinator.argv, coordinator.env);
    await poll(async () => (probe() === 0 ? true : undefined), 'the healthcheck to pass');
    await poll(async () => (container.output().includes('waiting for workers') ? true : undefined), 'the coordinator to wait for workers');
    container.child.kill('SIGTERM');
    await container.exited;
  });
});

// Issue #12 part 1: the lab infra is validated without a cluster or a Docker engine — every
// Kubernetes object (base and rendered overlay) against the Kubernetes OpenAPI schema, the
// Compose file against the Compose specification's JSON schema, the Dockerfile linted, the
// .dockerignore checked against the files that must never reach an image.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { schemaErrors, unknownFieldErrors } from './k8s-schema.js';
import { readManifests, renderKustomization, type Resource } from './kustomize.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INFRA = join(ROOT, 'infra');
const require = createRequire(import.meta.url);
// CommonJS (`module.exports = factory`); its declarations say `export default`.
const dockerignore = require('@balena/dockerignore') as typeof import('@balena/dockerignore').default;

/** The example overlay rendered from a copy of infra/k8s with the two token files it needs. */
function renderExampleOverlay(): Resource[] {
  const copy = mkdtempSync(join(tmpdir(), 'swarmgrad-k8s-'));
  cpSync(join(INFRA, 'k8s'), copy, { recursive: true });
  writeFileSync(join(copy, 'overlays/example/lab-token'), 'lab-token-for-the-test\n');
  writeFileSync(join(copy, 'overlays/example/admin-token'), 'admin-token-for-the-test\n');
  return renderKustomization(join(copy, 'overlays/example'));
}

function find(resources: Resource[], kind: string, name: string): Resource {
  const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
  if (!r) throw new Error(`no ${kind}/${name} among ${resources.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return r;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] } }[]; securityContext?: { runAsNonRoot?: boolean } };
}
const podOf = (r: Resource) => (r.spec as { template: PodTemplate }).template;
const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

describe('Kubernetes manifests (infra/k8s)', () => {
  const base = renderKustomization(join(INFRA, 'k8s/base'));
  const overlay = renderExampleOverlay();

  it('every object of the base and of the rendered overlay satisfies the Kubernetes schema, with no unknown field', async () => {
    for (const r of [...base, ...overlay]) expect(await schemaErrors(r), `${r.kind}/${r.metadata.name}`).toEqual([]);
    expect(unknownFieldErrors([...base, ...overlay])).toEqual([]);
    expect(overlay.map((r) => r.kind).sort()).toEqual(['Deployment', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'StatefulSet']);
  });

  it('the validators catch what kubectl would refuse: a wrong type, a missing field, a misspelt field', async () => {
    const statefulSet = structuredClone(find(base, 'StatefulSet', 'swarmgrad-coordinator'));
    const spec = statefulSet.spec as Record<string, unknown>;
    expect(await schemaErrors({ ...statefulSet, spec: { ...spec, replicas: 'one' } })).toEqual([expect.stringContaining('replicas')]);
    expect((await schemaErrors({ ...statefulSet, spec: { ...spec, selector: undefined } })).join()).toContain('selector');
    const misspelt = structuredClone(statefulSet);
    const container = podOf(misspelt).spec.containers[0] as unknown as Record<string, unknown>;
    container.livenessprobe = container.livenessProbe;
    delete container.livenessProbe;
    expect(await schemaErrors(misspelt)).toEqual([]); // the OpenAPI definitions let it through...
    expect(unknownFieldErrors([misspelt]).join()).toMatch(/'"?livenessprobe"?' does not exist in type 'IContainer'/); // ...the strict check does not
  });

  it('the overlay sets the namespace, the image, the worker count, the token Secret and the run', () => {
    for (const r of overlay) if (r.kind !== 'Namespace') expect(r.metadata.namespace, `${r.kind}/${r.metadata.name}`).toBe('swarmgrad');
    const coordinator = find(overlay, 'StatefulSet', 'swarmgrad-coordinator');
    const workers = find(overlay, 'Deployment', 'swarmgrad-worker');
    for (const r of [coordinator, workers]) expect(podOf(r).spec.containers[0]!.image).toBe('registry.example.org/lab/swarmgrad:0.1.0');
    expect((workers.spec as { replicas: number }).replicas).toBe(40);
    const secret = find(overlay, 'Secret', 'swarmgrad-tokens') as Resource & { data: Record<string, string> };
    expect(Buffer.from(secret.data['lab-token']!, 'base64').toString()).toBe('lab-token-for-the-test\n');
    expect(Object.keys(secret.data).sort()).toEqual(['admin-token', 'lab-token']);
    const env = podOf(coordinator).spec.containers[0]!.env!;
    expect(env.find((e) => e.name === 'SWARMGRAD_RUN_FLAGS')?.value).toContain('--epochs 10');
  });

  it('the pieces fit together: Service → coordinator port, probes on /healthz, PVC under --out, tokens, scrape annotations', () => {
    const coordinator = find(base, 'StatefulSet', 'swarmgrad-coordinator');
    const pod = podOf(coordinator);
    const c = pod.spec.containers[0]!;
    const args = c.args!;
    const port = Number(flag(args, '--port'));
    expect(c.command).toEqual(['swarmgrad-coordinator']);
    expect(c.ports).toEqual([{ name: 'http', containerPort: port }]);
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    // Checkpoints live on the claim: --out is inside the data volume's mount.
    const claims = (coordinator.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates.map((v) => v.metadata.name);
    const dataMount = c.volumeMounts!.find((m) => claims.includes(m.name))!;
    expect(flag(args, '--out')!.startsWith(`${dataMount.mountPath}/`)).toBe(true);
    // Token files come from the Secret's keys.
    const tokenMount = c.volumeMounts!.find((m) => m.name === 'tokens')!;
    const keys = pod.spec.volumes!.find((v) => v.name === 'tokens')!.secret!.items!.map((i) => i.key);
    expect([flag(args, '--token-file'), flag(args, '--admin-token-file')]).toEqual(keys.map((k) => `${tokenMount.mountPath}/${k}`));
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);

    // The Service selects the coordinator pod and exposes its port; workers dial that Service.
    const service = find(base, 'Service', 'swarmgrad-coordinator') as Resource & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } };
    expect(pod.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([{ name: 'http', port, targetPort: 'http' }]);
    const workers = find(base, 'Deployment', 'swarmgrad-worker');
    const workerPod = podOf(workers);
    const workerArgs = workerPod.spec.containers[0]!.args!;
    expect(flag(workerArgs, '--coordinator')).toBe(`ws://${service.metadata.name}:${port}/ws`);
    expect(workerPod.spec.volumes!.find((v) => v.secret)!.secret!.items!.map((i) => i.key)).toEqual(['lab-token']); // never the admin token
    expect(workerPod.metadata.labels).not.toMatchObject(service.spec.selector);
    const pdb = find(base, 'PodDisruptionBudget', 'swarmgrad-worker') as Resource & { spec: { selector: { matchLabels: Record<string, string> } } };
    expect(workerPod.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    for (const r of [coordinator, workers]) for (const container of podOf(r).spec.containers) expect(container.resources?.requests, container.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('every object in the base files is part of the rendered base and overlay', () => {
    const listed = new Set([...base, ...overlay].map((r) => `${r.kind}/${r.metadata.name}`));
    for (const file of ['coordinator.yaml', 'service.yaml', 'workers.yaml', 'pdb.yaml']) {
      for (const r of readManifests(join(INFRA, 'k8s/base', file))) expect(listed.has(`${r.kind}/${r.metadata.name}`)).toBe(true);
    }
  });
});

/** `${VAR:-default}` and `${VAR}` as docker compose interpolates them (empty environment). */
function interpolate(text: string, env: Record<string, string> = {}): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, name: string, fallback?: string) => env[name] || (fallback ?? ''));
}

describe('Compose file (infra/compose.yaml)', () => {
  const schemaPath = join(dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  // The schema names its draft as https://json-schema.org/draft-07/schema; ajv knows draft-07 as
  // http://json-schema.org/draft-07/schema#, its default: drop the reference, keep the draft.
  const { $schema: _draft, ...composeSchema } = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  const validateCompose = ajv.compile(composeSchema);
  const text = readFileSync(join(INFRA, 'compose.yaml'), 'utf8');
  const compose = parseYaml(interpolate(text)) as { services: Record<string, Record<string, unknown>>; secrets: Record<string, { file: string }> };

  it('satisfies the Compose specification schema; a misspelt key does not', () => {
    expect(validateCompose(compose), JSON.stringify(validateCompose.errors)).toBe(true);
    const broken = structuredClone(compose);
    broken.services.worker!.restrat = 'always';
    expect(validateCompose(broken)).toBe(false);
  });

  it('passes dclint with no error and no warning', () => {
    const lint = spawnSync(process.execPath, [join(dirname(require.resolve('dclint/package.json')), 'bin/dclint.cjs'), join(INFRA, 'compose.yaml'), '--max-warnings', '0', '--color', 'false'], { encoding: 'utf8' });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  });

  it('wires workers to the coordinator service, Prometheus to its /metrics, Grafana to provisioned files', () => {
    const { coordinator, worker, grafana } = compose.services as Record<string, { command: string[]; volumes: string[] }>;
    const port = flag(coordinator!.command, '--port');
    expect(flag(worker!.command, '--coordinator')).toBe(`ws://coordinator:${port}/ws`);
    const prometheus = parseYaml(readFileSync(join(INFRA, 'prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] };
    expect(prometheus.scrape_configs[0]).toMatchObject({ metrics_path: '/metrics', static_configs: [{ targets: [`coordinator:${port}`] }] });
    for (const volume of grafana!.volumes.filter((v) => v.startsWith('./'))) expect(existsSync(join(INFRA, volume.split(':')[0]!)), volume).toBe(true);
    for (const { file } of Object.values(compose.secrets)) expect(file.startsWith('./secrets/')).toBe(true);
  });
});

describe('systemd units (infra/systemd)', () => {
  it('pass systemd-analyze verify, which refuses a broken unit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-systemd-'));
    const verify = (name: string, text: string) => {
      writeFileSync(join(dir, name), text.replaceAll('/opt/swarmgrad', ROOT.replace(/\/$/, '')));
      return spawnSync('systemd-analyze', ['verify', join(dir, name)], { encoding: 'utf8' });
    };
    for (const unit of ['swarmgrad-serve.service', 'swarmgrad-worker.service']) {
      const result = verify(unit, readFileSync(join(INFRA, 'systemd', unit), 'utf8'));
      expect(result.error, 'systemd-analyze is part of systemd').toBeUndefined();
      expect(result.stdout + result.stderr, unit).not.toMatch(new RegExp(`${unit}:`));
    }
    const broken = verify('broken.service', '[Service]\nExecStart=/opt/swarmgrad/no-such-program\nRestart=sometimes\n');
    expect(broken.stdout + broken.stderr).toMatch(/broken\.service/);
  });
});

describe('Docker image (infra/docker/Dockerfile, .dockerignore)', () => {
  const dockerfile = readFileSync(join(INFRA, 'docker/Dockerfile'), 'utf8');
  const ignore = dockerignore({ ignorecase: false }).add(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));

  it('lints clean; the linter does find a broken Dockerfile', () => {
    expect(lintDockerfile(dockerfile, {}).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    expect(lintDockerfile('FROM node:20\nCOPY one-argument\nEXPOSE http\n', {}).length).toBeGreaterThanOrEqual(2);
  });

  it('is multi-stage, runs as a non-root user, and copies only what the build context holds', () => {
    const parsed = DockerfileParser.parse(dockerfile);
    expect(parsed.getFROMs().length).toBeGreaterThanOrEqual(2);
    const instructions = parsed.getInstructions();
    const lastFrom = instructions.lastIndexOf(parsed.getFROMs().at(-1)!);
    const users = instructions.slice(lastFrom).filter((i) => i.getKeyword() === 'USER');
    expect(users.length).toBe(1);
    expect(users[0]!.getArgumentsContent()).not.toMatch(/^(root|0)(:|$)/);
    for (const copy of instructions.filter((i) => i.getKeyword() === 'COPY')) {
      if (/--from=/.test(copy.getTextContent())) continue;
      const sources = copy.getArgumentsContent()!.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), `COPY ${source}: missing`).toBe(true);
        expect(ignore.ignores(source), `COPY ${source}: excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('.dockerignore keeps tokens, checkpoints, runs and host builds out of the build context', () => {
    for (const path of ['runs/lenet5-20261202/lab-token', 'runs/lenet5-20261202/admin-token', 'runs/x/run.json', 'infra/secrets/lab-token', 'infra/k8s/overlays/example/lab-token', 'infra/k8s/overlays/example/admin-token', 'elsewhere/lab-token', 'a/b-step-000000005.swgckpt', 'final.ckpt', 'node_modules/ws/index.js', 'packages/nn/node_modules/x/y.js', 'apps/server/dist/cli.js', '.git/config']) {
      expect(ignore.ignores(path), path).toBe(true);
    }
    for (const path of ['package.json', 'package-lock.json', 'packages/nn/src/index.ts', 'apps/server/bin/swarmgrad.js', 'infra/docker/swarmgrad-coordinator', 'tests/package.json']) {
      expect(ignore.ignores(path), path).toBe(false);
    }
  });
});

/**
 * A small kustomize renderer for the subset of kustomization fields that `infra/k8s` uses, so
 * the overlay can be rendered and validated without kubectl. Every other field is refused
 * loudly (never ignored): what this renders is what `kubectl kustomize` renders for these
 * fields — resources (files and folders), namespace, images, replicas, secretGenerator with
 * `generatorOptions.disableNameSuffixHash`, and `patches` holding inline JSON 6902 operations
 * (add, replace, remove, test) on a target kind and name.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

/** A Kubernetes object as rendered. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'replicas', 'secretGenerator', 'generatorOptions', 'patches']);
/** Kinds that have no namespace (kustomize leaves them alone when it sets one). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

/** Reads every YAML document of a manifest file. */
export function readManifests(path: string): Resource[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  return docs.flatMap((doc) => {
    if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Resource | null;
    return value === null ? [] : [value];
  });
}

/** Renders the kustomization in `dir` (a folder holding kustomization.yaml). */
export function renderKustomization(dir: string): Resource[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) throw new Error(`${file}: field ${key} is not supported by the test renderer (supported: ${[...SUPPORTED].join(', ')})`);
  }
  if (k.kind !== 'Kustomization') throw new Error(`${file}: kind must be Kustomization; got ${String(k.kind)}`);
  let out: Resource[] = [];
  for (const entry of (k.resources as string[] | undefined) ?? []) {
    const path = resolve(dir, entry);
    out.push(...(statSync(path).isDirectory() ? renderKustomization(path) : readManifests(path)));
  }
  out.push(...generateSecrets(dir, k));
  for (const patch of (k.patches as PatchSpec[] | undefined) ?? []) out = applyPatch(out, patch, file);
  if (typeof k.namespace === 'string') {
    for (const r of out) if (!CLUSTER_SCOPED.has(r.kind)) r.metadata.namespace = k.namespace;
  }
  for (const image of (k.images as ImageSpec[] | undefined) ?? []) setImage(out, image);
  for (const { name, count } of (k.replicas as { name: string; count: number }[] | undefined) ?? []) {
    const target = out.find((r) => r.metadata.name === name && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(r.kind));
    if (!target) throw new Error(`${file}: replicas: no Deployment or StatefulSet named ${name}`);
    (target.spec as Record<string, unknown>).replicas = count;
  }
  const ids = out.map((r) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`);
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
  if (duplicate) throw new Error(`${file}: ${duplicate} is defined twice`);
  return out;
}

interface PatchSpec {
  target?: { kind?: string; name?: string };
  patch?: string;
  [field: string]: unknown;
}

interface ImageSpec {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

function generateSecrets(dir: string, k: Record<string, unknown>): Resource[] {
  const generators = (k.secretGenerator as Array<Record<string, unknown>> | undefined) ?? [];
  if (!generators.length) return [];
  const options = (k.generatorOptions as Record<string, unknown> | undefined) ?? {};
  if (options.disableNameSuffixHash !== true) throw new Error('secretGenerator: the test renderer needs generatorOptions.disableNameSuffixHash: true (it does not compute kustomize name hashes)');
  return generators.map((g) => {
    const data: Record<string, string> = {};
    for (const spec of (g.files as string[] | undefined) ?? []) {
      const [key, path] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : [basename(spec), spec];
      data[key] = readFileSync(resolve(dir, path)).toString('base64');
    }
    for (const literal of (g.literals as string[] | undefined) ?? []) {
      const eq = literal.indexOf('=');
      data[literal.slice(0, eq)] = Buffer.from(literal.slice(eq + 1)).toString('base64');
    }
    return { apiVersion: 'v1', kind: 'Secret', metadata: { name: String(g.name) }, type: String(g.type ?? 'Opaque'), data };
  });
}

function applyPatch(resources: Resource[], spec: PatchSpec, file: string): Resource[] {
  const extra = Object.keys(spec).filter((key) => key !== 'target' && key !== 'patch');
  if (extra.length || typeof spec.patch !== 'string') throw new Error(`${file}: patches: only inline patches with a target are supported; got ${JSON.stringify(spec)}`);
  const ops = parseYaml(spec.patch) as unknown;
  if (!Array.isArray(ops)) throw new Error(`${file}: patches: only JSON 6902 operation lists are supported (no strategic merge)`);
  const targets = resources.filter((r) => (!spec.target?.kind || r.kind === spec.target.kind) && (!spec.target?.name || r.metadata.name === spec.target.name));
  if (!targets.length) throw new Error(`${file}: patch target ${JSON.stringify(spec.target)} matches nothing`);
  for (const target of targets) for (const op of ops as JsonPatchOp[]) applyOp(target, op, file);
  return resources;
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

function applyOp(doc: Record<string, unknown>, op: JsonPatchOp, file: string): void {
  const keys = op.path.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop();
  if (last === undefined) throw new Error(`${file}: patch path ${op.path} is the whole document`);
  let parent: unknown = doc;
  for (const key of keys) {
    parent = (parent as Record<string, unknown>)?.[key];
    if (parent === undefined || parent === null) throw new Error(`${file}: patch path ${op.path}: ${key} does not exist`);
  }
  const container = parent as Record<string, unknown> | unknown[];
  const exists = Array.isArray(container) ? Number(last) < container.length : last in container;
  const current = Array.isArray(container) ? container[Number(last)] : container[last];
  switch (op.op) {
    case 'test':
      if (JSON.stringify(current) !== JSON.stringify(op.value)) throw new Error(`${file}: patch test failed at ${op.path}: ${JSON.stringify(current)} is not ${JSON.stringify(op.value)}`);
      return;
    case 'replace':
      if (!exists) throw new Error(`${file}: patch replace: ${op.path} does not exist`);
      if (Array.isArray(container)) container[Number(last)] = op.value;
      else container[last] = op.value;
      return;
    case 'remove':
      if (!exists) throw new Error(`${file}: patch remove: ${op.path} does not exist`);
      if (Array.isArray(container)) container.splice(Number(last), 1);
      else delete container[last];
      return;
    case 'add':
      if (Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, op.value);
      else container[last] = op.value;
      return;
    default:
      throw new Error(`${file}: patch op ${JSON.stringify((op as { op: unknown }).op)} is not supported`);
  }
}

function setImage(resources: Resource[], image: ImageSpec): void {
  for (const r of resources) {
    const pod = (r.spec as { template?: { spec?: { containers?: { image: string }[]; initContainers?: { image: string }[] } } } | undefined)?.template?.spec;
    for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      const name = container.image.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
      if (name !== image.name) continue;
      const tag = image.digest ? `@${image.digest}` : image.newTag ? `:${image.newTag}` : (container.image.slice(name.length) || '');
      container.image = `${image.newName ?? name}${tag}`;
    }
  }
}

/**
 * Validates Kubernetes objects against the published Kubernetes OpenAPI schema, twice:
 * - the `kubernetes-models` package's validators: the Kubernetes OpenAPI definitions compiled
 *   by ajv (types, required fields, enums, formats);
 * - the same package's TypeScript declarations (generated from the same definitions), through
 *   the TypeScript compiler's excess-property check: a misspelt field (`livenessprobe`,
 *   `replica`) is an error, as `kubectl apply` (strict field validation) makes it, while the
 *   OpenAPI definitions alone let unknown fields through.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Resource } from './kustomize.js';

/** Kinds the manifests may use: apiVersion/kind → the kubernetes-models module. */
const MODELS: Record<string, string> = {
  'apps/v1/StatefulSet': 'kubernetes-models/apps/v1/StatefulSet',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
};

const HERE = dirname(fileURLToPath(import.meta.url));

/** Schema errors of one object (empty when valid). */
export async function schemaErrors(resource: Resource): Promise<string[]> {
  const key = `${resource.apiVersion}/${resource.kind}`;
  const module = MODELS[key];
  if (!module) return [`${key}: no schema known to the test (add it to MODELS)`];
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[resource.kind]!;
  try {
    new Model(resource).validate();
    return [];
  } catch (error) {
    const details = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
    return details?.length ? details.map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`) : [(error as Error).message];
  }
}

/**
 * Unknown (misspelt) fields in `resources`, found by type-checking each object literal
 * against the kubernetes-models declaration of its kind. One message per error.
 */
export function unknownFieldErrors(resources: readonly Resource[]): string[] {
  const lines: string[] = [];
  resources.forEach((r, i) => {
    const module = MODELS[`${r.apiVersion}/${r.kind}`];
    if (!module) {
      lines.push(`// no declaration for ${r.apiVersion}/${r.kind}`);
      return;
    }
    lines.push(`import type { I${r.kind} as T${i} } from '${module}';`);
    lines.push(`export const r${i} = ${JSON.stringify(r)} satisfies T${i};`);
  });
  const fileName = join(HERE, '__manifests__.ts');
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version) => (name === fileName ? ts.createSourceFile(name, source, version) : getSourceFile(name, version));
  host.fileExists = ((fileExists) => (name: string) => name === fileName || fileExists(name))(host.fileExists.bind(host));
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const resource = where >= 0 ? resources[Math.floor(where / 2)] : undefined;
    const label = resource ? `${resource.kind}/${resource.metadata.name}` : 'manifests';
    return `${label}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

/**
 * What `@swarmgrad/nn` needs to reach Node-only modules from code that also runs in
 * browsers (Web Workers included): where it runs, and an import bundlers do not follow.
 */

/** Whether this is Node (not a browser, not a Web Worker). */
export function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/**
 * Imports a module whose name a bundler must not follow (Node-only packages with native
 * addons, `node:` builtins): the specifier is not a literal, so browser bundles never
 * include it.
 */
export function importNodeOnly<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<T>;
}

/**
 * A private network of "hosts" for multi-host tests: each host is a Linux network namespace
 * with one veth cable (`eth0`) into a switch (a bridge in a namespace of its own). Addresses
 * come from 10.213.0.0/24, which exists only inside these namespaces: the machine's own
 * network namespace is never touched, nothing is routed anywhere.
 *
 * Needs root and `ip` (iproute2). Names are `sgn<pid>-<host>`, <pid> being the test process:
 * `sweepLeftovers()` removes the namespaces (and kills the processes in them) of test
 * processes that no longer exist, e.g. after a kill -9; `dispose()` removes a lab's own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/wait.js';

/** Prefix of every namespace the harness creates. */
export const PREFIX = 'sgn';
/** The lab's /24 (inside the namespaces only). */
export const SUBNET = '10.213.0';
/** The built CLI (one definition, in the shared launcher). */
export { SWARMGRAD } from '../support/launch.js';
/** The link-emulating proxy. */
export const LINK_PROXY = fileURLToPath(new URL('./link-proxy.mjs', import.meta.url));

/** Runs `ip ...args`; throws with its stderr when it fails. */
export function ip(...args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.error) throw new Error(`ip ${args.join(' ')}: ${result.error.message} (is iproute2 installed?)`);
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/**
 * Fails loudly unless network namespaces work here (root, iproute2, veth, bridge): these
 * tests never skip, so a CI machine that cannot run them shows red.
 */
export function assertNetnsWorks(): void {
  if (process.getuid?.() !== 0) throw new Error('the netns suite needs root (ip netns add); CI runs as root — run it as root, it never skips');
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    ip('netns', 'add', probe);
    ip('-n', probe, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1');
  } catch (error) {
    throw new Error(`network namespaces do not work on this machine: ${(error as Error).message}`);
  } finally {
    spawnSync('ip', ['netns', 'del', probe]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killAndDelete(namespace: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  spawnSync('ip', ['netns', 'del', namespace]);
}

/** Removes namespaces left by test processes that are gone. Returns their names. */
export function sweepLeftovers(): string[] {
  const names = ip('netns', 'list').split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
  const stale = names.filter((name) => {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  });
  for (const name of stale) killAndDelete(name);
  return stale;
}

/** A process started in a host's namespace. */
export interface HostProcess {
  child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** One host: a namespace with an address on the lab's switch. */
export interface Host {
  name: string;
  namespace: string;
  address: string;
  /** The switch port (in the switch namespace) this host's cable plugs into. */
  port: string;
  /** Starts `node ...args` in this host's namespace. */
  node(args: string[], options?: { env?: NodeJS.ProcessEnv; ipc?: boolean }): HostProcess;
}

/** A lab: a switch and hosts. */
export interface Lab {
  host(name: string, lastOctet: number): Host;
  /** Unplugs a host's cable at the switch: its packets are dropped silently, both ways. */
  cut(host: Host): void;
  /** Plugs it back in. */
  heal(host: Host): void;
  /** Kills every process in the lab's namespaces and removes them. */
  dispose(): void;
}

/** Creates a lab (after sweeping leftovers of dead test processes). */
export function createLab(): Lab {
  sweepLeftovers();
  const tag = `${PREFIX}${process.pid}`;
  const sw = `${tag}-switch`;
  const namespaces: string[] = [];
  const processes: HostProcess[] = [];
  const add = (namespace: string) => {
    spawnSync('ip', ['netns', 'del', namespace]); // a leftover of this very pid (a retried file)
    ip('netns', 'add', namespace);
    namespaces.push(namespace);
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
  };
  const dispose = (): void => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const namespace of namespaces.splice(0).reverse()) killAndDelete(namespace);
  };
  // Also when the test process exits without running its afterAll (an uncaught error).
  process.once('exit', dispose);
  add(sw);
  ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', sw, 'link', 'set', 'br0', 'up');

  return {
    host(name, lastOctet) {
      const namespace = `${tag}-${name}`;
      const port = `p-${name}`.slice(0, 15);
      add(namespace);
      ip('link', 'add', 'eth0', 'netns', namespace, 'type', 'veth', 'peer', 'name', port, 'netns', sw);
      ip('-n', sw, 'link', 'set', port, 'master', 'br0', 'up');
      const address = `${SUBNET}.${lastOctet}`;
      ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
      return {
        name,
        namespace,
        address,
        port,
        node(args, options = {}) {
          const p = startInNamespace(namespace, [process.execPath, ...args], options);
          processes.push(p);
          return p;
        },
      };
    },
    cut(host) {
      ip('-n', sw, 'link', 'set', host.port, 'down');
    },
    heal(host) {
      ip('-n', sw, 'link', 'set', host.port, 'up');
    },
    dispose,
  };
}

function startInNamespace(namespace: string, argv: string[], options: { env?: NodeJS.ProcessEnv; ipc?: boolean }): HostProcess {
  // `ip netns exec` execs the command: the child's pid is the program's own.
  const child = spawn('ip', ['netns', 'exec', namespace, ...argv], {
    env: { ...process.env, ...options.env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out + err,
    stdout: () => out,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** GET `path` through a unix socket (a link-proxy forwarding into a namespace); parsed JSON or text. */
export function getVia(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 5_000, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `read` until it returns something other than undefined (a read that throws means "not yet"). */
export function until<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  return waitFor(read, (value) => value !== undefined, { timeoutMs, what, intervalMs: 200, retryErrors: true }) as Promise<T>;
}

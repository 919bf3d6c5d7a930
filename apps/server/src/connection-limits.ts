/**
 * What one coordinator admits from the network, and the per-address book that enforces it.
 * Everything an outsider can grow here has a bound: connections (in total, per address, per
 * role), the rate of new connections, failed secrets, and the address book itself.
 */

/** Limits of {@link SocketHub}; every field is optional in `Partial<ConnectionLimits>` and takes `DEFAULT_CONNECTION_LIMITS`. */
export interface ConnectionLimits {
  /** WebSocket connections open at once, all roles together. */
  maxConnections: number;
  /** Connections beyond `maxConnections` for lab machines that present the lab token in the upgrade request. */
  maxLabConnections: number;
  /** Untrusted connections (before `hello`, volunteers, dashboards) from one remote address. Lab workers (welcomed as trusted) are not counted. */
  maxPerAddress: number;
  /** Dashboards open at once. */
  maxDashboards: number;
  /** Untrusted (volunteer) workers at once. */
  maxVolunteers: number;
  /** A connection that sends no frame within this many ms is closed (all roles). */
  helloDeadlineMs: number;
  /** Largest frame accepted before a worker is welcomed, and from dashboards (cut by the frame header, before it is buffered). */
  smallFrameBytes: number;
  /** New connections per address: a token bucket of this many per second ... */
  connectRatePerSecond: number;
  /** ... holding at most this many. */
  connectBurst: number;
  /** Failed secrets (wrong admin or lab token) from one address before it is locked out. */
  maxFailedSecrets: number;
  /** How long a lockout lasts, in ms. */
  lockoutMs: number;
  /** A dashboard with more than this many bytes unsent is closed (it reconnects and gets a fresh snapshot). */
  dashboardBufferBytes: number;
  /** A worker with more than this many bytes unsent is dropped (its blocks go to others). */
  workerBufferBytes: number;
  /** Dashboards are pinged this often (ms) and closed when the previous ping got no pong. */
  pingIntervalMs: number;
  /** Addresses remembered at once (the oldest idle entry is forgotten first). */
  maxAddresses: number;
}

/** Defaults, sized for a LeNet-5 run on one machine with 1,024 file descriptors or more. */
export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 512,
  maxLabConnections: 256,
  maxPerAddress: 32,
  maxDashboards: 32,
  maxVolunteers: 256,
  helloDeadlineMs: 5000,
  smallFrameBytes: 64 * 1024,
  connectRatePerSecond: 10,
  connectBurst: 40,
  maxFailedSecrets: 5,
  lockoutMs: 60_000,
  dashboardBufferBytes: 4 * 1024 * 1024,
  workerBufferBytes: 32 * 1024 * 1024,
  pingIntervalMs: 15_000,
  maxAddresses: 4096,
});

/** Spread `limits` over the defaults; a value that is not a positive safe integer is a `TypeError`. */
export function resolveConnectionLimits(limits: Partial<ConnectionLimits> = {}): Readonly<ConnectionLimits> {
  const out = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
  for (const [key, value] of Object.entries(out)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`connection limit ${key} must be a positive integer; got ${String(value)}`);
  }
  return Object.freeze(out);
}

/**
 * Why a connection was refused or closed by the server (not the engine). The WebSocket close
 * code is sent with the reason; an upgrade refused before the handshake gets the HTTP status
 * and a JSON body `{ error: code, message }`.
 */
export const RefusalCode = {
  /** `maxConnections` reached (HTTP 503). */
  TOO_MANY_CONNECTIONS: { close: 4010, http: 503 },
  /** `maxPerAddress` reached for this address (HTTP 503). */
  TOO_MANY_FROM_ADDRESS: { close: 4011, http: 503 },
  /** `maxDashboards` reached (close after the dashboard's hello). */
  TOO_MANY_DASHBOARDS: { close: 4012, http: 503 },
  /** `maxVolunteers` reached (close instead of the volunteer's welcome). */
  TOO_MANY_VOLUNTEERS: { close: 4013, http: 503 },
  /** Too many new connections from this address (HTTP 429). */
  CONNECT_RATE: { close: 4014, http: 429 },
  /** Too many wrong admin or lab tokens from this address; locked out for `lockoutMs` (HTTP 429). */
  LOCKED_OUT: { close: 4015, http: 429 },
  /** The peer did not read what was sent to it (`*BufferBytes`). */
  TOO_SLOW: { close: 4016, http: 503 },
  /** No frame within `helloDeadlineMs`, or no pong to a ping. */
  NO_HELLO: { close: 4000, http: 408 },
} as const;

/** A `RefusalCode` key. */
export type RefusalCodeName = keyof typeof RefusalCode;

interface AddressEntry {
  /** Untrusted connections open from this address. */
  open: number;
  tokens: number;
  refilledAt: number;
  failedSecrets: number;
  lockedUntil: number;
  touchedAt: number;
}

/** Per-address counters: open untrusted connections, connect-rate bucket, failed secrets and lockouts. Bounded by `maxAddresses`. */
export class AddressBook {
  private readonly entries = new Map<string, AddressEntry>();

  constructor(
    private readonly limits: Readonly<ConnectionLimits>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Addresses remembered now. */
  get size(): number {
    return this.entries.size;
  }

  /** Whether a new connection from `address` may open; when it may, it is counted (call `release` when it closes or becomes trusted). */
  admit(address: string): RefusalCodeName | null {
    const now = this.clock();
    const entry = this.entry(address, now);
    if (entry.lockedUntil > now) return 'LOCKED_OUT';
    entry.tokens = Math.min(this.limits.connectBurst, entry.tokens + ((now - entry.refilledAt) / 1000) * this.limits.connectRatePerSecond);
    entry.refilledAt = now;
    if (entry.tokens < 1) return 'CONNECT_RATE';
    if (entry.open >= this.limits.maxPerAddress) return 'TOO_MANY_FROM_ADDRESS';
    entry.tokens -= 1;
    entry.open++;
    return null;
  }

  /** An untrusted connection of `address` closed or was welcomed as trusted. */
  release(address: string): void {
    const entry = this.entries.get(address);
    if (entry && entry.open > 0) entry.open--;
  }

  /** Gives back the connect token of a connection that proved to be a lab worker (lab workers are not rate-limited). */
  refund(address: string): void {
    const entry = this.entries.get(address);
    if (entry) entry.tokens = Math.min(this.limits.connectBurst, entry.tokens + 1);
  }

  /** A wrong secret came from `address`; returns true when that locks the address out. */
  failedSecret(address: string): boolean {
    const now = this.clock();
    const entry = this.entry(address, now);
    entry.failedSecrets++;
    if (entry.failedSecrets < this.limits.maxFailedSecrets) return false;
    entry.failedSecrets = 0;
    entry.lockedUntil = now + this.limits.lockoutMs;
    return true;
  }

  /** Whether `address` is locked out now. */
  lockedOut(address: string): boolean {
    return (this.entries.get(address)?.lockedUntil ?? 0) > this.clock();
  }

  private entry(address: string, now: number): AddressEntry {
    let entry = this.entries.get(address);
    if (entry) {
      // Refresh its place in the Map's insertion order (oldest first, for eviction).
      this.entries.delete(address);
    } else {
      entry = { open: 0, tokens: this.limits.connectBurst, refilledAt: now, failedSecrets: 0, lockedUntil: 0, touchedAt: now };
      if (this.entries.size >= this.limits.maxAddresses) this.evict(now);
    }
    entry.touchedAt = now;
    this.entries.set(address, entry);
    return entry;
  }

  /** Forgets the least recently seen address with no open connection, preferring ones without a lockout. */
  private evict(now: number): void {
    let fallback: string | undefined;
    for (const [address, entry] of this.entries) {
      if (entry.open > 0) continue;
      if (entry.lockedUntil <= now) {
        this.entries.delete(address);
        return;
      }
      fallback ??= address;
    }
    if (fallback !== undefined) this.entries.delete(fallback);
  }
}

/** The server's HTTP API (`apps/server`): run listings, past runs and the insights routes. */
import type { PastRun, RunList } from './types.js';

/** An HTTP API answer that was not 200, with the server's `{ error, message }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** GET `path` as JSON; throws {@link ApiError} with the server's message. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'OFFLINE', 'the server cannot be reached');
  }
  const body = (await response.json().catch(() => null)) as { error?: string; message?: string } | null;
  if (!response.ok) throw new ApiError(response.status, body?.error ?? 'HTTP', body?.message ?? `${response.status} ${response.statusText}`);
  return body as T;
}

/** `GET /api/runs`: the live run first, then past runs in the output folder. */
export function listRuns(): Promise<RunList> {
  return getJson('/api/runs');
}

/** `GET /api/runs/:id` of a past run. */
export function readPastRun(runId: string): Promise<PastRun> {
  return getJson(`/api/runs/${encodeURIComponent(runId)}`);
}

/** URL of an insights route of a run, e.g. `insightsUrl('r1', 'top-patches', { layer: 2, filter: 3 })`. */
export function insightsUrl(runId: string, view: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const search = params.toString();
  return `/api/runs/${encodeURIComponent(runId)}/insights${view ? `/${view}` : ''}${search ? `?${search}` : ''}`;
}

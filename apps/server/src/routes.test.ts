import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator, paramsSha256 } from '@swarmgrad/coordinator';
import { checkpointWriter } from '@swarmgrad/coordinator/node';
import { parseCommand } from './args.js';
import { TRAIN } from './commands.js';
import { startRunServer, type RunServer } from './http-server.js';
import { runRoutes, createRunHandler } from './routes.js';
import { newRunConfig } from './run-config.js';
import { loadData, type LoadedData } from './run-setup.js';
import { SocketHub } from './socket-hub.js';
import { httpRequest } from './test-http.js';

/** A coordinator engine for `args`, built the way `swarmgrad train` builds it. */
async function engineFor(args: string[], data: LoadedData): Promise<Coordinator> {
  const run = await newRunConfig(parseCommand(TRAIN, args).flags, data);
  return new Coordinator({ run, trainData: data.train, testData: data.test, transport: new SocketHub().transport });
}

describe('the route table on a real server', () => {
  const root = mkdtempSync(join(tmpdir(), 'swarmgrad-routes-'));
  const dashboard = join(root, 'apps', 'dashboard');
  const unbuilt = join(root, 'apps', 'unbuilt');
  let engine: Coordinator;
  let server: RunServer;
  let port: number;
  let pastHash: string;
  const get = (path: string, method = 'GET') => httpRequest(port, path, method);

  beforeAll(async () => {
    const data = await loadData('synthetic:5');
    const runArgs = ['--data', 'synthetic:5', '--steps', '3', '--batch', '32', '--micro-batch', '8'];
    // A past run in the runs root: a checkpoint written the way `train` writes them.
    const past = await engineFor([...runArgs, '--run-id', 'past-run', '--seed', '9'], data);
    const pastCheckpoint = past.checkpoint();
    pastHash = paramsSha256(pastCheckpoint.params);
    await checkpointWriter({ directory: join(root, 'runs', 'past'), keep: 3 })(pastCheckpoint);
    mkdirSync(join(root, 'runs', 'live'), { recursive: true });
    engine = await engineFor([...runArgs, '--run-id', 'live-run'], data);
    mkdirSync(dashboard, { recursive: true });
    mkdirSync(unbuilt, { recursive: true });
    writeFileSync(join(dashboard, 'index.html'), '<!doctype html><title>dash</title>');
    writeFileSync(join(dashboard, 'app.js'), 'console.log(1);');
    writeFileSync(join(root, 'apps', 'secret.txt'), 'TOP-SECRET-CONTENT');
    const hub = new SocketHub();
    server = await startRunServer(engine, hub, {
      port: 0,
      host: '127.0.0.1',
      handle: createRunHandler({
        engine,
        testData: data.test,
        runsRoot: join(root, 'runs'),
        webApps: [
          { prefix: '/dashboard', dir: dashboard },
          { prefix: '/unbuilt', dir: unbuilt },
        ],
        insights: { backend: 'cpu', limits: { confusionSamples: 64, patchSamples: 32 } },
      }),
    });
    port = server.port;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('GET /healthz: ok and the run status', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, json: { ok: true, status: engine.status } });
  });

  it('GET /metrics: Prometheus text with the step', async () => {
    const answer = await get('/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.body).toMatch(/^swarmgrad_step(\{[^}]*\})? 0$/m);
  });

  it('GET /api/runs: the live run first, then the past run from its checkpoint', async () => {
    const { status, json } = await get('/api/runs');
    expect(status).toBe(200);
    expect(json.runs).toEqual([
      { runId: 'live-run', status: engine.status, step: 0, live: true },
      expect.objectContaining({ runId: 'past-run', status: 'interrupted', step: 0, live: false }),
    ]);
  });

  it('GET /api/runs/current and /api/runs/<live id>: the live snapshot', async () => {
    for (const id of ['current', 'live-run']) {
      const { status, json } = await get(`/api/runs/${id}`);
      expect(status).toBe(200);
      expect(json.config.runId).toBe('live-run');
      expect(json.step).toBe(0);
    }
  });

  it('GET /api/runs/<past id>: its config and parameter hash from the checkpoint', async () => {
    const { status, json } = await get('/api/runs/past-run');
    expect(status).toBe(200);
    expect(json).toMatchObject({ runId: 'past-run', step: 0, paramsSha256: pastHash, config: { runId: 'past-run', seed: 9 } });
  });

  it('an unknown run is 404; broken percent-encoding is 400, not 500', async () => {
    expect(await get('/api/runs/nope')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
    expect(await get('/api/runs/%E0%A4%A')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
    expect(await get('/api/runs/%E0%A4%A/insights/filters')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
    expect(await get('/dashboard/%ZZ')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
  });

  it('GET /api/runs/current/verification?worker=ID: the standing of one worker on the live run; worker required', async () => {
    const answer = await get('/api/runs/current/verification?worker=w-unknown');
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ workerId: 'w-unknown' });
    expect(await get('/api/runs/current/verification')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
    expect(await get('/api/runs/past-run/verification?worker=w1')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
  });

  it('GET /api/runs/current/accounting: the live run only, since a step number', async () => {
    expect(await get('/api/runs/current/accounting?since=0')).toMatchObject({ status: 200, json: { runId: 'live-run', step: 0, steps: [] } });
    for (const since of ['-1', '1.5', 'x']) {
      expect(await get(`/api/runs/current/accounting?since=${since}`)).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
    }
    expect(await get('/api/runs/past-run/accounting')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
  });

  it('GET /api/runs/:id/insights: the model layers of the live and the past run', async () => {
    const live = await get('/api/runs/current/insights');
    expect(live.status).toBe(200);
    expect(live.json).toMatchObject({ runId: 'live-run', live: true, step: 0, limits: { confusionSamples: 64, patchSamples: 32 } });
    expect(live.json.model.layers.length).toBeGreaterThan(0);
    const past = await get('/api/runs/past-run/insights');
    expect(past.json).toMatchObject({ runId: 'past-run', live: false });
    expect(await get('/api/runs/nope/insights')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
  });

  it('GET .../insights/filters: the first convolution layer, its values from the parameters', async () => {
    const { status, json } = await get('/api/runs/current/insights/filters');
    expect(status).toBe(200);
    const [kh, kw, cin, cout] = json.shape as number[];
    expect(json.filters).toHaveLength(cout!);
    expect(json.filters[0]).toHaveLength(kh! * kw! * cin!);
    const all = (json.filters as number[][]).flat();
    expect(Math.min(...all)).toBe(json.min);
    expect(Math.max(...all)).toBe(json.max);
    expect(await get('/api/runs/current/insights/filters?layer=abc')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
  });

  it('GET .../insights/activations, top-patches, confusion and misclassified answer within their limits', async () => {
    const activations = await get('/api/runs/current/insights/activations?image=3');
    expect(activations.status).toBe(200);
    expect(activations.json.image.index).toBe(3);
    const probabilities = activations.json.image.probabilities as number[];
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    const patches = await get('/api/runs/current/insights/top-patches?filter=0&count=4');
    expect(patches.status).toBe(200);
    expect(patches.json.patches).toHaveLength(4);
    expect(patches.json.samples).toBe(32);
    const confusion = await get('/api/runs/current/insights/confusion');
    expect(confusion.status).toBe(200);
    expect((confusion.json.matrix as number[][]).flat().reduce((a, b) => a + b, 0)).toBe(64);
    const wrong = await get('/api/runs/current/insights/misclassified?limit=5');
    expect(wrong.status).toBe(200);
    expect(wrong.json.images.length).toBe(Math.min(5, wrong.json.total));
    const diagonal = (confusion.json.matrix as number[][]).reduce((sum, row, k) => sum + row[k]!, 0);
    expect(wrong.json.total).toBe(64 - diagonal);
  });

  it('an unknown insight is 404 and a bad query value 400', async () => {
    expect(await get('/api/runs/current/insights/nope')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
    expect(await get('/api/runs/current/insights/activations?image=99999')).toMatchObject({ status: 400, json: { error: 'BAD_REQUEST' } });
  });

  it('unknown API paths are JSON 404s for every method, never a web page', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      expect(await get('/api/nope', method)).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
    }
    expect(await get('/nothing-here')).toMatchObject({ status: 404, json: { error: 'NOT_FOUND' } });
  });

  it('wrong methods on known paths are 405 with Allow', async () => {
    for (const path of ['/api/runs', '/api/runs/current', '/metrics', '/healthz', '/api/runs/current/insights/filters', '/dashboard/app.js']) {
      const answer = await get(path, 'POST');
      expect(answer.status, path).toBe(405);
      expect(answer.headers.allow, path).toBe('GET, HEAD');
    }
  });

  it('GET /ws without an upgrade is 426', async () => {
    expect(await get('/ws')).toMatchObject({ status: 426, json: { error: 'UPGRADE_REQUIRED' } });
  });

  it('web apps: files and index.html, cross-origin isolated; no escaping the folder', async () => {
    for (const path of ['/dashboard', '/dashboard/', '/dashboard/index.html']) {
      const page = await get(path);
      expect(page.status, path).toBe(200);
      expect(page.body).toContain('<title>dash</title>');
      expect(page.headers['cross-origin-embedder-policy']).toBe('require-corp');
      expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
    }
    const script = await get('/dashboard/app.js');
    expect(script).toMatchObject({ status: 200, body: 'console.log(1);' });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get('/dashboard/app.js', 'HEAD')).headers['content-length']).toBe('15');
    expect((await get('/dashboard/missing.js')).status).toBe(404);
    expect((await get('/dashboard/some/view')).status).toBe(404);
    for (const path of ['/dashboard/..%2Fsecret.txt', '/dashboard/%2E%2E/secret.txt', '/dashboard/../secret.txt']) {
      const answer = await get(path);
      expect(answer.status, path).toBe(404);
      expect(answer.body).not.toContain('TOP-SECRET-CONTENT');
    }
    expect(await get('/unbuilt/')).toMatchObject({ status: 503, body: expect.stringMatching(/not built; run npm run build/) });
  });

  it('every route of the table is covered above', () => {
    const covered = ['/metrics', '/healthz', '/api/runs', '/api/runs/:id', '/api/runs/:id/accounting', '/api/runs/:id/verification', '/api/runs/:id/insights', '/api/runs/:id/insights/:view', '/ws', '/api/*', '/dashboard', '/dashboard/*', '/unbuilt', '/unbuilt/*'];
    const table = runRoutes({ engine, testData: undefined, runsRoot: root, webApps: [{ prefix: '/dashboard', dir: dashboard }, { prefix: '/unbuilt', dir: unbuilt }] });
    expect(table.map((r) => r.path).sort()).toEqual([...covered].sort());
  });
});

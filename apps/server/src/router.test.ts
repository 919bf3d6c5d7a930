import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, decodePath, HttpError, matchPath, sendJson, type Route } from './router.js';
import { httpRequest } from './test-http.js';

describe('matchPath', () => {
  it.each([
    ['/a/:id', ['a', 'x'], { id: 'x' }],
    ['/a/:id', ['a', ''], undefined],
    ['/a/:id', ['a', 'x', 'y'], undefined],
    ['/a/:id/b', ['a', 'x', 'b'], { id: 'x' }],
    ['/a', ['a'], {}],
    ['/a', ['b'], undefined],
    ['/a/*', ['a'], { '*': '' }],
    ['/a/*', ['a', ''], { '*': '' }],
    ['/a/*', ['a', 'b', 'c.js'], { '*': 'b/c.js' }],
    ['/*', ['x', 'y'], { '*': 'x/y' }],
  ] as const)('%s on %j', (pattern, segments, expected) => {
    expect(matchPath(pattern, segments)).toEqual(expected);
  });
});

describe('decodePath', () => {
  it('decodes each segment; broken percent-encoding is undefined', () => {
    expect(decodePath('/api/runs/a%20b')).toEqual(['api', 'runs', 'a b']);
    expect(decodePath('/api/runs/a%2Fb')).toEqual(['api', 'runs', 'a/b']);
    expect(decodePath('/api/runs/%E0%A4%A')).toBeUndefined();
    expect(decodePath('/%')).toBeUndefined();
  });
});

describe('createRouter on a real server', () => {
  let server: Server;
  let port: number;
  const seen: Array<Record<string, string>> = [];
  const routes: Route[] = [
    { methods: ['GET'], path: '/things/:id', handler: ({ res, params, query }) => sendJson(res, 200, { id: params.id, q: query.get('q') }) },
    {
      methods: ['POST'],
      path: '/things/:id',
      handler: ({ res, params }) => {
        seen.push(params);
        sendJson(res, 201, { created: params.id });
      },
    },
    { methods: ['GET'], path: '/teapot', handler: () => Promise.reject(new HttpError(418, 'TEAPOT', 'short and stout')) },
    { methods: ['GET'], path: '/boom', handler: () => Promise.reject(new Error('kaput')) },
    { methods: ['GET'], path: '/files/*', handler: ({ res, params }) => sendJson(res, 200, { rest: params['*'] }) },
  ];

  beforeAll(async () => {
    server = createServer(createRouter(routes));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('decodes path parameters and passes the query', async () => {
    const answer = await httpRequest(port, '/things/a%20b?q=1');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ id: 'a b', q: '1' });
  });

  it('picks the row of the request method', async () => {
    const answer = await httpRequest(port, '/things/7', 'POST');
    expect(answer.status).toBe(201);
    expect(seen).toEqual([{ id: '7' }]);
  });

  it('broken percent-encoding is 400 BAD_REQUEST and reaches no handler', async () => {
    const before = seen.length;
    const answer = await httpRequest(port, '/things/%E0%A4%A', 'POST');
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe('BAD_REQUEST');
    expect(seen.length).toBe(before);
  });

  it('an unknown path is 404 NOT_FOUND', async () => {
    const answer = await httpRequest(port, '/nothing/here');
    expect(answer.status).toBe(404);
    expect(answer.json.error).toBe('NOT_FOUND');
  });

  it('a known path with another method is 405 with an Allow header', async () => {
    const answer = await httpRequest(port, '/things/7', 'DELETE');
    expect(answer.status).toBe(405);
    expect(answer.json.error).toBe('METHOD_NOT_ALLOWED');
    expect(String(answer.headers.allow).split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    const teapot = await httpRequest(port, '/teapot', 'PUT');
    expect(teapot.headers.allow).toBe('GET, HEAD');
  });

  it('HEAD is answered where GET is, without a body', async () => {
    const answer = await httpRequest(port, '/things/1', 'HEAD');
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('');
  });

  it('an HttpError becomes its status and code; any other error a 500 INTERNAL', async () => {
    expect(await httpRequest(port, '/teapot')).toMatchObject({ status: 418, json: { error: 'TEAPOT', message: 'short and stout' } });
    expect(await httpRequest(port, '/boom')).toMatchObject({ status: 500, json: { error: 'INTERNAL', message: 'kaput' } });
  });

  it('a trailing * takes the decoded rest of the path', async () => {
    expect((await httpRequest(port, '/files/a/b%20c.js')).json).toEqual({ rest: 'a/b c.js' });
    expect((await httpRequest(port, '/files')).json).toEqual({ rest: '' });
    expect((await httpRequest(port, '/filesx')).status).toBe(404);
  });
});

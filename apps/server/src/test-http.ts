/** Test helper: raw HTTP requests (the path is sent exactly as given, broken encoding included). */
import { request } from 'node:http';

/** What {@link httpRequest} returns. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** `body` parsed as JSON when the answer is JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Sends `method path` to 127.0.0.1:`port` and reads the whole answer. */
export function httpRequest(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const isJson = String(res.headers['content-type'] ?? '').startsWith('application/json') && body !== '';
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: isJson ? JSON.parse(body) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

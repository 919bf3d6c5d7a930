// Verification overhead with honest volunteers: `swarmgrad serve` (LeNet-5, synthetic data)
// with one trusted worker and V honest volunteer processes (`swarmgrad worker` without the lab
// token), untrusted share 0.3, probation 5, check-rate floor 0.1. Prints one JSON line: the
// trusted samples spent on checks ÷ samples trained, over the whole run and over its second
// half (steady state: every volunteer past probation and at the floor) up to the final audit
// (the last `auditSteps` steps, where every volunteer result is checked), and over the audit.
// Usage: node verification.mjs VOLUNTEERS STEPS
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWARMGRAD = fileURLToPath(new URL('../../apps/server/bin/swarmgrad.js', import.meta.url));
const volunteers = Number(process.argv[2] ?? 3);
const steps = Number(process.argv[3] ?? 120);
const out = mkdtempSync(join(tmpdir(), 'swarmgrad-bench-verify-'));
const args = ['serve', '--model', 'lenet5', '--data', 'synthetic', '--steps', String(steps), '--batch', '128', '--micro-batch', '8', '--eval-every', '0', '--eval-samples', '128',
  '--checkpoint-every', '0', '--port', '0', '--host', '127.0.0.1', '--volunteers', 'verify', '--untrusted-share', '0.3', '--probation-results', '5', '--verify-rate-floor', '0.1', '--json', '--out', out];
const server = spawn(process.execPath, [SWARMGRAD, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
let stdout = '';
server.stdout.on('data', (d) => (stdout += d));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (!existsSync(join(out, 'server.json'))) await sleep(50);
await sleep(100);
const { ws, port } = JSON.parse(readFileSync(join(out, 'server.json'), 'utf8'));
const worker = (token, name) => spawn(process.execPath, [SWARMGRAD, 'worker', '--coordinator', ws, '--backend', 'cpu', '--name', name, ...(token ? ['--token-file', join(out, 'lab-token')] : [])], { stdio: 'ignore' });
const children = [worker(true, 'lab')];
for (let i = 0; i < volunteers; i++) children.push(worker(false, `volunteer-${i}`));
let last;
const exited = new Promise((resolve) => server.on('exit', resolve));
let running = true;
exited.then(() => (running = false));
while (running) {
  try {
    last = await (await fetch(`http://127.0.0.1:${port}/api/runs/current`)).json();
  } catch {
    // the server is going away
  }
  await sleep(250);
}
for (const child of children) child.kill();
const v = last?.verification;
const overhead = v?.overhead ?? [];
const auditSteps = v?.auditSteps ?? 0;
const half = overhead.filter((o) => o.step >= steps / 2 && o.step < steps - auditSteps);
const audit = overhead.filter((o) => o.step >= steps - auditSteps);
const ratio = (rows) => (rows.length ? rows.reduce((a, o) => a + o.shadowSamples, 0) / (rows.length * 128) : NaN);
const untrusted = (rows) => (rows.length ? rows.reduce((a, o) => a + o.uncheckedSamples + o.shadowSamples, 0) / (rows.length * 128) : NaN);
console.log(JSON.stringify({
  volunteers,
  steps,
  overall: v?.totals.overheadFraction ?? NaN,
  steadyState: ratio(half),
  untrustedShareSteady: untrusted(half),
  auditSteps,
  audit: ratio(audit),
  verified: v?.totals.verified ?? 0,
  mismatches: v?.totals.mismatches ?? 0,
  levels: (v?.workers ?? []).map((w) => w.level),
  paramsSha256: JSON.parse(stdout.trim().split('\n').pop() ?? '{}').paramsSha256 ?? null,
}));

/**
 * Every command of the CLI and its flags, in one table: `--help`, the top-level help, the
 * README's flag tables and the parsers of the commands all read it.
 */
import type { CommandSpec, FlagSpec } from './args.js';
import { IMAGE_DATA_FLAGS } from './image-data.js';
import { METRICS_FLAGS } from './run-metrics.js';

/** The environment variable naming the coordinator, for `swarmgrad worker` and the web apps' dev servers. */
export const COORDINATOR_ENV = 'SWARMGRAD_COORDINATOR';

/** `--coordinator` of the commands that dial a coordinator (`worker`, `relay`). */
const COORDINATOR_FLAG = { type: 'string', placeholder: 'ws://HOST:PORT', required: true, env: COORDINATOR_ENV, help: 'the coordinator, ws:// or wss:// (its /ws path or the bare origin)' } as const satisfies FlagSpec;

const BACKENDS = ['auto', 'webgpu', 'wasm', 'cpu', 'wasm-step', 'wasm-fma'] as const;

/** Flags `train` and `serve` share: the run definition, the server and its tokens. */
const runFlags = {
  model: { type: 'string', placeholder: 'NAME|FILE.json', help: 'zoo model (lenet5, alexnet, alexnetSmall, mlp; shaped for the data) or a JSON spec file', default: 'lenet5' },
  data: { type: 'string', placeholder: 'DATA', help: 'mnist (bundled), idx:DIR (any IDX pair), images:DIR (DIR/train/<class>/*.png|jpg), cifar10:DIR, cifar100:DIR or synthetic[:SEED]', default: 'mnist' },
  ...IMAGE_DATA_FLAGS,
  steps: { type: 'int', min: 0, help: 'training steps (overrides --epochs)' },
  epochs: { type: 'number', min: 0, help: 'epochs over the training set', default: 4 },
  batch: { type: 'int', min: 1, help: 'global batch size B per step', default: 128 },
  'micro-batch': { type: 'int', min: 1, help: 'samples per micro-shard m (B must be a multiple)', default: 32 },
  optimizer: { type: 'string', choices: ['adam', 'sgd', 'momentum', 'nesterov', 'adamw'], help: 'optimizer', default: 'adam' },
  lr: { type: 'number', help: 'base learning rate (positive)', default: 0.002 },
  momentum: { type: 'number', help: 'momentum for momentum/nesterov', default: 0.9 },
  'weight-decay': { type: 'number', min: 0, help: 'weight decay', default: 0 },
  schedule: { type: 'string', choices: ['cosine', 'constant', 'step'], help: 'learning-rate schedule: cosine to 0 over the run, step ×0.1 at thirds, constant', default: 'cosine' },
  seed: { type: 'int', min: 0, help: 'seed of initialisation and sampling', default: 1 },
  codec: { type: 'string', choices: ['f32', 'f16', 'int8'], help: 'gradient codec (only f32 keeps steps bitwise deterministic)', default: 'f32' },
  'eval-every': { type: 'int', min: 0, help: 'evaluate on the test set every N steps (0: at the end only)', defaultText: 'once per epoch' },
  'eval-samples': { type: 'int', min: 1, help: 'test samples per evaluation', defaultText: 'all' },
  'checkpoint-every': { type: 'int', min: 0, help: 'checkpoint every N steps (0: at the end only); also at the end and on SIGINT/SIGTERM', default: 100 },
  out: { type: 'string', placeholder: 'DIR', help: 'output folder: checkpoints (newest 3 kept), final.ckpt, run.json, server.json, tokens', defaultText: 'runs/<run-id>' },
  resume: { type: 'boolean', help: "continue the run in --out from its newest readable checkpoint, with the run's own settings" },
  'run-id': { type: 'string', placeholder: 'ID', help: 'id of the run', defaultText: '<model>-<date>-<time>' },
  port: { type: 'int', min: 0, help: 'HTTP + WebSocket port (0: any free port; see server.json)', default: 7070 },
  host: { type: 'string', placeholder: 'ADDRESS', help: 'address to listen on', default: '127.0.0.1' },
  'token-file': { type: 'string', placeholder: 'FILE', help: 'file with the lab token workers present to be trusted (env SWARMGRAD_TOKEN, holding the token itself, wins); without either one is generated into <out>/lab-token' },
  'no-volunteers': { type: 'boolean', help: 'refuse workers without the lab token (AUTH_FAILED) instead of admitting them as untrusted volunteers' },
  volunteers: { type: 'string', choices: ['off', 'verify', 'trust'], help: 'untrusted volunteers: verify (probation, then spot checks by trusted workers; a mismatch bans and rolls back), trust (unchecked; closed labs only) or off (refused)', default: 'verify' },
  'untrusted-share': { type: 'number', min: 0, help: "most of a step's samples handed to untrusted volunteers (0..1; verify mode)", default: 0.5 },
  'verify-rate-floor': { type: 'number', min: 0, help: 'lowest probability that a volunteer result is recomputed by a trusted worker (0 < p <= 1)', default: 0.1 },
  'probation-results': { type: 'int', min: 0, help: 'verified results a new volunteer needs before its results count unchecked', default: 5 },
  'replay-steps': { type: 'int', min: 1, help: 'steps of state kept to roll back and replay after a detected cheater', default: 64 },
  'audit-steps': { type: 'int', min: 0, help: "the run's last N steps check every volunteer result (none counts unchecked), so one still lying near the end is caught before the final checkpoint (0: off)", default: 8 },
  'ban-hours': { type: 'number', min: 0, help: 'how long a caught volunteer (worker id and address) is refused (0: for good); kept in <out>/bans.json', default: 24 },
  'admin-token-file': { type: 'string', placeholder: 'FILE', help: 'file with the dashboard admin token: pause, resume, stop, learning rate (env SWARMGRAD_ADMIN_TOKEN, holding the token itself, wins); without either one is generated into <out>/admin-token' },
  'params-delta': { type: 'boolean', help: 'send workers that support it the lossless xor-deflate delta of their last params instead of the full vector (about 2/3 of the bytes under Adam; costs the coordinator one encoding per step): for volunteers on slow links' },
  json: { type: 'boolean', help: 'print the final summary as one JSON line on stdout' },
  ...METRICS_FLAGS,
  'keep-serving': { type: 'boolean', help: 'after the run, keep serving the dashboard (final state, insights, past runs) until Ctrl-C' },
} as const satisfies Record<string, FlagSpec>;

/** `swarmgrad train`: coordinator + local workers + web apps in one process. */
export const TRAIN = {
  name: 'train',
  summary: 'Train a model: a coordinator, local Node workers (restarted when one dies) and the dashboard in one process.',
  flags: {
    ...runFlags,
    workers: { type: 'int', min: 0, help: 'local Node worker processes to start (kept alive)', default: 2 },
    backend: { type: 'string', choices: BACKENDS, help: 'backend of the local workers (auto benchmarks webgpu, wasm-fma (the compiled training step with fused multiply-add, where the CPU fuses; else wasm-step, the same without), wasm and cpu and keeps the fastest)', default: 'auto' },
    threads: { type: 'int', min: 1, max: 64, help: 'threads of the compiled step (wasm-fma, wasm-step) in each local worker (see swarmgrad worker --threads)', defaultText: '1, or env SWARMGRAD_STEP_THREADS' },
    'worker-slowdown-ms': { type: 'int', min: 0, help: 'testing: delay every task of local worker 1 by this much' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad serve`: the same run definition, waiting for lab workers and volunteers. */
export const SERVE = {
  name: 'serve',
  summary: 'Coordinate a run and wait for workers (lab machines: swarmgrad worker; volunteers: the web page).',
  flags: { ...runFlags, host: { ...runFlags.host, default: '0.0.0.0' } },
} as const satisfies CommandSpec;

/** `swarmgrad worker`: one Node worker. */
export const WORKER = {
  name: 'worker',
  summary: 'Compute gradients for a coordinator until this process is stopped (SIGTERM: finish or hand back the task, say bye); reconnects with backoff, also after a run finishes, ready for the next.',
  flags: {
    coordinator: COORDINATOR_FLAG,
    'token-file': { type: 'string', placeholder: 'FILE', help: 'file holding the lab token (else env SWARMGRAD_TOKEN, holding the token itself); without one the worker joins as an untrusted volunteer' },
    backend: { type: 'string', choices: BACKENDS, help: 'compute backend; auto benchmarks webgpu, wasm-fma (the compiled training step with fused multiply-add, where the CPU fuses; else wasm-step, the same without), wasm and cpu and keeps the fastest', default: 'auto' },
    name: { type: 'string', placeholder: 'NAME', help: 'label shown on the dashboard', defaultText: 'the host name' },
    threads: { type: 'int', min: 1, max: 64, help: 'threads of the compiled step (wasm-fma, wasm-step) in this worker; they share each task in 16-sample chunks (a task of n samples keeps at most n/16 busy)', defaultText: '1, or env SWARMGRAD_STEP_THREADS' },
    'slowdown-ms': { type: 'int', min: 0, help: 'testing: delay every task by this much' },
    'exit-with-parent': { type: 'boolean', help: 'exit when the parent process goes away (set by swarmgrad train for its local workers)' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad eval`: accuracy, loss and confusion matrix of a checkpoint. */
export const EVAL = {
  name: 'eval',
  summary: 'Evaluate a checkpoint on a test set: accuracy, loss, confusion matrix.',
  flags: {
    checkpoint: { type: 'string', placeholder: 'FILE', required: true, help: 'checkpoint file (e.g. runs/<id>/final.ckpt)' },
    data: { type: 'string', placeholder: 'DATA', help: 'mnist, idx:DIR, images:DIR (its test/ or val/ folder), cifar10:DIR, cifar100:DIR or synthetic[:SEED]', defaultText: "the run's dataset when it is mnist or synthetic; a run on a folder needs --data" },
    strict: IMAGE_DATA_FLAGS.strict,
    backend: { type: 'string', choices: ['wasm', 'cpu', 'webgpu'], help: 'compute backend', default: 'wasm' },
    json: { type: 'boolean', help: 'print one JSON line: accuracy, loss, confusion, paramsSha256' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad inspect FILE`: what a checkpoint holds. */
export const INSPECT = {
  name: 'inspect',
  summary: "Show what a checkpoint holds: run spec, step, optimizer and paramsSha256 (SHA-256 of the raw parameter bytes).",
  positional: { name: 'FILE', help: 'checkpoint file (e.g. runs/<id>/final.ckpt)', required: true },
  flags: {
    json: { type: 'boolean', help: 'print one JSON line' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad export`: a checkpoint as ONNX or a TensorFlow.js LayersModel. */
export const EXPORT = {
  name: 'export',
  summary: 'Export a checkpoint as ONNX (input "input" NHWC float32 in [0, 1], output "probabilities") or a TensorFlow.js LayersModel.',
  flags: {
    checkpoint: { type: 'string', placeholder: 'FILE', required: true, help: 'checkpoint file (e.g. runs/<id>/final.ckpt)' },
    format: { type: 'string', choices: ['onnx', 'tfjs'], help: 'onnx: one .onnx file; tfjs: a folder with model.json + weights for tf.loadLayersModel', default: 'onnx' },
    out: { type: 'string', placeholder: 'PATH', help: 'output: a .onnx file (onnx) or a folder (tfjs)', defaultText: 'model.onnx | model-tfjs' },
    json: { type: 'boolean', help: 'print one JSON line: format, files, bytes, classNames' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad predict IMAGE...`: the class and probabilities of image files. */
export const PREDICT = {
  name: 'predict',
  summary: 'Classify image files (PNG, JPEG) with a checkpoint; prints the class and the probabilities of each, in order.',
  positional: { name: 'IMAGE', help: 'image files (PNG or JPEG), resized and normalised as the run was trained', required: true, variadic: true },
  flags: {
    checkpoint: { type: 'string', placeholder: 'FILE', required: true, help: 'checkpoint file (e.g. runs/<id>/final.ckpt)' },
    backend: { type: 'string', choices: ['wasm', 'cpu', 'webgpu'], help: 'compute backend', default: 'wasm' },
    json: { type: 'boolean', help: 'print a JSON array of { file, class, probabilities }' },
  },
} as const satisfies CommandSpec;

/** `swarmgrad relay`: one trusted worker toward a coordinator, a coordinator for nearby workers. */
export const RELAY = {
  name: 'relay',
  summary: 'Relay a coordinator to nearby workers: one trusted worker upstream, a coordinator for the workers that connect here.',
  flags: {
    coordinator: COORDINATOR_FLAG,
    'token-file': { type: 'string', placeholder: 'FILE', help: 'file holding the lab token the relay presents upstream (else env SWARMGRAD_TOKEN); one of them is required: the coordinator must trust the relay' },
    'worker-token-file': { type: 'string', placeholder: 'FILE', help: 'file holding the token workers must present to this relay (else env SWARMGRAD_RELAY_WORKER_TOKEN)', defaultText: 'the lab token' },
    port: { type: 'int', min: 0, help: 'port workers connect to (0: any free port)', default: 7071 },
    host: { type: 'string', placeholder: 'ADDRESS', help: 'address to listen on', default: '0.0.0.0' },
    name: { type: 'string', placeholder: 'NAME', help: 'label shown on the coordinator dashboard', defaultText: 'relay@<host name>' },
    'full-params': { type: 'boolean', help: 'send workers the full parameters every step, not the lossless xor-deflate delta of consecutive steps' },
    json: { type: 'boolean', help: 'print a JSON line { listening } once listening and a JSON summary on stdout at the end' },
  },
} as const satisfies CommandSpec;

/** Every command, in the order the top-level help lists them. */
export const COMMANDS: readonly CommandSpec[] = [TRAIN, SERVE, WORKER, EVAL, INSPECT, EXPORT, PREDICT, RELAY];

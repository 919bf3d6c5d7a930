/**
 * Bring your own images, take your model out — end to end through the CLI: a generated colour
 * image folder → `train --model alexnetSmall --data images:DIR --tensorboard` (the worked
 * example), then `eval`, `predict`, `export --format onnx` run with onnxruntime-web, and the
 * curves (metrics.jsonl, TensorBoard event files) read back.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { decodeEvent, readRecords } from '@swarmgrad/export/tensorboard';
import { beforeAll, describe, expect, it } from 'vitest';
import { launchSwarmgrad, runSwarmgrad, runSwarmgradSync, tempDir, type RunResult } from '../support/launch.js';
import { waitFor } from '../support/wait.js';
import { CLASS_NAMES, writeImageSet } from './image-set.js';

const cli = (args: string[]) => runSwarmgradSync(args);

describe('the worked example: alexnetSmall on a generated colour image folder', () => {
  const dir = tempDir('images');
  const tb = tempDir('tb');
  let result: RunResult;

  beforeAll(async () => {
    // 6 classes × (400 train + 80 test) 24×24 colour images = 2,880 files (PNG, some JPEG).
    writeImageSet(dir, { perClass: 400, testPerClass: 80, size: 24, seed: 5 });
    result = await runSwarmgrad(['--model', 'alexnetSmall', '--data', `images:${dir}`, '--augment', 'flip', '--epochs', '2', '--batch', '64', '--micro-batch', '16', '--workers', '2', '--port', '0', '--tensorboard', tb, '--histogram-every', '10']);
  }, 600_000);

  it('trains well above chance (1/6) and records class names and normalisation in the run', () => {
    console.log(`worked example: alexnetSmall, 2,400 train / 480 test 24×24 images, 6 classes, 2 epochs: test accuracy ${(result.testAccuracy! * 100).toFixed(2)}% after ${result.steps} steps`);
    expect(result.status).toBe('finished');
    expect(result.testAccuracy).toBeGreaterThan(0.6);
    const run = JSON.parse(readFileSync(join(result.out, 'run.json'), 'utf8')) as { config: { dataset: Record<string, unknown>; modelSpec: { inputShape: number[] } } };
    expect(run.config.dataset.classNames).toEqual(CLASS_NAMES);
    expect(run.config.modelSpec.inputShape).toEqual([24, 24, 3]);
    const normalization = run.config.dataset.normalization as { mean: number[]; std: number[] };
    expect(normalization.mean).toHaveLength(3);
    expect(normalization.std.every((s) => s > 0.05)).toBe(true);
    expect(readdirSync(join(dir, '.swarmgrad-cache')).filter((f) => f.endsWith('.bin'))).toHaveLength(2);
  });

  it('eval reproduces the final test accuracy with class names and per-class precision/recall', () => {
    // a dataset path inside a checkpoint is never followed: the test set is named on the command line
    const r = cli(['eval', '--checkpoint', result.checkpoint!, '--data', `images:${dir}`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { accuracy: number; classNames: string[]; confusion: number[][]; perClass: { class: string; precision: number; recall: number; support: number }[] };
    expect(report.accuracy).toBeCloseTo(result.testAccuracy!, 10);
    expect(report.classNames).toEqual(CLASS_NAMES);
    expect(report.perClass.map((c) => c.support)).toEqual(CLASS_NAMES.map(() => 80));
    const k = 2;
    const column = report.confusion.reduce((sum, row) => sum + row[k]!, 0);
    expect(report.perClass[k]!.precision).toBeCloseTo(report.confusion[k]![k]! / column, 12);
    expect(report.perClass[k]!.recall).toBeCloseTo(report.confusion[k]![k]! / 80, 12);
  });

  it('predict classifies files in the order given; the ONNX export agrees with it within 1e-4', async () => {
    const files = CLASS_NAMES.map((name) => join(dir, 'test', name, '00007.png'));
    const r = cli(['predict', '--checkpoint', result.checkpoint!, '--json', ...files]);
    expect(r.code, r.stderr).toBe(0);
    const predictions = JSON.parse(r.stdout) as { file: string; class: string; probabilities: Record<string, number> }[];
    expect(predictions.map((p) => p.file)).toEqual(files);
    for (const p of predictions) expect(Object.values(p.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(predictions.filter((p, i) => p.class === CLASS_NAMES[i]).length).toBeGreaterThanOrEqual(4);

    const onnxFile = join(tempDir('onnx'), 'model.onnx');
    const e = cli(['export', '--checkpoint', result.checkpoint!, '--format', 'onnx', '--out', onnxFile]);
    expect(e.code, e.stderr).toBe(0);
    // Feed ONNX the plain pixels / 255 of the same files; the normalisation is in the graph.
    const { PNG } = await import('pngjs');
    const pixels = new Float32Array(files.length * 24 * 24 * 3);
    files.forEach((file, n) => {
      const png = PNG.sync.read(readFileSync(file));
      for (let i = 0; i < 24 * 24; i++) for (let c = 0; c < 3; c++) pixels[(n * 24 * 24 + i) * 3 + c] = png.data[i * 4 + c]! / 255;
    });
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(readFileSync(onnxFile));
    const out = (await session.run({ input: new ort.Tensor('float32', pixels, [files.length, 24, 24, 3]) })).probabilities!.data as Float32Array;
    let worst = 0;
    predictions.forEach((p, n) => CLASS_NAMES.forEach((name, k) => (worst = Math.max(worst, Math.abs(out[n * 6 + k]! - p.probabilities[name]!)))));
    console.log(`ONNX (onnxruntime-web) vs swarmgrad predict on the worked example: max |Δp| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    const tfjsDir = tempDir('tfjs');
    expect(cli(['export', '--checkpoint', result.checkpoint!, '--format', 'tfjs', '--out', tfjsDir]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(tfjsDir, 'model.json'), 'utf8')).userDefinedMetadata.classNames).toEqual(CLASS_NAMES);
  });

  it('metrics.jsonl and the TensorBoard event file hold every step and evaluation', () => {
    const lines = readFileSync(join(result.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; step: number; loss: number; accuracy?: number; cpuMs?: number });
    const steps = lines.filter((l) => l.kind === 'step');
    const evals = lines.filter((l) => l.kind === 'eval');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: result.steps }, (_, i) => i + 1));
    // The coordinator's CPU time: positive and never decreasing.
    expect(steps[0]!.cpuMs).toBeGreaterThan(0);
    steps.slice(1).forEach((s, i) => expect(s.cpuMs).toBeGreaterThanOrEqual(steps[i]!.cpuMs!));
    expect(evals.at(-1)!.accuracy).toBe(result.testAccuracy);
    const files = readdirSync(tb);
    expect(files).toHaveLength(1);
    const events = readRecords(new Uint8Array(readFileSync(join(tb, files[0]!)))).map(decodeEvent);
    const values = events.flatMap((e) => (e.summary?.value ?? []).map((v) => ({ step: e.step ?? 0, ...v })));
    const losses = values.filter((v) => v.tag === 'train/loss');
    expect(losses.map((v) => v.step)).toEqual(steps.map((s) => s.step));
    losses.forEach((v, i) => expect(v.simple_value).toBe(Math.fround(steps[i]!.loss)));
    expect(values.filter((v) => v.tag === 'test/accuracy').at(-1)!.simple_value).toBe(Math.fround(result.testAccuracy!));
    for (const tag of ['train/learning_rate', 'train/samples_per_second', 'train/workers']) expect(values.filter((v) => v.tag === tag)).toHaveLength(result.steps);
    const histograms = values.filter((v) => v.histo);
    expect(histograms.length).toBe(Math.floor(result.steps / 10) * 16); // 8 layers with parameters × kernel and bias
    expect(histograms[0]!.histo!.num).toBe(5 * 5 * 3 * 32);
  });
});

describe('image data through the CLI: determinism, CIFAR, bad input', () => {
  const dir = tempDir('images-small');
  beforeAll(() => writeImageSet(dir, { perClass: 24, testPerClass: 4, size: 12, seed: 9 }));
  const run = ['--model', 'lenet5', '--data', `images:${dir}`, '--augment', 'crop:2,flip', '--steps', '8', '--batch', '32', '--micro-batch', '8', '--seed', '3', '--eval-every', '0', '--port', '0', '--backend', 'wasm'];

  // One backend (wasm) for every worker: the determinism contract is per backend.
  it('augmented training gives the same parameters for 1 and 3 workers, and different ones without augmentation', async () => {
    const [one, three, plain] = [await runSwarmgrad([...run, '--workers', '1']), await runSwarmgrad([...run, '--workers', '3']), await runSwarmgrad([...run.slice(0, 4), ...run.slice(6), '--workers', '1'])];
    expect(three.paramsSha256).toBe(one.paramsSha256);
    expect(plain.paramsSha256).not.toBe(one.paramsSha256);
    // Killed after its first checkpoint and resumed: the same parameters again.
    const out = tempDir('images-resume');
    const first = launchSwarmgrad(['train', ...run, '--workers', '1', '--checkpoint-every', '3', '--worker-slowdown-ms', '400'], { out, json: true });
    await waitFor(() => readdirSync(out).filter((f) => f.endsWith('.swgckpt')).length, (n) => n >= 1, { timeoutMs: 240_000, what: 'a checkpoint' });
    first.child.kill('SIGTERM');
    await first.exited;
    const resumed = await launchSwarmgrad(['train', '--resume', '--workers', '1', '--port', '0', '--backend', 'wasm'], { out, json: true }).result;
    expect(resumed.steps).toBe(8);
    expect(resumed.paramsSha256).toBe(one.paramsSha256);
  });

  it('cifar10:DIR trains alexnetSmall at 32×32×3 with 10 classes; alexnet says which sizes fit', async () => {
    const cifar = tempDir('cifar');
    const record = (label: number, n: number) => {
      const out = new Uint8Array(3073);
      out[0] = label;
      for (let i = 1; i < 3073; i++) out[i] = (label * 25 + ((i * (n + 3)) % 40)) & 255;
      return out;
    };
    for (let b = 1; b <= 5; b++) writeFileSync(join(cifar, `data_batch_${b}.bin`), Buffer.concat(Array.from({ length: 20 }, (_, n) => record(n % 10, n + b))));
    writeFileSync(join(cifar, 'test_batch.bin'), Buffer.concat(Array.from({ length: 20 }, (_, n) => record(n % 10, n))));
    const r = await runSwarmgrad(['--model', 'alexnetSmall', '--data', `cifar10:${cifar}`, '--steps', '2', '--batch', '16', '--micro-batch', '8', '--workers', '1', '--port', '0']);
    const config = JSON.parse(readFileSync(join(r.out, 'run.json'), 'utf8')).config as { modelSpec: { inputShape: number[]; layers: { units?: number }[] }; dataset: { classNames: string[] } };
    expect(config.modelSpec.inputShape).toEqual([32, 32, 3]);
    expect(config.modelSpec.layers.at(-1)!.units).toBe(10);
    expect(config.dataset.classNames[0]).toBe('airplane');
    const bad = cli(['train', '--model', 'alexnet', '--data', `cifar10:${cifar}`, '--steps', '1', '--port', '0', '--out', tempDir('x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/227×227×3.*alexnetSmall/);
    writeFileSync(join(cifar, 'test_batch.bin'), Buffer.alloc(3073 * 2 + 5));
    const cut = cli(['eval', '--checkpoint', r.checkpoint!, '--data', `cifar10:${cifar}`]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/TRUNCATED: .*test_batch\.bin/);
  });

  it('bad image folders stop with stable codes; a corrupt file is skipped with its name, or stops under --strict', () => {
    const broken = tempDir('images-bad');
    writeImageSet(broken, { perClass: 4, testPerClass: 1, size: 8 });
    writeFileSync(join(broken, 'train', CLASS_NAMES[0]!, 'zz-broken.png'), 'definitely not a png');
    const args = ['--model', 'lenet5', '--steps', '1', '--batch', '8', '--micro-batch', '8', '--workers', '1', '--port', '0'];
    const skipped = cli(['train', ...args, '--data', `images:${broken}`, '--image-size', '12x12', '--out', tempDir('o'), '--json']);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toMatch(/skipped .*zz-broken\.png/);
    expect(skipped.stderr).toMatch(/skipped 1 of 25 images/);
    const strict = cli(['train', ...args, '--data', `images:${broken}`, '--image-size', '12x12', '--strict', '--out', tempDir('o')]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/CORRUPT_IMAGE: .*zz-broken\.png/);
    mkdirSync(join(broken, 'train', 'empty-class'));
    const empty = cli(['train', ...args, '--data', `images:${broken}`, '--out', tempDir('o')]);
    expect(empty.stderr).toMatch(/EMPTY_CLASS: .*empty-class/);
    const none = cli(['train', ...args, '--data', `images:${tempDir('nothing')}`, '--out', tempDir('o')]);
    expect(none.stderr).toMatch(/NOT_FOUND: .*train/);
    expect(existsSync(join(broken, '.swarmgrad-cache'))).toBe(true);
  });
});

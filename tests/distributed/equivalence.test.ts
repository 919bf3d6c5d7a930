import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { paramsSha256, type RunConfig } from '@swarmgrad/coordinator';
import { BatchSchedule } from '@swarmgrad/data';
import { loadMnist } from '@swarmgrad/data/node';
import { createModel, createOptimizer, fusedMultiplyAdd, sumBlock, treeWidth, useBackend } from '@swarmgrad/nn';
import { describe, expect, it } from 'vitest';
import { BASE_RUN, runSwarmgrad } from '../support/launch.js';

// Issue #3, test 1: 20 steps of LeNet-5 on the cpu backend give the same parameters with 1
// worker, with 3 workers, and in a single process that follows the determinism contract.
describe('equivalence', () => {
  it('1 worker, 3 workers and the single-process reference end with the same paramsSha256', async () => {
    const one = await runSwarmgrad([...BASE_RUN, '--workers', '1', '--backend', 'cpu']);
    // The 3 workers get params deltas (exact by construction; the hash shows it).
    const three = await runSwarmgrad([...BASE_RUN, '--workers', '3', '--backend', 'cpu', '--params-delta']);
    expect(one.status).toBe('finished');
    expect(one.steps).toBe(20);
    expect(three.paramsSha256).toBe(one.paramsSha256);

    // The reference: same config (read back from the run), same micro-shards, same tree.
    const { config } = JSON.parse(readFileSync(join(one.out, 'run.json'), 'utf8')) as { config: RunConfig };
    await useBackend('cpu');
    const data = await loadMnist({ split: 'train' });
    const model = createModel(config.modelSpec);
    const params = model.initParams(config.seed);
    const optimizer = createOptimizer(config.optimizer, model.paramCount);
    const schedule = new BatchSchedule({ seed: config.seed, datasetLength: data.length, batchSize: config.batchSize, microShardSize: config.microShardSize });
    const shards = config.batchSize / config.microShardSize;
    for (let step = 0; step < config.totalSteps; step++) {
      const micro = schedule.microShards(step);
      const root = await sumBlock({ start: 0, count: treeWidth(shards) }, shards, async (i) => {
        const { x, y } = data.batch(micro[i]!);
        return model.gradients(params, x, y).then((g) => ({ grads: g.grads, lossSum: g.lossSum, count: g.count }));
      });
      const grad = new Float32Array(root.grads.length);
      for (let i = 0; i < grad.length; i++) grad[i] = root.grads[i]! / config.batchSize;
      optimizer.step(params, grad);
    }
    expect(paramsSha256(params)).toBe(one.paramsSha256);
  });

  it.each(['wasm-step', 'wasm-fma'])('on %s: 1 worker of 1 thread and 2 workers of 3 threads end with the same paramsSha256', async (backend) => {
    if (backend === 'wasm-fma' && !(await fusedMultiplyAdd()).ok) {
      // No fused multiply-add here: the backend refuses to start (packages/nn tests that).
      return;
    }
    // Micro-shards of 32 samples: two 16-sample chunks per gradient call for the threads to share.
    const run = BASE_RUN.map((arg, i) => (BASE_RUN[i - 1] === '--micro-batch' ? '32' : arg));
    const one = await runSwarmgrad([...run, '--workers', '1', '--backend', backend]);
    const threaded = await runSwarmgrad([...run, '--workers', '2', '--threads', '3', '--backend', backend]);
    expect(one.status).toBe('finished');
    expect(threaded.status).toBe('finished');
    expect(threaded.paramsSha256).toBe(one.paramsSha256);
  });

});

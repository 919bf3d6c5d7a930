/**
 * `@swarmgrad/nn-core`: everything of swarmgrad's model library that needs no tfjs — specs,
 * shape inference, the flat parameter layout and initialisation, the zoo, optimizers,
 * schedules, the seed lecture's signal examples — and the one home of the determinism
 * contract: the seeded PRNG, the epoch permutation, the batch of a step, its micro-shards and
 * the fixed summation tree. The coordinator and the dashboard use it so they never load tfjs;
 * `@swarmgrad/nn` re-exports all of it (also as `@swarmgrad/nn/core`).
 *
 * @packageDocumentation
 */
export { NnError, NnErrorCode } from './errors.js';
export type * from './spec.js';
export { LAYER_TYPES } from './spec.js';
export { planModel, summarize, formatSummary, type ModelPlan, type LayerPlan, type ParamTensorInfo, type SummaryRow } from './shapes.js';
export { initParams, layerViews } from './params.js';
export { Prng, Xoshiro128, checkUint32, mix32, splitmix32 } from './prng.js';
export {
  BatchSchedule,
  batchForStep,
  epochPermutation,
  microShards,
  shardRange,
  type BatchScheduleOptions,
  type ShardRange,
  type StepBatch,
} from './sampling.js';
export { zoo, zooModel, lenet5, alexnet, alexnetSmall, mlp, type ZooName } from './zoo.js';
export { addNodes, combineNodes, isAlignedBlock, sumBlock, treeWidth, type ShardBlock, type TreeValue } from './tree-sum.js';
export * from './optimizers.js';
export * from './schedules.js';
export * from './signal.js';

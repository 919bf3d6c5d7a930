/**
 * `@swarmgrad/nn/core`: everything of `@swarmgrad/nn` that needs no tfjs — specs, shape
 * inference, the flat parameter layout and initialisation, the zoo, optimizers, schedules,
 * the determinism contract's tree sum and the seed lecture's signal examples. The
 * coordinator uses this entry so it never loads tfjs.
 */
export { NnError, NnErrorCode } from './errors.js';
export type * from './spec.js';
export { LAYER_TYPES } from './spec.js';
export { planModel, summarize, formatSummary, type ModelPlan, type LayerPlan, type ParamTensorInfo, type SummaryRow } from './shapes.js';
export { initParams, layerViews } from './params.js';
export { Xoshiro128 } from './prng.js';
export { zoo, zooModel, lenet5, alexnet, alexnetSmall, mlp, type ZooName } from './zoo.js';
export { addNodes, combineNodes, isAlignedBlock, sumBlock, treeWidth, type ShardBlock, type TreeValue } from './tree-sum.js';
export * from './optimizers.js';
export * from './schedules.js';
export * from './signal.js';

/**
 * `@swarmgrad/data` — browser-safe entry: errors, the IDX codec, the dataset contract, synthetic
 * datasets, the seeded PRNG and the sampling schedule. Nothing here imports a Node module.
 * File and MNIST loaders live in `@swarmgrad/data/node`.
 *
 * @packageDocumentation
 */
export { DataError, DataErrorCode, isDataError } from './errors.js';
export {
  IDX_TYPE_CODES,
  decodeIdx,
  encodeIdx,
  gunzipWeb,
  idxDtypeOf,
  isGzip,
  parseIdx,
  type IdxArray,
  type IdxDtype,
  type IdxTensor,
} from './idx.js';
export {
  ImageDataset,
  checkIndices,
  imageDatasetFromIdx,
  subsetDataset,
  type Batch,
  type Dataset,
  type ImageDatasetFromIdxOptions,
  type ImageDatasetOptions,
} from './dataset.js';
export {
  SyntheticImageDataset,
  syntheticDataset,
  syntheticRegression,
  type RegressionBatch,
  type RegressionDataset,
  type SyntheticDatasetOptions,
  type SyntheticRegressionOptions,
} from './synthetic.js';
/**
 * The seeded PRNG and the sampling schedule (epoch permutation → batch → micro-shards) are the
 * determinism contract; their one implementation lives in `@swarmgrad/nn-core` and is
 * re-exported here under the names this package has always had.
 */
export {
  Prng,
  checkUint32,
  mix32,
  splitmix32,
  BatchSchedule,
  batchForStep,
  epochPermutation,
  microShards,
  shardRange,
  type BatchScheduleOptions,
  type ShardRange,
  type StepBatch,
} from '@swarmgrad/nn-core';

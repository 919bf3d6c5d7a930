/**
 * @swarmgrad/nn — model specs, layers, losses and gradients on tfjs-core (cpu, wasm and
 * WebGPU, with the project's own kernels where tfjs lacks one or is slow), the flat parameter
 * layout, optimizers and the seed lecture's convolution examples. The tfjs-free part is also
 * available alone as `@swarmgrad/nn-core` (re-exported here and as `@swarmgrad/nn/core`).
 */
export * from './core.js';
export { createModel, type Model, type GradientResult, type EvaluationResult, type LayerActivation, type Targets } from './model.js';
export { useBackend, probeBackends, releaseBackend, backendNames, optInBackendNames, type BackendName, type OptInBackendName, type BackendInfo, type BackendProbe, type UseBackendOptions } from './backend.js';
export { setStepThreads, stepThreads, CHUNK_SAMPLES } from './fast/pool.js';
export { fusedMultiplyAdd } from './kernels/simd-gemm.js';
export { ownKernels, registerOwnKernels, unregisterOwnKernels } from './kernels/register.js';

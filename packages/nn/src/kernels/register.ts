import { findBackend, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import type { BackendName } from '../backend.js';
import { batchMatMulCpuConfig, batchMatMulWasmConfig } from './BatchMatMul.js';
import { conv2DCpuConfig } from './Conv2D.js';
import { conv2DBackpropFilterCpuConfig, conv2DBackpropFilterWasmConfig } from './Conv2DBackpropFilter.js';
import { conv2DBackpropInputCpuConfig, conv2DBackpropInputWasmConfig } from './Conv2DBackpropInput.js';
import { maxPoolGradCpuConfig, maxPoolGradWasmConfig } from './MaxPoolGrad.js';
import { stockKernels } from './stock.js';
import { addCpuConfig, multiplyCpuConfig, reluCpuConfig, stepCpuConfig } from './elementwise.js';
import { sumCpuConfig, sumWasmConfig } from './Sum.js';

/**
 * The project's own tfjs kernels, per backend: the one list that registration reads.
 * See KERNELS.md in the package root for why each exists and how it was measured.
 */
export const ownKernels: Readonly<Record<BackendName, readonly KernelConfig[]>> = {
  cpu: [conv2DBackpropFilterCpuConfig, conv2DCpuConfig, conv2DBackpropInputCpuConfig, maxPoolGradCpuConfig, batchMatMulCpuConfig, sumCpuConfig, addCpuConfig, multiplyCpuConfig, reluCpuConfig, stepCpuConfig],
  wasm: [conv2DBackpropFilterWasmConfig, conv2DBackpropInputWasmConfig, maxPoolGradWasmConfig, batchMatMulWasmConfig, sumWasmConfig],
  webgpu: [],
};

/**
 * Registers the project's kernels for `backendName` in tfjs's global kernel registry,
 * replacing stock kernels of the same name. Idempotent. Call it after the backend package
 * has been imported (importing a backend registers its stock kernels, which would
 * overwrite these). Returns the names of the kernels now provided by the project.
 */
export function registerOwnKernels(backendName: BackendName): string[] {
  for (const config of ownKernels[backendName]) {
    const current = getKernel(config.kernelName, backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    const key = `${backendName}/${config.kernelName}`;
    if (!stockKernels.has(key)) stockKernels.set(key, current);
    if (current !== undefined) unregisterKernel(config.kernelName, backendName);
    registerKernel(config);
  }
  return ownKernels[backendName].map((config) => config.kernelName);
}

/**
 * Undoes {@link registerOwnKernels}: the stock kernels it replaced come back, kernels that
 * tfjs lacks are removed. For comparisons and benchmarks against stock tfjs.
 */
export function unregisterOwnKernels(backendName: BackendName): void {
  for (const config of ownKernels[backendName]) {
    const current = getKernel(config.kernelName, backendName);
    if (current?.kernelFunc !== config.kernelFunc) continue;
    unregisterKernel(config.kernelName, backendName);
    const key = `${backendName}/${config.kernelName}`;
    const stock = stockKernels.get(key);
    stockKernels.delete(key);
    if (stock === undefined) continue;
    registerKernel(stock);
    // tfjs runs setup functions when a backend starts; a stock kernel that was replaced
    // before its backend started has never been set up (wasm kernels bind their C++ here).
    const backend = findBackend(backendName);
    if (backend !== null) stock.setupFunc?.(backend);
  }
}

import type { KernelConfig } from '@tensorflow/tfjs-core';

/**
 * The stock tfjs kernels that project kernels replaced, keyed `backend/kernel`. Filled by
 * `registerOwnKernels`; read by project kernels that delegate part of their work to the
 * kernel they replace, and by `unregisterOwnKernels` to put it back.
 */
export const stockKernels = new Map<string, KernelConfig | undefined>();

/** The stock kernel `kernelName` of `backendName` that a project kernel replaced, if any. */
export function stockKernel(backendName: string, kernelName: string): KernelConfig | undefined {
  return stockKernels.get(`${backendName}/${kernelName}`);
}

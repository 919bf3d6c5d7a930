/** The WebAssembly binary writer lives in `@swarmgrad/nn-core` (its Adam update uses it too). */
export * from '@swarmgrad/nn-core/wasm-builder';

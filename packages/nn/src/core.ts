/**
 * `@swarmgrad/nn/core`: the tfjs-free part of `@swarmgrad/nn`, which lives in its own package
 * `@swarmgrad/nn-core` and is re-exported here unchanged, so imports of this entry keep
 * working. New code that needs no tfjs should depend on `@swarmgrad/nn-core` directly.
 */
export * from '@swarmgrad/nn-core';

#!/usr/bin/env -S node --initial-old-space-size=128
// The swarmgrad CLI. Built sources live in ../dist (npm run build).
//
// The flag on the first line (kept equal to NODE_HEAP_FLAG in src/local-workers.ts, which a
// test checks) starts V8's old generation at 128 MB. V8 counts the ArrayBuffers a process
// allocates since its last full collection against that generation's limit; a coordinator
// or worker allocates 2–3 MB of frames a step, so with V8's small default a full collection
// ran every ~8 steps and cost the coordinator ~2 ms of CPU a step. `node swarmgrad.js …`
// skips this line: pass the flag yourself there.
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`swarmgrad: ${error?.stack ?? error}`);
    process.exitCode = 1;
  },
);

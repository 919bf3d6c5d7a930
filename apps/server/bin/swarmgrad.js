#!/usr/bin/env node
// The swarmgrad CLI. Built sources live in ../dist (npm run build).
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

// Rewrites the generated flag tables of README.md from src/commands.ts (build first).
import { readFileSync, writeFileSync } from 'node:fs';
import { updateReadme } from '../dist/readme.js';

const file = new URL('../README.md', import.meta.url);
writeFileSync(file, updateReadme(readFileSync(file, 'utf8')));

/** Writes docs/configuration.md from the config schema (npm run docs:config). */
import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../src/config/docs.js';

const file = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(file, renderConfigDocs());
console.log(`wrote ${file.pathname}`);

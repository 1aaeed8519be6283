#!/usr/bin/env node
// The `aos` command: runs the TypeScript sources through the tsx loader (see docs/operations.md).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');

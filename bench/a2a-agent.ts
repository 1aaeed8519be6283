/**
 * The A2A agent of bench/a2a.ts: an agent of the A2A tests (test/a2a-agents.ts, the official SDK
 * server on express, JSON-RPC and HTTP+JSON) that answers at once, in a process of its own. Prints
 * {"port":N} on stdout once listening.
 */
import type { Test } from 'tap';
import { startA2aAgent } from '../test/a2a-agents.js';

const noTeardown = { teardown() {} } as unknown as Test;
const agent = await startA2aAgent(noTeardown, 'bench-callee', async (text) => `done: ${text}`);
// The fixture keeps every request's headers for the tests' assertions: a bench does not need them.
agent.seen.push = () => 0;
console.log(JSON.stringify({ port: Number(new URL(agent.url).port) }));
process.on('SIGTERM', () => process.exit(0));

/**
 * The 2026-07-28 MCP server of bench/mcp.ts: the raw stateless server of the tests
 * (test/mcp-stateless-server.ts) in a process of its own. Prints {"port":N} on stdout once listening.
 */
import { startStatelessServer } from '../test/mcp-stateless-server.js';

const server = await startStatelessServer({ ttlMs: 60_000, cacheScope: 'public' });
// The fixture keeps every request for the tests' assertions: a bench does not need them.
server.requests.push = () => 0;
console.log(JSON.stringify({ port: Number(new URL(server.url).port) }));
process.on('SIGTERM', () => process.exit(0));

/**
 * The MCP server of bench/tools.ts: the official SDK's McpServer over Streamable HTTP (sessions,
 * SSE answers as the SDK sends them by default; `--json` for JSON answers), with a 40-tool list
 * and an `echo` tool. Prints {"port":N} on stdout once listening.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const json = process.argv.includes('--json');
const transports = new Map<string, StreamableHTTPServerTransport>();

function build(): McpServer {
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes text', inputSchema: { text: z.string().max(1000), times: z.number().int().min(1).max(3).optional() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  for (let i = 0; i < 39; i++) {
    server.registerTool(`tool_${i}`, { description: `Filler tool ${i}`, inputSchema: { q: z.string(), limit: z.number().optional() } }, async ({ q }) => ({ content: [{ type: 'text', text: q }] }));
  }
  return server;
}

const http = createServer(async (req, res) => {
  let body: unknown;
  if (req.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }
  const sid = req.headers['mcp-session-id'];
  let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
  if (transport === undefined) {
    const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: json,
      onsessioninitialized: (id) => void transports.set(id, t),
      onsessionclosed: (id) => void transports.delete(id),
    });
    transport = t;
    await build().connect(t);
  }
  await transport.handleRequest(req, res, body);
});
http.keepAliveTimeout = 60_000;
http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (http.address() as AddressInfo).port })));
process.on('SIGTERM', () => process.exit(0));

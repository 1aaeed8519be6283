/**
 * Test fixture: a minimal MCP server of the stateless revision (2026-07-28), raw HTTP, written from
 * the specification because no SDK on npm speaks it yet (@modelcontextprotocol/sdk 1.x stops at
 * 2025-11-25). It answers `server/discover`, `tools/list` (with `ttlMs`/`cacheScope`, one tool
 * a page when `paged`) and `tools/call` (`change` answers on an SSE stream that first announces
 * `notifications/tools/list_changed`), and refuses what the revision forbids: a missing or mismatched `MCP-Protocol-Version`,
 * `Mcp-Method` or `Mcp-Name` header (400, -32020 HeaderMismatch), `initialize`, sessions.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STATELESS = '2026-07-28';

export interface StatelessServer {
  url: string;
  requests: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

const TOOLS = [
  { name: 'echo', description: 'Echoes text', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'secret_dump', description: 'Not for agents', inputSchema: { type: 'object' } },
  { name: 'change', description: 'Announces that the tools changed', inputSchema: { type: 'object' } },
];

function decodeName(v: string): string {
  const m = /^=\?base64\?(.*)\?=$/.exec(v);
  return m === null ? v : Buffer.from(m[1], 'base64').toString('utf8');
}

export async function startStatelessServer(opts: { ttlMs?: number; cacheScope?: 'public' | 'private'; paged?: boolean } = {}): Promise<StatelessServer> {
  const out: StatelessServer = { url: '', requests: [], close: async () => {} };
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, msg: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(msg));
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: string; params?: Record<string, unknown> };
    out.requests.push({ headers: req.headers, body: body as Record<string, unknown> });
    const id = body.id ?? null;
    const mismatch = (message: string) => send(400, { jsonrpc: '2.0', id, error: { code: -32020, message: `Header mismatch: ${message}` } });
    const version = (body.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/protocolVersion'];
    if (req.headers['mcp-protocol-version'] !== STATELESS) return send(400, { jsonrpc: '2.0', id, error: { code: -32022, message: 'Unsupported protocol version', data: { supported: [STATELESS] } } });
    if (version !== undefined && version !== STATELESS) return mismatch('MCP-Protocol-Version does not match _meta');
    if (req.headers['mcp-method'] !== body.method) return mismatch(`Mcp-Method ${String(req.headers['mcp-method'])} vs ${body.method}`);
    const named = body.method === 'tools/call' ? body.params?.name : undefined;
    if (named !== undefined && decodeName(String(req.headers['mcp-name'] ?? '')) !== named) return mismatch(`Mcp-Name ${String(req.headers['mcp-name'])} vs ${String(named)}`);
    if (id === null) return void res.writeHead(202).end();
    const meta = { 'io.modelcontextprotocol/serverInfo': { name: 'stateless-fixture', version: '1.0.0' } };
    switch (body.method) {
      case 'server/discover':
        return send(200, {
          jsonrpc: '2.0',
          id,
          result: { resultType: 'complete', supportedVersions: [STATELESS], capabilities: { tools: { listChanged: true } }, _meta: meta, ttlMs: 60_000, cacheScope: 'public' },
        });
      case 'tools/list': {
        const hints = { ttlMs: opts.ttlMs ?? 60_000, cacheScope: opts.cacheScope ?? 'public' };
        if (!opts.paged) return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', tools: TOOLS, ...hints, _meta: meta } });
        const at = body.params?.cursor === 'page-2' ? 1 : 0;
        return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', tools: [TOOLS[at]], ...(at === 0 ? { nextCursor: 'page-2' } : {}), ...hints, _meta: meta } });
      }
      case 'tools/call': {
        if (body.params?.name === 'change') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}\n\n`);
          return void res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id, result: { resultType: 'complete', content: [{ type: 'text', text: 'changed' }], _meta: meta } })}\n\n`);
        }
        const args = (body.params?.arguments ?? {}) as { text?: string };
        return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', content: [{ type: 'text', text: String(args.text ?? body.params?.name) }], _meta: meta } });
      }
      default:
        return send(404, { jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: ${body.method}` } });
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  out.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  out.close = async () => {
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  };
  return out;
}

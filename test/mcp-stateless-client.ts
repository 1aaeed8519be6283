/**
 * Test helper: a client of the stateless MCP revision (2026-07-28), raw HTTP, written from the
 * specification (no SDK on npm speaks it yet): one POST per request, the revision, method and name
 * in headers and `_meta`. Reads JSON and SSE answers.
 */
import { SseSplitter } from '../src/upstream/sse.js';
import { STATELESS } from './mcp-stateless-server.js';

export interface Answer {
  status: number;
  /** Every JSON-RPC message of the answer (JSON, or the events of an SSE stream), in order. */
  messages: Record<string, unknown>[];
  /** The answer to the request (the message with its id). */
  result: Record<string, unknown> | undefined;
  error: { code: number; message: string } | undefined;
}

/** A 2026-07-28 client: one POST per request, the revision, method and name in headers and `_meta`. */
export function statelessClient(url: string, token: string) {
  let n = 0;
  return async (method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Answer> => {
    const id = ++n;
    const named = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': STATELESS,
        'mcp-method': method,
        ...(named === undefined ? {} : { 'mcp-name': named }),
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': STATELESS,
            'io.modelcontextprotocol/clientInfo': { name: 'raw-2026-client', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
            ...((params._meta as object) ?? {}),
          },
        },
      }),
    });
    const text = await res.text();
    let messages: Record<string, unknown>[] = [];
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const s = new SseSplitter();
      messages = [...s.push(Buffer.from(text)), ...s.end()].filter((e) => e.data !== '').map((e) => JSON.parse(e.data));
    } else if (text !== '') messages = [JSON.parse(text)];
    const answer = messages.find((m) => m.id === id) as { result?: Record<string, unknown>; error?: { code: number; message: string } } | undefined;
    return { status: res.status, messages, result: answer?.result, error: answer?.error };
  };
}

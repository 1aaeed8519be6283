import type { Static } from '@sinclair/typebox';
import { Enum, Int, Obj, Str } from './schema-builders.js';

/** Governed shared memory (src/coordination/memory*.ts, docs/coordination.md#shared-memory): the `memory:` section of aos.yaml. */
export const MemorySchema = Obj(
  {
    mode: Enum(['on', 'off'], {
      description:
        '`on`: the gateway serves shared memory itself on the proxy listener, `/memory/v1/<namespace>/<key>` and the MCP server `/mcp/memory`, through identity, policy, guardrails, rate limits and audit. `off`: those paths are not routed (applies on restart).',
      default: 'on',
    }),
    store: Enum(['sqlite', 'redis'], { description: '`sqlite`: dataDir/memory.db, one gateway. `redis`: a fleet shares the documents (applies on restart).', default: 'sqlite' }),
    maxValueBytes: Int(2, 256 * 1024, 'Largest document (its JSON, UTF-8) a write may store: 413 `aos_payload_too_large` past it.', 16 * 1024 * 1024),
    maxKeyBytes: Int(1, 512, 'Longest key (bytes); namespaces are bounded to 200 bytes.', 4096),
    defaultTtlSeconds: Int(0, 0, 'TTL of a write that names none (0: documents stay until deleted).', 10 * 365 * 86_400),
    maxTtlSeconds: Int(0, 0, 'Longest TTL a document may have: a write asking for more, or for none, gets this one (0: no bound).', 10 * 365 * 86_400),
    listLimit: Int(1, 1000, 'Most keys one list answers (`limit` defaults to 100).', 10_000),
    searchMaxScan: Int(
      1,
      2000,
      'Most documents of a namespace one text search reads, in key order: the search says `truncated` past it (on Redis the scan runs in one Lua script, so this bounds how long it holds the server).',
      100_000,
    ),
    redis: Obj(
      {
        url: Str('The Redis server.', { pattern: '^rediss?://', title: 'a redis:// or rediss:// URL', default: 'redis://127.0.0.1:6379' }),
        keyPrefix: Str('Prefix of every key (`<prefix>:mem:{<namespace>}:…`).', { pattern: '^[A-Za-z0-9_.:-]+$', title: 'letters, digits, _ . : -', default: 'aos' }),
        commandTimeoutMs: Int(1, 1000, 'A slower Redis answer fails the operation: 503 `aos_memory_unavailable`, nothing written.'),
      },
      { description: 'The shared memory of a fleet.', default: {} },
    ),
  },
  { description: 'Governed shared memory: JSON documents by namespace and key (docs/coordination.md#shared-memory).', default: {} },
);

export type MemoryConfig = Static<typeof MemorySchema>;

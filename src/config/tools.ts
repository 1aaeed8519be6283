import { readCredential } from './credential.js';
import { compileSchema } from './json-schema.js';
import { compilePathPattern } from './path-pattern.js';
import type { GatewayConfig } from './schema.js';

type Where = (path: (string | number)[]) => string;

/**
 * The `tools:` section: checks what the config schema cannot (credentials, path patterns, body
 * schemas, operations two of which claim the same method and path) and reads the tools'
 * credentials. Problems name the file position and key path, like every config error. It lives in
 * config/ so that loading a config needs nothing from the layers above; tools/registry.ts builds the
 * running registry from the checked config with the same compilers.
 */
export function resolveTools(config: GatewayConfig, file: string, where: Where): { credentials: Map<string, string>; problems: string[] } {
  const credentials = new Map<string, string>();
  const problems: string[] = [];
  if (Object.keys(config.tools).length > 0) {
    config.routes.forEach((route, i) => {
      if (/^\/(?:tools|mcp)(?:\/|$)/.test(route.prefix)) problems.push(`${where(['routes', i, 'prefix'])}: /tools and /mcp are the tool registry's mounts: choose another prefix`);
    });
  }
  for (const [name, tool] of Object.entries(config.tools)) {
    const key = readCredential(tool, file, where(['tools', name, 'apiKeyFile']), problems);
    if (key !== null) credentials.set(name, key);
    if (tool.kind !== 'http') continue;
    const seen = new Map<string, string>();
    for (const [opName, op] of Object.entries(tool.operations)) {
      try {
        const pattern = compilePathPattern(op.path);
        // Two operations with the same method and the same pattern shape would be ambiguous.
        const shape = `${op.method} ${pattern.segments.map((s) => ('literal' in s ? s.literal : 'param' in s ? '{}' : '{*}')).join('/')}`;
        const other = seen.get(shape);
        if (other !== undefined) problems.push(`${where(['tools', name, 'operations', opName, 'path'])}: ${op.method} ${op.path} is already operation "${other}"`);
        seen.set(shape, opName);
      } catch (err) {
        problems.push(`${where(['tools', name, 'operations', opName, 'path'])}: ${(err as Error).message}`);
      }
      for (const [key, kind] of [
        ['bodySchema', 'json'],
        ['querySchema', 'query'],
      ] as const) {
        if (op[key] === undefined) continue;
        try {
          compileSchema(op[key], kind);
        } catch (err) {
          problems.push(`${where(['tools', name, 'operations', opName, key])}: not a valid JSON Schema: ${(err as Error).message}`);
        }
      }
    }
  }
  return { credentials, problems };
}

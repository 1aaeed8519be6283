import { ConfigError } from './config-error.js';
import { readCredential } from './credential.js';
import { configSchema, type GatewayConfig } from './schema.js';
import { resolveTools } from './tools.js';
import { parseYamlText, readConfigText } from './yaml-file.js';

export { ConfigError, type ConfigErrorCode } from './config-error.js';

export interface LoadedConfig {
  readonly file: string;
  readonly config: GatewayConfig;
  /** Provider credentials, resolved from apiKey or apiKeyFile. */
  readonly credentials: ReadonlyMap<string, string>;
  /** Tool credentials (the `tools:` section), by tool name. */
  readonly toolCredentials: ReadonlyMap<string, string>;
}

/** Reads, substitutes `${ENV}`, validates and resolves a gateway config file. Throws ConfigError (see its `code`). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return parseConfig(readConfigText(file, 'gateway config'), file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { data: config, where } = parseYamlText<GatewayConfig>(text, file, configSchema, env);
  const problems: string[] = [];
  const credentials = new Map<string, string>();
  for (const [name, provider] of Object.entries(config.providers)) {
    const key = readCredential(provider, file, where(['providers', name, 'apiKeyFile']), problems);
    if (key !== null) credentials.set(name, key);
  }
  const prefixes = new Set<string>();
  config.routes.forEach((route, i) => {
    if (!(route.provider in config.providers)) {
      problems.push(`${where(['routes', i, 'provider'])}: expected one of the providers (${Object.keys(config.providers).join(', ')}), got "${route.provider}"`);
    }
    if (prefixes.has(route.prefix)) problems.push(`${where(['routes', i, 'prefix'])}: prefix "${route.prefix}" is routed twice`);
    prefixes.add(route.prefix);
  });
  const tools = resolveTools(config, file, where);
  problems.push(...tools.problems);
  const cp = config.controlPlane;
  if (cp !== undefined && (cp.tokenFile === undefined) === (cp.tokenEnv === undefined)) {
    problems.push(`${where(['controlPlane'])}: set tokenFile or tokenEnv (the gateway's credential), exactly one`);
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, config, credentials, toolCredentials: tools.credentials };
}

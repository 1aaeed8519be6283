import { createRequire } from 'node:module';
import { ConfigError } from './config-error.js';
import { readCredential } from './credential.js';
import { isLoopback } from './hosts.js';
import { type ProviderAuth, resolveProviderAuth } from './provider-auth.js';
import { patternProblem } from './regex-safety.js';
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
  /** Provider credentials the gateway obtains or computes per request (`auth:`), their secrets read, by provider name. */
  readonly providerAuth: ReadonlyMap<string, ProviderAuth>;
}

/** Reads, substitutes `${ENV}`, validates and resolves a gateway config file. Throws ConfigError (see its `code`). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return parseConfig(readConfigText(file, 'gateway config'), file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { data: config, where } = parseYamlText<GatewayConfig>(text, file, configSchema, env);
  const problems: string[] = [];
  const credentials = new Map<string, string>();
  const providerAuth = new Map<string, ProviderAuth>();
  for (const [name, provider] of Object.entries(config.providers)) {
    const key = readCredential(provider, file, where(['providers', name, 'apiKeyFile']), problems);
    if (key !== null) credentials.set(name, key);
    const auth = resolveProviderAuth(provider, file, where(['providers', name, 'auth']), env, problems);
    if (auth !== null) providerAuth.set(name, auth);
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
  if (config.memory.mode === 'on' && config.tools.memory?.kind === 'mcp') {
    problems.push(`${where(['tools', 'memory'])}: /mcp/memory is the gateway's shared memory while memory.mode is on: give this MCP server another name, or set memory.mode: off`);
  }
  const cp = config.controlPlane;
  if (cp !== undefined && (cp.tokenFile === undefined) === (cp.tokenEnv === undefined)) {
    problems.push(`${where(['controlPlane'])}: set tokenFile or tokenEnv (the gateway's credential), exactly one`);
  }
  if (config.identity.workloadToken !== undefined) {
    // The workload's identity is the pod's: a caller from another host must never ride on it.
    if (!isLoopback(config.listen.host)) {
      problems.push(
        `${where(['identity', 'workloadToken'])}: needs listen.host on loopback (127.0.0.1, ::1 or localhost), not "${config.listen.host}": any caller that can reach the listener is authenticated as the workload`,
      );
    }
    if (config.identity.mode === 'off') problems.push(`${where(['identity', 'workloadToken'])}: needs identity.mode: required`);
  }
  for (const [name, profile] of Object.entries(config.guardrails.profiles)) {
    const names = new Set<string>();
    profile.patterns.forEach((p, i) => {
      const problem = patternProblem(p.pattern, p.ignoreCase);
      if (problem !== null) problems.push(`${where(['guardrails', 'profiles', name, 'patterns', i, 'pattern'])}: ${problem}`);
      if (names.has(`custom.${p.name}`)) problems.push(`${where(['guardrails', 'profiles', name, 'patterns', i, 'name'])}: "${p.name}" is named twice`);
      names.add(`custom.${p.name}`);
    });
    profile.words.forEach((w, i) => {
      if (names.has(`word.${w.name}`)) problems.push(`${where(['guardrails', 'profiles', name, 'words', i, 'name'])}: "${w.name}" is named twice`);
      names.add(`word.${w.name}`);
    });
    for (const id of Object.keys(profile.severities)) {
      if (/^(custom|word)\./.test(id) && !names.has(id)) problems.push(`${where(['guardrails', 'profiles', name, 'severities', id], true)}: no pattern or word list of this profile is named "${id}"`);
    }
    if (!isPhoneRegion(profile.defaultRegion)) {
      problems.push(`${where(['guardrails', 'profiles', name, 'defaultRegion'])}: "${profile.defaultRegion}" is not a country the phone number metadata knows`);
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, config, credentials, toolCredentials: tools.credentials, providerAuth };
}

const require = createRequire(import.meta.url);

/**
 * A country the phone number metadata knows. The metadata (about 100 ms to load) is required only
 * when a guardrail profile is configured; the phone detector requires the same CommonJS build.
 */
function isPhoneRegion(code: string): boolean {
  return (require('libphonenumber-js/max') as typeof import('libphonenumber-js/max')).isSupportedCountry(code);
}

import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlaneConfig } from '../config/schema.js';

const ID_FILE = 'gateway-id';

/** The gateway's instance id: configured, else a UUID made at first start and kept in dataDir. */
export function gatewayIdOf(config: ControlPlaneConfig, dataDir: string): string {
  if (config.gatewayId !== undefined) return config.gatewayId;
  const file = join(dataDir, ID_FILE);
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id !== '') return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // 'wx': when two processes start at once on one folder, the first id written wins.
  try {
    writeFileSync(file, `${id}\n`, { flag: 'wx', mode: 0o600 });
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFileSync(file, 'utf8').trim();
  }
}

/** The labels the gateway says hello with: the configured ones, and where it runs in Kubernetes. */
export function labelsOf(config: ControlPlaneConfig, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const from = { pod: 'POD_NAME', node: 'NODE_NAME', namespace: 'POD_NAMESPACE' } as const;
  for (const [label, name] of Object.entries(from)) {
    const v = env[name];
    if (v !== undefined && v !== '') out[label] = v;
  }
  return { ...out, ...config.labels };
}

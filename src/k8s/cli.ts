/** `aos inject [--config FILE]`: the sidecar injector (a mutating admission webhook). src/cli.ts dispatches here. */
import { join } from 'node:path';
import { createLogger } from '../log.js';
import { packageRoot } from '../package-root.js';
import { loadInjectConfig } from './config.js';
import { createInjector } from './server.js';

export const DEFAULT_INJECT_CONFIG = join(packageRoot, 'config', 'inject.yaml');

export async function runInject(configFile: string): Promise<number> {
  const config = loadInjectConfig(configFile);
  const log = createLogger(config.log.level);
  const injector = createInjector(config, log);
  await injector.start();
  process.stderr.write(`AOS injector: ${injector.url}/mutate (${config.sidecar.mode} sidecar ${config.sidecar.image}, config ${configFile})\n`);
  const stop = (signal: string) => {
    log.info('shutting down', { signal });
    injector.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
}

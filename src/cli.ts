import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import { createGateway } from './main.js';
import { packageRoot } from './package-root.js';

const DEFAULT_CONFIG = join(packageRoot, 'config', 'aos.yaml');

const HELP = `aos — the AOS gateway: identity, policy, budgets and audit for every call an AI agent makes

Usage:
  aos start [--config FILE]     run the gateway (default config: config/aos.yaml)
  aos demo                      run the gateway in front of a local sample upstream and make a few agent calls
  aos config check [FILE]       validate a config file and print what it routes
  aos --help | --version

Environment:
  AOS_CONFIG                    config file when --config is not given
  OPENAI_API_KEY, ANTHROPIC_API_KEY   provider credentials the default config injects upstream
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const configFile = values.config ?? process.env.AOS_CONFIG ?? DEFAULT_CONFIG;
  switch (command) {
    case 'start':
      return start(configFile);
    case 'demo': {
      const { runDemo } = await import('../examples/demo.js');
      return runDemo();
    }
    case 'config':
      if (rest[0] !== 'check') break;
      return checkConfig(rest[1] ?? configFile);
  }
  process.stderr.write(`aos: unknown command "${[command, ...rest].join(' ')}"\n\n${HELP}`);
  return 2;
}

async function start(configFile: string): Promise<number> {
  const gateway = createGateway({ configFile });
  await gateway.start();
  const { proxy, admin } = gateway.addresses;
  process.stderr.write(
    `AOS gateway listening on ${proxy} (admin ${admin}, config ${configFile})\n` +
      `  OpenAI SDK agents:    OPENAI_BASE_URL=${proxy}/v1\n` +
      `  Anthropic SDK agents: ANTHROPIC_BASE_URL=${proxy}/anthropic\n`,
  );
  process.on('SIGHUP', () => gateway.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`second ${signal}: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    gateway.log.info('shutting down: draining in-flight requests', { signal });
    gateway.stop().then(() => process.exit(0), (err) => {
      gateway.log.error('shutdown failed', { err });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
}

function checkConfig(file: string): number {
  const { config } = loadConfig(file);
  console.log(`${file}: ok`);
  for (const route of config.routes) {
    const p = config.providers[route.provider];
    console.log(`  ${route.prefix.padEnd(16)} → ${route.provider} (${p.dialect}, ${p.baseUrl})${route.passthrough ? ' + passthrough' : ''}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`aos: invalid configuration\n${err.message}\n`);
    else process.stderr.write(`aos: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);

/**
 * The gateway the side benches (a2a, mcp, memory) start in front of their own servers: identity on
 * (the local issuer), the default policy bundle, a placeholder OpenAI route, log level warn, plus
 * each bench's own sections; its one agent's token minted by `aos token mint`, as an operator would.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ProcessGroup } from './processes.js';

export interface BenchGateway {
  /** `http://127.0.0.1:<port>` of its proxy listener. */
  readonly url: string;
  /** The bench agent's token (`Authorization: Bearer …`). */
  readonly token: string;
  /** Its process id (for its CPU time in /proc). */
  readonly pid: number;
}

/**
 * Writes `agents.yaml` and `aos.yaml` into `dir` (the config's own `sections` win), mints the bench
 * agent's token and starts the gateway in `group`, logging to `logFile`.
 */
export async function startBenchGateway(
  group: ProcessGroup,
  opts: { root: string; dir: string; agents: unknown; sections: Record<string, unknown>; logFile: string; agent?: string },
): Promise<BenchGateway> {
  const { root, dir } = opts;
  writeFileSync(join(dir, 'agents.yaml'), stringify(opts.agents));
  const configFile = join(dir, 'aos.yaml');
  writeFileSync(
    configFile,
    stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: join(root, 'policies/bundle.tar.gz') } },
      providers: { openai: { dialect: 'openai', baseUrl: 'http://127.0.0.1:9/v1' } },
      routes: [{ prefix: '/v1', provider: 'openai' }],
      ...opts.sections,
    }),
  );
  const cli = [process.execPath, '--import', 'tsx', join(root, 'src/cli.ts')];
  const mint = spawnSync(cli[0], [...cli.slice(1), 'token', 'mint', '--agent', opts.agent ?? 'bench-agent', '--ttl', '12h', '--config', configFile], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (mint.status !== 0) throw new Error(`token mint failed: ${mint.stderr}`);
  const token = mint.stdout.trim().split('\n').at(-1) ?? '';
  const gw = group.start('gateway', [...cli, 'start', '--config', configFile], { cwd: root, logFile: opts.logFile });
  const port = (await group.waitForLine(gw, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000))[1];
  return { url: `http://127.0.0.1:${port}`, token, pid: gw.pid };
}

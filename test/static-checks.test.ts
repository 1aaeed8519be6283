/**
 * The static checks are part of the suite: lint and format (Biome), the layering of src/
 * (dependency-cruiser: no cycles, providers never import server, config is a leaf, only pipeline/
 * composes stages, nothing imports the entry points) and the types (tsc --noEmit).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

t.test('scripts/check.sh: Biome, dependency-cruiser and tsc report nothing', { timeout: 240_000 }, async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const run = spawnSync('bash', ['scripts/check.sh'], { cwd: root, encoding: 'utf8', timeout: 230_000 });
  t.equal(run.status, 0, `every check passes:\n${run.stdout}${run.stderr}`);
  t.match(run.stdout, /biome\s.*ok/, 'Biome ran');
  t.match(run.stdout, /depcruise\s.*ok/, 'dependency-cruiser ran');
  t.match(run.stdout, /tsc\s.*ok/, 'tsc ran');
});

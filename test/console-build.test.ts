/**
 * The console's committed build (src/console/built/) is what scripts/console-build.ts makes from
 * src/console/ now: rebuilt in memory and compared file by file. When this fails, run
 * `npm run console:build` and commit src/console/built/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildConsole, CONSOLE_BUILT } from '../scripts/console-build.js';

t.test('src/console/built is the build of src/console (npm run console:build)', async (t) => {
  const built = await buildConsole();
  const committed = readdirSync(CONSOLE_BUILT).sort();
  t.same(committed, [...built.keys()].sort(), 'the same files (names carry the content hash)');
  for (const [name, body] of built) {
    if (!committed.includes(name)) continue;
    t.ok(readFileSync(join(CONSOLE_BUILT, name)).equals(body), `${name} is current`);
  }
});

t.test('one entry, minified; uPlot in a file of its own, preloaded, evaluated only by import()', async (t) => {
  const built = await buildConsole();
  const names = [...built.keys()];
  const main = names.find((n) => /^main-[A-Z0-9]{8}\.js$/.test(n));
  const uplot = names.find((n) => /^uPlot\.esm-[A-Z0-9]{8}\.js$/.test(n));
  t.ok(main, 'main-<hash>.js');
  t.ok(uplot, 'uPlot.esm-<hash>.js');
  t.equal(names.filter((n) => n.endsWith('.js')).length, 2, 'two scripts in all');
  const mainJs = built.get(main!)!.toString('utf8');
  t.match(mainJs, `import("./${uplot}")`, 'uPlot comes by a dynamic import');
  t.notMatch(mainJs, /^import .* from ["']\.\/uPlot/m, 'never statically');
  t.notMatch(mainJs, "The people's API from the browser", 'no comments');
  t.ok(mainJs.length < 60_000, `minified: ${mainJs.length} bytes (Preact, htm and the pages)`);
  const html = built.get('index.html')!.toString('utf8');
  t.match(html, `<script type="module" src="/console/${main}"></script>`);
  t.match(html, `<link rel="modulepreload" href="/console/${uplot}">`, 'fetched and compiled beside the bundle (Fleet, the landing page, charts)');
  t.notMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script');
});

/**
 * The console's build: src/console/ (Preact + htm ES modules, the stylesheets) bundled by esbuild
 * into src/console/built/ — one minified entry, uPlot in a file of its own loaded by the first
 * chart, one stylesheet, each named by a hash of its content, and index.html naming them. The built
 * files are committed (`aos control` and the container serve them with no build step);
 * test/console-build.test.ts rebuilds and fails when they are stale.
 *
 *   npm run console:build
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../src/package-root.js';

export const CONSOLE_SRC = join(packageRoot, 'src', 'console');
export const CONSOLE_BUILT = join(CONSOLE_SRC, 'built');

/** Every built file by name, built in memory. */
export async function buildConsole(): Promise<Map<string, Buffer>> {
  const result = await build({
    absWorkingDir: packageRoot,
    entryPoints: { main: join(CONSOLE_SRC, 'main.js'), styles: join(CONSOLE_SRC, 'styles.css') },
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    target: ['es2022', 'chrome111', 'firefox113', 'safari16.4'],
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    outdir: CONSOLE_BUILT,
    metafile: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'eof',
  });
  const files = new Map<string, Buffer>();
  for (const f of result.outputFiles) files.set(basename(f.path), Buffer.from(f.contents));
  const outputs = result.metafile.outputs;
  const named = (entry: string) => {
    const out = Object.keys(outputs).find((o) => outputs[o].entryPoint?.endsWith(entry));
    if (out === undefined) throw new Error(`console build: no output for ${entry}`);
    return basename(out);
  };
  const main = named('src/console/main.js');
  const styles = named('src/console/styles.css');
  // The entry's imports are preloaded with it: its shared chunks, and uPlot (imported when a page
  // charts): Fleet, the landing page, charts, and a preload fetches and compiles it while the
  // bundle evaluates and the page's data is asked, instead of after (it is evaluated only when imported).
  const mainOut = Object.entries(outputs).find(([o]) => basename(o) === main)![1];
  const preload = [...new Set(mainOut.imports.filter((i) => i.kind === 'import-statement' || i.kind === 'dynamic-import').map((i) => basename(i.path)))];
  const html = readFileSync(join(CONSOLE_SRC, 'index.html'), 'utf8')
    .replace('href="/console/styles.css"', `href="/console/${styles}"`)
    .replace(
      '<script type="module" src="/console/main.js"></script>',
      [...preload.map((p) => `<link rel="modulepreload" href="/console/${p}">`), `<script type="module" src="/console/${main}"></script>`].join('\n'),
    );
  if (!html.includes(main) || !html.includes(styles)) throw new Error('console build: index.html does not name main.js and styles.css as expected');
  files.set('index.html', Buffer.from(html));
  files.set('favicon.svg', readFileSync(join(CONSOLE_SRC, 'favicon.svg')));
  return files;
}

/** Writes the build to src/console/built/ (what was there is replaced). */
export async function writeConsole(): Promise<string[]> {
  const files = await buildConsole();
  rmSync(CONSOLE_BUILT, { recursive: true, force: true });
  mkdirSync(CONSOLE_BUILT, { recursive: true });
  for (const [name, body] of files) writeFileSync(join(CONSOLE_BUILT, name), body);
  return readdirSync(CONSOLE_BUILT).sort();
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(basename(process.argv[1]))) {
  for (const name of await writeConsole()) console.log(`src/console/built/${name}`);
}

/**
 * The layering of src/, checked by `npm run check` (scripts/check.sh): `depcruise src --config .dependency-cruiser.cjs`.
 * Every rule is an error: a layering break is a bug, not a style question.
 * Type-only imports count (tsPreCompilationDeps): a type cycle still ties the modules together.
 */

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A module that reaches itself through its imports (type-only imports included). Break the cycle by moving the shared type down a layer.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'providers-not-to-server',
      comment: 'providers/ knows the wire dialects; the server composes them. A provider that reaches into server/ turns the layering upside down.',
      severity: 'error',
      from: { path: '^src/providers/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'config-is-a-leaf',
      comment: 'config/ reads and checks the configuration; the layers that use it (tools, server, pipeline) depend on it, never the reverse.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/(tools|server|pipeline)/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'src/cli.ts is the program entry point (bin/aos.js); nothing in src/ imports it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'only-cli-imports-main',
      comment: 'src/main.ts is the composition root; only the CLI starts it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli\\.ts$' },
      to: { path: '^src/main\\.ts$' },
    },
    {
      name: 'stages-composed-in-pipeline',
      comment: 'The stage order is written once, in src/pipeline/compose.ts; only the composition root (main.ts and the services it builds in gateway/) hands it the stages. Nothing else builds or reorders them.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(pipeline/|gateway/|main\\.ts$)' },
      to: { path: '^src/pipeline/compose\\.ts$' },
    },
    {
      name: 'control-plane-apart',
      comment: "src/control/ is the control plane (aos control). It shares the leaf layers with the gateway (config, token verification, the audit chain's encoding, SQLite set-up, the listen helper) but never the gateway's request path, runtime or admin server: the two programs change independently.",
      severity: 'error',
      from: { path: '^src/control/' },
      to: { path: ['^src/(pipeline|upstream|providers|policy|metering|gateway|fleet|tools|routing|telemetry)/', '^src/main\\.ts$', '^src/server/(?!listeners\\.ts$)'] },
    },
    {
      name: 'no-orphans',
      comment: 'A module in src/ that nothing imports and that imports nothing: dead code, or a file that was never wired in.',
      severity: 'error',
      from: { path: '^src/', orphan: true, pathNot: '\\.d\\.ts$' },
      to: {},
    },
    {
      name: 'not-to-dev-dep',
      comment: 'src/ ships; devDependencies are not installed in production (npm ci --omit=dev). Move the package to dependencies or the code out of src/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-non-package-json',
      comment: 'An npm package that package.json does not declare: it works only while something else happens to install it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file or package.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports are dependencies too (they form cycles and layering breaks like any other).
    tsPreCompilationDeps: true,
    // Resolve like tsc does: NodeNext, `./x.js` in the source is `./x.ts` on disk.
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    // src/console/built: the console bundled by scripts/console-build.ts (minified browser code).
    exclude: { path: '^(node_modules|dist|data|\\.tap)/|^src/console/built/' },
    moduleSystems: ['es6', 'cjs'],
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};

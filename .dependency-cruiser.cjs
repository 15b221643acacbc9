// Import rules checked by `npm run lint` (part of `npm test`): no import cycles, and the package
// layering protocol <- core <- node | meter-agent | desktop (DESIGN.md, "Packages and the direction
// of dependencies"). Module paths are repository-relative: `@microgrid/core` resolves through the
// node_modules symlink and the package `exports` to core/src/index.ts. bench/ and demo/ (the island demo, which runs nodes and meter agents together) may import anything;
// nothing imports them.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Import cycle. Type-only imports count too: dependency-cruiser labels `import { type X }` ' +
        'type-only, yet under verbatimModuleSyntax it stays `import {} from` and is evaluated at run time.',
      from: {},
      to: { circular: true }
    },
    {
      name: 'protocol-imports-no-workspace-package',
      severity: 'error',
      comment: 'protocol/ is the bottom layer: it imports no other workspace package.',
      from: { path: '^protocol/' },
      to: { path: '^(core|node|meter-agent|desktop|demo|bench)/' }
    },
    {
      name: 'core-imports-only-protocol',
      severity: 'error',
      comment: 'core/ imports only @microgrid/protocol among the workspace packages.',
      from: { path: '^core/' },
      to: { path: '^(node|meter-agent|desktop|demo|bench)/' }
    },
    {
      name: 'apps-import-only-core-and-protocol',
      severity: 'error',
      comment:
        'node/ and meter-agent/ import only core and protocol, never each other: ' +
        'code that two of them need moves down into core or protocol.',
      from: { path: '^(node|meter-agent)/' },
      to: { path: '^(node|meter-agent|desktop|demo|bench)/', pathNot: '^$1/' }
    },
    {
      name: 'desktop-imports-node-core-protocol',
      severity: 'error',
      comment:
        'desktop/ is the household app around a node: it may import node, core and protocol, ' +
        'never meter-agent, demo or bench.',
      from: { path: '^desktop/' },
      to: { path: '^(meter-agent|demo|bench)/' }
    },
    {
      name: 'no-relative-import-into-another-package',
      severity: 'error',
      comment:
        "Import another workspace package by its name (@microgrid/core, @microgrid/core/testing, " +
        "@microgrid/protocol), never its files by relative path.",
      from: { path: '^(protocol|core|node|meter-agent|desktop)/' },
      to: {
        path: '^(protocol|core|node|meter-agent|desktop|demo|bench)/',
        pathNot: '^$1/',
        // a relative path; an import by package name is typed aliased-workspace or undetermined
        dependencyTypes: ['local'],
        dependencyTypesNot: ['aliased', 'undetermined']
      }
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'An import that does not resolve, e.g. a path a package does not export ' +
        '(@microgrid/core/src/...) or a missing file. Vite asset imports (`x.wasm?url`) resolve in the bundler.',
      from: {},
      to: { couldNotResolve: true, pathNot: '\\?(url|raw)$' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(\\.tsbuild|coverage|dist)/' },
    // Parse with TypeScript before compiling, so that type-only imports count for every rule.
    tsPreCompilationDeps: true,
    parser: 'tsc',
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts', '.json']
    },
    skipAnalysisNotInRules: true
  }
}

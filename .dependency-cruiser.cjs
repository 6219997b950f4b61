// The layer map of docs/ARCHITECTURE.md, checked on the built JavaScript (type-only imports are
// gone by then, as they should be: they cost nothing at run time and create no cycle of loading).
// Imports point down: core ← events, git ← store ← policy ← model, report ← agent ← pipeline ← cli, daemon.
/** @param {string} from @param {string[]} above */
const layer = (from, above) => ({
  name: `${from}-imports-down`,
  comment: `src/${from} may not import ${above.join(', ')} (docs/ARCHITECTURE.md, "Module map and import rules")`,
  severity: 'error',
  from: { path: `^dist/src/${from}/` },
  to: { path: `^dist/(src/(${above.join('|')})|daemon)/` },
});

module.exports = {
  forbidden: [
    // src/core (the error hierarchy) is under everything: every layer may import it, it imports none.
    layer('core', ['events', 'git', 'store', 'policy', 'model', 'report', 'agent', 'pipeline', 'cli']),
    layer('events', ['store', 'policy', 'model', 'report', 'agent', 'pipeline', 'cli']),
    layer('git', ['events', 'store', 'policy', 'model', 'report', 'agent', 'pipeline', 'cli']),
    layer('store', ['policy', 'model', 'report', 'agent', 'pipeline', 'cli']),
    layer('policy', ['model', 'report', 'agent', 'pipeline', 'cli']),
    layer('model', ['agent', 'pipeline', 'cli']),
    layer('report', ['agent', 'pipeline', 'cli']),
    layer('agent', ['pipeline', 'cli']),
    layer('pipeline', ['cli']),
    {
      name: 'cli-not-daemon',
      comment: 'the CLI reaches the daemon over its socket; the process entry (daemon/entry) passes runDaemon in',
      severity: 'error',
      from: { path: '^dist/src/' },
      to: { path: '^dist/daemon/' },
    },
    {
      name: 'sqlite-only-in-store',
      comment: 'SQL lives only in src/store (docs/ARCHITECTURE.md, "SQL only in store/"): nothing else may even load the driver; scripts/check-sql-in-store.mjs catches statements run on a handle passed in',
      severity: 'error',
      from: { path: '^dist/', pathNot: '^dist/src/store/' },
      to: { path: '^node_modules/better-sqlite3/' },
    },
    {
      name: 'no-circular',
      comment: 'a cycle makes load order matter and hides which module owns what',
      severity: 'error',
      from: { path: '^dist/(src|daemon)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/(test|bench)/' },
    moduleSystems: ['es6'],
    // Packages resolve through their `exports` maps, as Node resolves them.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'], mainFields: ['module', 'main'] },
  },
};

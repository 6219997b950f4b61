import { registerMigration } from './migrations.js';

// Migration 25 (policy range 20-29): plugin folders the user trusted explicitly (src/agent/plugins/trust.ts).
registerMigration({
  id: 25,
  name: 'plugin-trust',
  sql: `
    -- one row per trusted plugin folder (its realpath), pinned by a sha256 over every file in it
    CREATE TABLE plugin_trust (
      dir TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      digest TEXT NOT NULL,
      trusted_at TEXT NOT NULL
    );
  `,
});

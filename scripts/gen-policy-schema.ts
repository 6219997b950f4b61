/**
 * Writes policies/policy.schema.json, the JSON Schema editors use to check policy files, from the
 * zod schema in src/policy/schema.ts (the source of truth). Run after changing the schema:
 *   node --import tsx scripts/gen-policy-schema.ts
 * test/policy/schema-file.test.ts fails while the committed file differs from a fresh generation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { Policy } from '../src/policy/schema.js';
import { shippedPolicyPath } from '../src/policy/load.js';

/** Beside the shipped policies: found by the loader's walk to the package root, so it works from dist/ too. */
export const SCHEMA_FILE = path.join(path.dirname(shippedPolicyPath('default')), 'policy.schema.json');

/** The JSON Schema text: of what may be written in the file (input), so defaulted keys are optional. */
export function renderPolicySchema(): string {
  const schema = z.toJSONSchema(Policy, { io: 'input', target: 'draft-2020-12' });
  const { $schema, ...rest } = schema;
  return `${JSON.stringify({ $schema, title: 'Kairos policy', ...rest }, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  fs.writeFileSync(SCHEMA_FILE, renderPolicySchema());
  process.stdout.write(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
}

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { loadPolicyFile, shippedPolicyPath } from '../../src/policy/load.js';
import { renderPolicySchema, SCHEMA_FILE } from '../../scripts/gen-policy-schema.js';

describe('policies/', () => {
  test('policy.schema.json is what the zod schema generates (run scripts/gen-policy-schema.ts after a schema change)', () => {
    assert.equal(fs.readFileSync(SCHEMA_FILE, 'utf8'), renderPolicySchema());
  });

  test('the JSON Schema describes the keys editors should offer', () => {
    const schema = JSON.parse(renderPolicySchema()) as {
      additionalProperties: boolean;
      properties: Record<string, { items?: { properties?: Record<string, unknown>; required?: string[] } }>;
    };
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties).sort(), ['budget', 'defaults', 'dream', 'gate', 'ignore', 'mcp_servers', 'models', 'notify', 'overrides', 'permissions', 'presence', 'retention', 'sandbox', 'triage', 'triggers', 'version', 'workers']);
    const trigger = schema.properties.triggers?.items;
    assert.deepEqual(trigger?.required, ['name', 'on']);
    assert.ok(trigger?.properties && 'run' in trigger.properties && 'notify' in trigger.properties);
  });

  test('default.yaml is valid, conservative and runs nothing', () => {
    const p = loadPolicyFile(shippedPolicyPath('default'));
    assert.deepEqual(p.triggers, []);
    assert.ok(p.budget?.day_usd !== undefined && p.budget.day_usd <= 5);
    assert.ok(p.budget?.month_usd !== undefined && p.budget.month_usd <= 50);
    assert.match(p.models?.triage ?? '', /^claude-haiku-/);
    assert.match(p.models?.act ?? '', /^claude-sonnet-/);
    const perms = p.permissions;
    assert.ok(perms);
    for (const rule of ['Read', 'Edit']) assert.ok(perms.allow.includes(rule), rule);
    for (const rule of ['Read(**/.env*)', 'Read(**/*.pem)', 'Read(**/*.key)', 'Read(**/id_*)']) assert.ok(perms.deny.includes(rule), rule);
    // Only a few read-only commands are allowed; anything else asks.
    const commands = perms.allow.filter((r) => r.startsWith('Bash'));
    assert.ok(commands.length > 0);
    for (const r of commands) assert.match(r, /^Bash\((pwd|ls|git (status|diff|log|show))(:\*)?\)$/, r);
  });

  test('strict.yaml is valid, read-only and allows no command', () => {
    const p = loadPolicyFile(shippedPolicyPath('strict'));
    assert.deepEqual(p.triggers, []);
    assert.deepEqual(p.permissions?.allow, ['Read']);
    for (const rule of ['Edit', 'Write', 'Bash']) assert.ok(p.permissions?.deny.includes(rule), rule);
  });
});

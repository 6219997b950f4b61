/**
 * `kairos run` reads its --home and --repo values before the CLI loads, to begin watching early
 * (src/cli/early-run.ts). The reading is lenient by design: the CLI parses the arguments properly
 * next; these cases pin what is understood, and that nothing after `--` or without a value is taken.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { earlyRunArgs } from '../../src/cli/early-run.js';

describe('early run arguments', () => {
  test('--repo, -r and --repo=, repeatable, and --home in either form', () => {
    assert.deepEqual(earlyRunArgs(['--repo', 'a', '-r', 'b', '--repo=c', '--home', 'h']), { home: 'h', repos: ['a', 'b', 'c'] });
    assert.deepEqual(earlyRunArgs(['--home=/x/y', '--repo', 'a']), { home: '/x/y', repos: ['a'] });
  });

  test('nothing else is taken: unknown options, a missing value, anything after --', () => {
    assert.deepEqual(earlyRunArgs([]), { repos: [] });
    assert.deepEqual(earlyRunArgs(['--verbose', 'a']), { repos: [] });
    assert.deepEqual(earlyRunArgs(['--repo']), { repos: [] });
    assert.deepEqual(earlyRunArgs(['--', '--repo', 'a']), { repos: [] });
    assert.deepEqual(earlyRunArgs(['-r=a']), { repos: [] }, 'a short option does not take = (as for the CLI)');
  });
});

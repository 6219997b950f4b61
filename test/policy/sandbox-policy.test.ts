// The policy's `sandbox:` key: validated with errors that name line, field and fix; merged so a
// repository may only lower the limits, and shows commands more only when trusted.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyText, PolicyError } from '../../src/policy/load.js';
import { mergeRepoPolicy, mergeUserPolicy } from '../../src/policy/merge.js';
import { Policy } from '../../src/policy/schema.js';
import { resolveLimits } from '../../src/policy/sandbox/limits-config.js';

function problems(yaml: string): string[] {
  try {
    parsePolicyText(yaml, 'p.yaml');
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.message.split('\n');
  }
  return [];
}

describe('sandbox: in the policy', () => {
  test('a valid block parses and its limits resolve', () => {
    const p = parsePolicyText('sandbox:\n  read: ["~/.cargo", "/opt/go"]\n  write: ["~/.cache/kairos-tests"]\n  env: ["GOPATH", "CARGO_*"]\n  limits: { processes: 512, memory: "4GiB", cpu: "90s" }\n', 'p.yaml');
    assert.deepEqual(p.sandbox?.read, ['~/.cargo', '/opt/go']);
    assert.deepEqual(resolveLimits(p.sandbox, 300_000), { processes: 512, memoryBytes: 4 * 1024 ** 3, cpuSeconds: 90 });
    assert.deepEqual(resolveLimits(undefined, 300_000), { processes: 1024, memoryBytes: 2 * 1024 ** 3, cpuSeconds: 300 }, 'defaults: 1024 processes and threads, 2 GiB, CPU = the time limit');
    assert.equal(resolveLimits(parsePolicyText('sandbox: { limits: { memory: 536870912 } }', 'p.yaml').sandbox, 1000).memoryBytes, 512 * 1024 ** 2);
  });

  test('mistakes are reported with line, field and a fix', () => {
    const cases: Array<[string, RegExp]> = [
      ['sandbox:\n  read: ["relative/dir"]\n', /^p\.yaml:2:\d+: sandbox\.read\[0\]: 'relative\/dir' is not an absolute path — write e\.g\. "\/opt\/go" or "~\/\.cargo"/],
      ['sandbox:\n  read: ["~"]\n', /sandbox\.read\[0\]: '~' would show the whole home directory, credentials included — name the directories/],
      ['sandbox:\n  write: ["/"]\n', /sandbox\.write\[0\]: '\/' would show the whole machine — /],
      ['sandbox:\n  read: ["/opt/../etc"]\n', /sandbox\.read\[0\]: '\/opt\/\.\.\/etc' contains "\.\." — /],
      ['sandbox:\n  env: ["MY VAR"]\n', /sandbox\.env\[0\]: .*is not an environment variable name — write e\.g\. "GOPATH"/],
      ['sandbox:\n  limits: { memory: "lots" }\n', /sandbox\.limits\.memory: .*is not a size — write e\.g\. "512MiB"/],
      ['sandbox:\n  limits: { memory: "1MiB" }\n', /sandbox\.limits\.memory: .*is below 64 MiB/],
      ['sandbox:\n  limits: { processes: 2 }\n', /sandbox\.limits\.processes: /],
      ['sandbox:\n  limits: { cpu: "forever" }\n', /sandbox\.limits\.cpu: .*is not a duration/],
      ['sandbox:\n  limits: { wall: 3 }\n', /sandbox\.limits\.wall: unknown key 'wall' — remove it/],
    ];
    for (const [yaml, re] of cases) {
      const got = problems(yaml);
      assert.ok(got.some((l) => re.test(l)), `${JSON.stringify(yaml)} → ${got.join(' | ')}`);
    }
  });

  const user = Policy.parse({ sandbox: { read: ['~/.cargo'], env: ['GOPATH'], limits: { processes: 200, memory: '1GiB', cpu: '60s' } } });

  test("the user's file adds to the shipped default's", () => {
    const merged = mergeUserPolicy(Policy.parse({ sandbox: { read: ['/opt/shipped'], limits: { processes: 100 } } }), user);
    assert.deepEqual(merged.sandbox?.read, ['/opt/shipped', '~/.cargo']);
    assert.equal(merged.sandbox?.limits?.processes, 200);
  });

  test('an untrusted repository may lower the limits but not show commands more', () => {
    const repo = Policy.parse({ sandbox: { read: ['~/.ssh'], write: ['/etc'], env: ['AWS_SECRET_ACCESS_KEY'], limits: { processes: 50, memory: '512MiB', cpu: '10s' } } });
    const r = mergeRepoPolicy(user, repo, { trusted: false });
    assert.deepEqual(r.policy.sandbox?.read, ['~/.cargo']);
    assert.equal(r.policy.sandbox?.write, undefined);
    assert.deepEqual(r.policy.sandbox?.env, ['GOPATH']);
    assert.deepEqual(r.policy.sandbox?.limits, { processes: 50, memory: '512MiB', cpu: '10s' });
    assert.deepEqual(r.refused.map((x) => x.what).sort(), ["sandbox.env: 'AWS_SECRET_ACCESS_KEY'", "sandbox.read: '~/.ssh'", "sandbox.write: '/etc'"]);
    assert.match(r.refused[0]!.why, /not trusted.*kairos trust/);
  });

  test('a trusted repository may add paths and variables, and still never raise a limit', () => {
    const repo = Policy.parse({ sandbox: { read: ['/opt/go'], env: ['GOFLAGS'], limits: { processes: 1000, memory: '8GiB', cpu: '1h' } } });
    const r = mergeRepoPolicy(user, repo, { trusted: true });
    assert.deepEqual(r.policy.sandbox?.read, ['~/.cargo', '/opt/go']);
    assert.deepEqual(r.policy.sandbox?.env, ['GOPATH', 'GOFLAGS']);
    assert.deepEqual(r.policy.sandbox?.limits, user.sandbox?.limits);
    assert.deepEqual(r.refused.map((x) => x.what).sort(), ['sandbox.limits.cpu: 1h', 'sandbox.limits.memory: 8GiB', 'sandbox.limits.processes: 1000']);
    // Against the defaults when the user set none.
    const noUser = mergeRepoPolicy(Policy.parse({}), Policy.parse({ sandbox: { limits: { processes: 2000, memory: '1GiB' } } }), { trusted: true });
    assert.deepEqual(noUser.refused.map((x) => x.what), ['sandbox.limits.processes: 2000']);
    assert.deepEqual(noUser.policy.sandbox?.limits, { memory: '1GiB' });
  });
});

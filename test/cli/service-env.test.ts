import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertStableInstall, ensureEnvFile, servicePath, unstableDirReason } from '../../src/cli/service-env.js';
import { launchdPlist, systemdUnit, type ServiceSpec } from '../../src/cli/service.js';
import { kairosCliArgs } from '../support/kairos.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * What a login service inherits must outlive the shell that installed it: `npx kairos service
 * install` once baked npx's cache and /tmp/node_modules/.bin into the unit's PATH ahead of /usr/bin,
 * had nowhere for the API key, and exited 0 when systemctl failed.
 */

let tmp: string;
const uid = process.getuid?.() ?? 0;
const isRoot = uid === 0;
const nodeDir = path.dirname(fs.realpathSync(process.execPath));

before(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-service-env-')));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function dir(rel: string, mode = 0o755): string {
  const d = path.join(tmp, rel);
  fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(d, mode);
  return d;
}

describe('the PATH a service gets', () => {
  // tempRoots: [] judges these test folders (which live under /tmp) on everything but being temporary.
  test('npx cache, node_modules/.bin, world-writable, relative, empty and missing folders are dropped and named; the rest keep their order after node', () => {
    const npx = dir('home/.npm/_npx/0a1b2c/node_modules/.bin');
    const project = dir('proj/node_modules/.bin');
    const open = dir('open-bin', 0o777);
    const openParent = dir('open-parent', 0o777);
    const inside = dir('open-parent/bin');
    const good = dir('home/.local/bin');
    const missing = path.join(tmp, 'not-there');
    const current = [npx, project, open, inside, '.', '', missing, good, '/usr/bin', good].join(':');
    const p = servicePath({ currentPath: current, node: process.execPath, platform: 'linux', uid, tempRoots: [] });
    const kept = p.value.split(':');
    assert.equal(kept[0], nodeDir, 'the real node first');
    assert.equal(kept[1], good, `the first stable folder of the shell's PATH comes next: ${p.value}`);
    assert.equal(kept.filter((k) => k === good).length, 1, 'no duplicates');
    for (const sys of ['/usr/bin', '/bin']) assert.ok(kept.includes(sys), `${sys} in ${p.value}`);
    const why = Object.fromEntries(p.dropped.map((d) => [d.dir, d.why]));
    assert.match(why[npx]!, /npx's temporary cache/);
    assert.match(why[project]!, /node_modules\/\.bin/);
    assert.match(why[open]!, /writable by every user/);
    assert.match(why[inside]!, new RegExp(`inside ${openParent}, which every user may write to`));
    assert.match(why['.']!, /relative/);
    assert.match(why['']!, /empty/);
    assert.match(why[missing]!, /does not exist/);
    for (const d of [npx, project, open, inside, '.', '', missing]) assert.ok(!kept.includes(d), `${d} kept: ${p.value}`);
  });

  test('with the real temporary roots: /tmp/node_modules/.bin and anything under the temp folder are dropped', () => {
    const t = dir('scratch-bin');
    const p = servicePath({ currentPath: `/tmp/node_modules/.bin:${t}:/usr/bin`, node: process.execPath, platform: 'linux', uid });
    assert.deepEqual(
      p.dropped.map((d) => d.dir),
      ['/tmp/node_modules/.bin', t],
    );
    assert.match(p.dropped[1]!.why, /temporary folder/);
    assert.ok(!p.value.includes('/tmp'), p.value);
  });

  test("a folder owned by another user is dropped (its owner could put a 'git' there)", { skip: isRoot ? false : 'needs root to chown' }, () => {
    const theirs = dir('theirs-bin');
    fs.chownSync(theirs, 4242, 4242);
    assert.match(unstableDirReason(theirs, { uid, tempRoots: [] }) ?? '', /owned by another user \(uid 4242\)/);
  });

  test('node itself in a world-writable folder is named as a problem (install refuses it)', () => {
    const open = dir('open-node', 0o777);
    fs.writeFileSync(path.join(open, 'node'), '');
    const p = servicePath({ currentPath: '/usr/bin', node: path.join(open, 'node'), platform: 'linux', uid, tempRoots: [] });
    assert.match(p.nodeProblem ?? '', /node is in .*writable by every user/);
    assert.equal(servicePath({ currentPath: '/usr/bin', node: process.execPath, platform: 'linux', uid }).nodeProblem, null);
  });
});

describe('where the service runs Kairos from', () => {
  test("npx's cache is refused, saying how to install for good; a temporary checkout only warns; a world-writable one is refused", () => {
    assert.throws(
      () => assertStableInstall('/home/a/.npm/_npx/0a1b2c/node_modules/kairos/dist/src/cli/main.js', { uid }),
      (e: Error) => e.name === 'ServiceError' && /npx's temporary cache/.test(e.message) && /npm install -g kairos/.test(e.message),
    );
    const t = dir('checkout/dist/src/cli');
    assert.match(assertStableInstall(path.join(t, 'main.js'), { uid }) ?? '', /a temporary folder: the service stops working when it is cleared/);
    const open = dir('open-checkout', 0o777);
    assert.throws(() => assertStableInstall(path.join(open, 'main.js'), { uid, tempRoots: [] }), /writable by every user/);
    assert.equal(assertStableInstall(path.join(dir('stable/dist/src/cli'), 'main.js'), { uid, tempRoots: [] }), null);
  });
});

describe('the env file for the API key', () => {
  test('created 0600 with a commented template; an existing one keeps its content and is made private', () => {
    const file = path.join(dir('kh1'), 'env');
    assert.match(ensureEnvFile(file, uid), /created .* \(mode 0600\)/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(file, 'utf8'), /^#ANTHROPIC_API_KEY=/m);
    fs.writeFileSync(file, 'ANTHROPIC_API_KEY=sk-kept\n');
    fs.chmodSync(file, 0o644);
    assert.match(ensureEnvFile(file, uid), /was readable by others \(mode 644\); made it 0600/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, 'utf8'), 'ANTHROPIC_API_KEY=sk-kept\n');
  });

  test("another user's file, or a folder, is refused", () => {
    const folder = path.join(dir('kh2'), 'env');
    fs.mkdirSync(folder);
    assert.throws(() => ensureEnvFile(folder, uid), /not a regular file/);
    if (isRoot) {
      const theirs = path.join(dir('kh3'), 'env');
      fs.writeFileSync(theirs, 'ANTHROPIC_API_KEY=theirs\n', { mode: 0o600 });
      fs.chownSync(theirs, 4242, 4242);
      assert.throws(() => ensureEnvFile(theirs, 1000), /belongs to another user \(uid 4242\)/);
    }
  });

  const spec = (over: Partial<ServiceSpec>): ServiceSpec => ({
    platform: 'linux',
    userHome: tmp,
    kairosHome: path.join(tmp, 'kh'),
    node: process.execPath,
    cli: '/opt/kairos/dist/src/cli/main.js',
    pathEnv: '/usr/bin:/bin',
    uid,
    ...over,
  });

  test('systemd: EnvironmentFile=- names it (% escaped), and systemd-analyze accepts the unit', (t) => {
    const envFile = path.join(tmp, 'kairos 100%', 'env');
    const unit = systemdUnit(spec({ envFile }));
    assert.ok(unit.split('\n').includes(`EnvironmentFile=-${envFile.replace(/%/g, '%%')}`), unit);
    if (spawnSync('systemd-analyze', ['--version']).error) return t.skip('systemd-analyze is not installed (Debian package: systemd)');
    const runtime = dir('runtime', 0o700);
    const file = path.join(dir('verify'), 'kairos.service');
    fs.writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['--user', 'verify', file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
    assert.equal((r.stdout + r.stderr).split('\n').filter((l) => l.includes(file)).join('\n'), '');
  });

  test("launchd: node --env-file on the plist's own command line loads the key (run with this node)", () => {
    const envFile = path.join(dir('kh4'), 'env');
    ensureEnvFile(envFile, uid);
    fs.appendFileSync(envFile, 'ANTHROPIC_API_KEY=sk-from-env-file\n');
    const cli = path.join(dir('fake-cli'), 'main.js');
    fs.writeFileSync(cli, 'console.log(JSON.stringify({ key: process.env.ANTHROPIC_API_KEY, args: process.argv.slice(2) }));\n');
    const plist = launchdPlist(spec({ platform: 'darwin', envFile, cli }));
    const array = plist.slice(plist.indexOf('<key>ProgramArguments</key>'), plist.indexOf('</array>'));
    const argv = [...array.matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]!);
    assert.deepEqual(argv, [process.execPath, `--env-file=${envFile}`, cli, 'run']);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { key: 'sk-from-env-file', args: ['run'] });
  });
});

describe('kairos service install, the real command', { skip: process.platform !== 'linux' ? 'checks the systemd path' : false }, () => {
  const run = (cli: string[], args: string[], env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [...cli, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  const hasSystemctl = !spawnSync('systemctl', ['--version']).error;

  test('a failing systemctl exits 1 with its message; the unit gets a clean PATH and the env file; dropped folders are named', { skip: hasSystemctl ? false : 'systemctl is not installed (Debian package: systemd)' }, () => {
    const home = dir('u1');
    const npxBin = dir('u1/.npm/_npx/9f8e/node_modules/.bin');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${npxBin}:/tmp/node_modules/.bin:/usr/bin:/bin` };
    // No user bus: the real systemctl --user cannot connect, as on a machine without a login session.
    delete env.XDG_RUNTIME_DIR;
    delete env.DBUS_SESSION_BUS_ADDRESS;
    const r = run(kairosCliArgs(), ['--home', path.join(home, '.kairos'), 'service', 'install'], env);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /kairos: systemctl --user daemon-reload failed \(exit 1\):\n.*bus/i);
    assert.match(r.stdout, /the step above failed, so run these yourself:\n {2}systemctl --user daemon-reload\n {2}systemctl --user enable --now kairos\.service/);
    assert.match(r.stderr, new RegExp(`left off the service's PATH:\\n {2}${npxBin}: npx's temporary cache`));

    const envFile = path.join(home, '.kairos', 'env');
    assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);
    const unit = fs.readFileSync(path.join(home, '.config/systemd/user/kairos.service'), 'utf8');
    assert.ok(unit.includes(`EnvironmentFile=-${envFile}\n`), unit);
    const pathLine = unit.split('\n').find((l) => l.startsWith('Environment=PATH='))!;
    assert.ok(pathLine.startsWith(`Environment=PATH=${nodeDir}:`), pathLine);
    assert.doesNotMatch(pathLine, /_npx|node_modules|\/tmp/);
  });

  test('run from an npx cache, install refuses and says to install globally first', () => {
    // The built CLI laid out as npx lays out a package: ~/.npm/_npx/<hash>/node_modules/kairos.
    const pkg = dir('u2/.npm/_npx/5d4c/node_modules/kairos');
    for (const part of ['dist/bin', 'dist/src', 'dist/daemon', 'policies', 'package.json']) fs.cpSync(path.join(REPO_ROOT, part), path.join(pkg, part), { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    const home = path.join(tmp, 'u2');
    const r = run([path.join(pkg, 'dist/bin/kairos.js')], ['--home', path.join(home, '.kairos'), 'service', 'install', '--dry-run'], { ...process.env, HOME: home });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kairos: this kairos runs from .*\/_npx\/5d4c\/node_modules\/kairos\/dist\/bin, npx's temporary cache/);
    assert.match(r.stderr, /npm install -g kairos/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(fs.existsSync(path.join(home, '.config')), false, 'nothing written');
    // Status and uninstall still work from there: removing a service must not need a good install.
    const st = run([path.join(pkg, 'dist/bin/kairos.js')], ['--home', path.join(home, '.kairos'), 'service', 'status', '--json'], { ...process.env, HOME: home, PATH: '/nonexistent' });
    assert.equal(st.status, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { installed: boolean }).installed, false);
    const un = run([path.join(pkg, 'dist/bin/kairos.js')], ['--home', path.join(home, '.kairos'), 'service', 'uninstall'], { ...process.env, HOME: home, PATH: '/nonexistent' });
    assert.equal(un.status, 0, un.stderr);
    assert.match(un.stdout, /nothing to remove/);
  });
});

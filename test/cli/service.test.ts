import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installService, launchdPlist, serviceFile, systemdUnit, uninstallService, type RunResult, type ServiceSpec } from '../../src/cli/service.js';
import { DAEMON_ENV } from '../../src/cli/daemon-node-args.js';
import { nodeArgsFor } from '../support/paths.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-service-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function spec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  const userHome = path.join(tmp, 'home with space');
  return {
    platform: 'linux',
    userHome,
    kairosHome: path.join(userHome, '.kairos 100%'),
    node: process.execPath,
    cli: '/opt/kai$ros/dist/bin/kairos.js',
    pathEnv: '/usr/local/bin:/usr/bin:/bin',
    uid: 1000,
    ...over,
  };
}

/** A unit file as systemd reads it: sections of key → values, with ExecStart split into words (quotes, %%, $$ undone). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      out[section] = {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    (out[section]![key] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

function words(s: string, exec: boolean): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m; (m = re.exec(s)); ) {
    let w = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
    w = w.replace(/%%/g, '%');
    if (exec) w = w.replace(/\$\$/g, '$');
    out.push(w);
  }
  return out;
}

describe('systemd user unit', () => {
  test('runs `<absolute node> <absolute cli> run`, restarts on failure, sets KAIROS_HOME, starts at login', () => {
    const s = spec();
    const f = serviceFile(s);
    assert.equal(f.kind, 'systemd');
    assert.equal(f.path, path.join(s.userHome, '.config/systemd/user/kairos.service'));
    const u = parseUnit(f.content);
    assert.deepEqual(words(u.Service!.ExecStart![0]!, true), [process.execPath, '/opt/kai$ros/dist/bin/kairos.js', 'run']);
    assert.deepEqual(u.Service!.Restart, ['on-failure']);
    assert.ok(Number(u.Service!.RestartSec![0]) > 0);
    const env = u.Service!.Environment!.flatMap((e) => words(e, false));
    assert.ok(env.includes(`KAIROS_HOME=${s.kairosHome}`), JSON.stringify(env));
    assert.ok(env.includes('PATH=/usr/local/bin:/usr/bin:/bin'));
    assert.deepEqual(u.Install!.WantedBy, ['default.target']);
  });

  test('relative paths are refused', () => {
    assert.throws(() => serviceFile(spec({ cli: 'dist/bin/kairos.js' })), /absolute cli path/);
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const noAnalyze = analyze.error ? 'systemd-analyze is not installed (Debian package: systemd)' : false;

  const verify = (unit: string): { code: number | null; complaints: string } => {
    const dir = fs.mkdtempSync(path.join(tmp, 'verify-'));
    const runtime = fs.mkdtempSync(path.join(tmp, 'runtime-'));
    fs.chmodSync(runtime, 0o700);
    const file = path.join(dir, 'kairos.service');
    fs.writeFileSync(file, unit);
    // --user needs a runtime dir; a container has no login session, so the test gives it one.
    const r = spawnSync('systemd-analyze', ['--user', 'verify', file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
    // systemd-analyze exits 0 even for a bad setting it ignores; what it says about the file is the verdict.
    const complaints = (r.stdout + r.stderr).split('\n').filter((l) => l.includes(file)).join('\n');
    return { code: r.status, complaints };
  };

  test('systemd-analyze --user verify accepts the generated unit', { skip: noAnalyze }, () => {
    const r = verify(systemdUnit(spec()));
    assert.equal(r.code, 0);
    assert.equal(r.complaints, '');
  });

  test('… and the check is real: it rejects a broken one', { skip: noAnalyze }, () => {
    const r = verify(systemdUnit(spec()).replace('Restart=on-failure', 'Restart=sometimes'));
    assert.match(r.complaints, /restart specifier/i);
  });
});

describe('launchd agent plist', () => {
  const hasPlutil = !spawnSync('plutil', ['-help'], { stdio: 'ignore' }).error;
  const hasPython = !spawnSync('python3', ['--version'], { stdio: 'ignore' }).error;

  test('macOS: ~/Library/LaunchAgents/dev.kairos.daemon.plist with RunAtLoad and KeepAlive', { skip: !hasPlutil && !hasPython ? 'neither plutil nor python3 (plistlib) is here to parse a plist' : false }, () => {
    const s = spec({ platform: 'darwin', kairosHome: '/Users/a & b/.kairos', cli: '/opt/k<x>/main.js' });
    const f = serviceFile(s);
    assert.equal(f.kind, 'launchd');
    assert.equal(f.path, path.join(s.userHome, 'Library/LaunchAgents/dev.kairos.daemon.plist'));
    const file = path.join(tmp, 'dev.kairos.daemon.plist');
    fs.writeFileSync(file, f.content);
    if (hasPlutil) {
      const lint = spawnSync('plutil', ['-lint', file], { encoding: 'utf8' });
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    }
    if (hasPython) {
      // Apple's plist format, read by Python's plistlib (a real plist parser, not a string match).
      const r = spawnSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const p = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(p.Label, 'dev.kairos.daemon');
      assert.deepEqual(p.ProgramArguments, [process.execPath, '/opt/k<x>/main.js', 'run']);
      assert.equal(p.RunAtLoad, true);
      assert.deepEqual(p.KeepAlive, { SuccessfulExit: false });
      assert.deepEqual(p.EnvironmentVariables, { KAIROS_HOME: '/Users/a & b/.kairos', PATH: '/usr/local/bin:/usr/bin:/bin', ...DAEMON_ENV });
    }
  });

  test('same content from launchdPlist', () => {
    assert.equal(serviceFile(spec({ platform: 'darwin' })).content, launchdPlist(spec({ platform: 'darwin' })));
  });

  test('Windows is refused with what to do instead', () => {
    assert.throws(() => serviceFile(spec({ platform: 'win32' })), /kairos run/);
  });
});

describe('install / uninstall', () => {
  const recorder = (answers: (argv: string[]) => Partial<RunResult> = () => ({})) => {
    const ran: string[][] = [];
    const run = (argv: string[]): RunResult => {
      ran.push(argv);
      return { code: 0, stdout: '', stderr: '', missing: false, ...answers(argv) };
    };
    return { ran, run };
  };

  test('install writes the unit and enables it with --now; uninstall disables, removes, reloads', () => {
    const s = spec({ userHome: fs.mkdtempSync(path.join(tmp, 'u-')) });
    const r = recorder();
    const out = installService(s, r.run);
    assert.equal(out.ok, true);
    assert.equal(fs.readFileSync(out.file.path, 'utf8'), systemdUnit(s));
    assert.deepEqual(r.ran, [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'kairos.service'],
    ]);
    const u = recorder();
    const un = uninstallService(s, u.run);
    assert.equal(un.removed, true);
    assert.equal(fs.existsSync(out.file.path), false);
    assert.deepEqual(u.ran, [
      ['systemctl', '--user', 'disable', '--now', 'kairos.service'],
      ['systemctl', '--user', 'daemon-reload'],
    ]);
  });

  test('no systemctl: the file is written and the commands are handed to the user', () => {
    const s = spec({ userHome: fs.mkdtempSync(path.join(tmp, 'u-')) });
    const out = installService(s, recorder(() => ({ missing: true, code: null })).run);
    assert.equal(out.ok, true);
    assert.ok(fs.existsSync(out.file.path));
    assert.deepEqual(out.todo[1], ['systemctl', '--user', 'enable', '--now', 'kairos.service']);
  });

  test('a failing systemctl is reported as a failure, with what is left to do', () => {
    const s = spec({ userHome: fs.mkdtempSync(path.join(tmp, 'u-')) });
    const out = installService(s, recorder((a) => (a.includes('enable') ? { code: 1, stderr: 'Failed to connect to bus' } : {})).run);
    assert.equal(out.ok, false);
    assert.match(out.ran[1]!.output, /Failed to connect to bus/);
    assert.deepEqual(out.todo, [['systemctl', '--user', 'enable', '--now', 'kairos.service']]);
  });
});

describe('kairos service (the command, as a process)', { skip: process.platform !== 'linux' ? 'the command test checks the Linux unit' : false }, () => {
  const cli = (args: string[], userHome: string) => {
    const noTools = path.join(userHome, 'empty-path'); // a PATH without systemctl: nothing outside the temp HOME is touched
    fs.mkdirSync(noTools, { recursive: true });
    const r = spawnSync(process.execPath, [...nodeArgsFor(import.meta.url, './service-cli-entry.ts'), '--home', path.join(userHome, '.kairos'), 'service', ...args], {
      encoding: 'utf8',
      env: { ...process.env, HOME: userHome, PATH: noTools },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('install --dry-run prints the unit and writes nothing; install / status / uninstall on a temp HOME', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'cli-home-'));
    const unitPath = path.join(home, '.config/systemd/user/kairos.service');
    const dry = cli(['install', '--dry-run'], home);
    assert.equal(dry.code, 0, dry.stderr);
    const u = parseUnit(dry.stdout);
    assert.deepEqual(u.Service!.Restart, ['on-failure']);
    const exec = words(u.Service!.ExecStart![0]!, true);
    assert.equal(exec[0], process.execPath);
    assert.equal(exec.at(-1), 'run');
    assert.ok(path.isAbsolute(exec.at(-2)!) && /bin\/kairos\.(js|ts)$/.test(exec.at(-2)!), exec.join(' '));
    assert.ok(u.Service!.Environment!.some((e) => words(e, false).includes(`KAIROS_HOME=${path.join(home, '.kairos')}`)));
    assert.match(dry.stderr, /systemctl --user enable --now kairos\.service/);
    assert.equal(fs.existsSync(unitPath), false);

    const inst = cli(['install'], home);
    assert.equal(inst.code, 0, inst.stderr);
    assert.match(inst.stdout, /systemctl is not installed here, so run these yourself/);
    assert.equal(fs.readFileSync(unitPath, 'utf8'), dry.stdout);

    const st = cli(['status', '--json'], home);
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual(JSON.parse(st.stdout), {
      kind: 'systemd',
      path: unitPath,
      installed: true,
      stale: false,
      manager: null,
      // install creates the private env file the unit reads the API key from
      env_file: { path: path.join(home, '.kairos', 'env'), exists: true, mode: '0600', private: true },
    });

    const un = cli(['uninstall'], home);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(fs.existsSync(unitPath), false);
  });
});

import { parseDuration } from './duration.js';
import { Budget, ENGINE_DEFAULTS, WORKERS_DEFAULTS, type Policy, type Trigger, type TriggerOverride } from './schema.js';
import { mergeRepoSandbox, mergeUserSandbox } from './sandbox/merge.js';
import { definedOnly } from '../core/record.js';

/**
 * Policy layering. The effective policy of one repository is
 *
 *   shipped default  ⊕  user ($KAIROS_HOME/policy.yaml)  ⊕  repository (<repo>/.kairos/policy.yaml)
 *
 * default ⊕ user (mergeUserPolicy): the user is the authority, so the user file wins. Its
 * triggers replace the default's; its scalars (budget, models, defaults) override the default's
 * key by key; permission rules and ignore patterns are added to the default's (so the shipped
 * denies on secret files always apply — deny wins over ask over allow, so a user takes away a
 * default allow by listing the rule under ask or deny).
 *
 * user ⊕ repository (mergeRepoPolicy): a repository file is written by whoever controls the
 * repository, not by the user, so it may only tighten. Every entry it asks for and does not get
 * is returned in `refused` with the reason, for the daemon to log and show.
 */

export interface Refusal {
  /** The entry of the repository policy, e.g. `triggers: 'tests' (run: npm test)`. */
  what: string;
  /** Why it was refused and what would change that. */
  why: string;
}

export interface RepoPolicyMerge {
  policy: Policy;
  refused: Refusal[];
  /** Names of the triggers in `policy` that came from the repository file. */
  fromRepo: string[];
}

const UNTRUSTED =
  "the repository is not trusted: its policy cannot add commands, agent work or allow rules until you review .kairos/policy.yaml and run 'kairos trust <repo>'";
const UNTRUSTED_TAIL = "an untrusted repository may only make Kairos do less; review .kairos/policy.yaml and run 'kairos trust <repo>'";
/** triage.look_every when no policy sets it (src/pipeline/look-backoff.ts DEFAULT_LOOK_EVERY). */
const DEFAULT_LOOK_EVERY = '10m';
/** presence.away_after when no policy sets it (src/pipeline/presence.ts DEFAULT_AWAY_AFTER_MS). */
const DEFAULT_AWAY_AFTER = '15m';

/** The shipped default with the user's file over it (see the module comment). */
export function mergeUserPolicy(shipped: Policy, user: Policy): Policy {
  const triggers = user.triggers.map(cloneTrigger);
  for (const [name, o] of Object.entries(user.overrides ?? {})) {
    const t = triggers.find((x) => x.name === name);
    if (t) Object.assign(t, definedOnly(o));
  }
  return definedOnly<Policy>({
    version: 1 as const,
    triggers,
    budget: mergeObjects(shipped.budget, user.budget),
    models: mergeObjects(shipped.models, user.models),
    defaults: mergeObjects(shipped.defaults, user.defaults),
    permissions:
      shipped.permissions || user.permissions
        ? {
            allow: union(shipped.permissions?.allow, user.permissions?.allow),
            ask: union(shipped.permissions?.ask, user.permissions?.ask),
            deny: union(shipped.permissions?.deny, user.permissions?.deny),
          }
        : undefined,
    ignore: shipped.ignore || user.ignore ? union(shipped.ignore, user.ignore) : undefined,
    mcp_servers: mergeObjects(shipped.mcp_servers, user.mcp_servers),
    dream: mergeObjects(shipped.dream, user.dream),
    presence: mergeObjects(shipped.presence, user.presence),
    triage: mergeObjects(shipped.triage, user.triage),
    gate: mergeObjects(shipped.gate, user.gate),
    workers: mergeObjects(shipped.workers, user.workers),
    sandbox: mergeUserSandbox(shipped.sandbox, user.sandbox),
    retention: mergeObjects(shipped.retention, user.retention),
    notify: mergeObjects(shipped.notify, user.notify),
  });
}

/**
 * The user's policy tightened by a repository's policy. What a repository file may do:
 *
 * always (tightening):
 *  - `overrides: {<user trigger>: {...}}`: disable it (enabled: false), raise settle_ms or
 *    cooldown, lower timeout, change notify;
 *  - add triggers with neither run nor ask (notification-only);
 *  - add deny and ask rules (a rule it moves to ask or deny is also taken out of allow);
 *  - lower budget caps (or set one the user left unset), lower defaults.timeout and
 *    defaults.output_limit_bytes, raise defaults.settle_ms;
 *  - add ignore patterns (fewer events);
 *  - lower workers.max (fewer parallel workers per split).
 * only when `trusted` (the user ran `kairos trust` and the pinned files are unchanged):
 *  - add triggers with run or ask; a name the user already uses stays the user's;
 *  - add allow rules;
 *  - add MCP servers (a stdio server is a command; an HTTP one reaches the network); a name the
 *    user already uses stays the user's;
 *  - choose models;
 *  - turn on the dream job or triage the user turned off, change the dream schedule, shorten
 *    presence.away_after (Kairos would count the user away, and do more, sooner) or
 *    triage.look_every (it would ask the model more often);
 *  - raise workers.max (more parallel work per task; the money stays bounded by budget.task_usd);
 *  - show sandboxed commands more paths or variables (sandbox.read, write, env).
 * always: lower the sandbox's limits (sandbox.limits); never raise them.
 * always, for the ambient parts: turn the dream job or triage off, raise triage.reserve_usd
 * (ambient work spends less), lengthen presence.away_after or triage.look_every, set
 * presence.batch_every.
 * never, trusted or not: re-enable a trigger the user disabled, loosen a user trigger's
 * settle/cooldown/timeout, raise a budget cap (money is the user's to give: caps are raised in
 * $KAIROS_HOME/policy.yaml only), or change a user trigger's on/run/ask.
 */
export function mergeRepoPolicy(user: Policy, repo: Policy, opts: { trusted: boolean }): RepoPolicyMerge {
  const refused: Refusal[] = [];
  const refuse = (what: string, why: string) => refused.push({ what, why });
  const fromRepo: string[] = [];
  const triggers = user.triggers.map(cloneTrigger);
  const userDefaults = user.defaults ?? {};

  for (const [name, o] of Object.entries(repo.overrides ?? {})) {
    const t = triggers.find((x) => x.name === name);
    if (!t) {
      refuse(`overrides.${name}`, `the user policy has no trigger named '${name}' — overrides change the user's triggers; check the name`);
      continue;
    }
    applyOverride(t, o, userDefaults, (field, why) => refuse(`overrides.${name}.${field}`, why));
  }

  for (const t of repo.triggers) {
    const what = `triggers: '${t.name}'${t.run ? ` (run: ${clip(t.run)})` : t.ask ? ' (ask)' : ''}`;
    if (user.triggers.some((u) => u.name === t.name)) {
      refuse(what, `the user policy has a trigger with this name and the user's wins — rename it, or use overrides: {${t.name}: {...}} to tighten the user's`);
      continue;
    }
    if ((t.run || t.ask) && !opts.trusted) {
      refuse(what, UNTRUSTED);
      continue;
    }
    triggers.push(cloneTrigger(t));
    fromRepo.push(t.name);
  }

  const up = user.permissions;
  const rp = repo.permissions;
  let permissions = up;
  if (rp) {
    const deny = union(up?.deny, rp.deny);
    const ask = union(up?.ask, rp.ask);
    const tightened = new Set([...rp.deny, ...rp.ask]);
    const allow = (up?.allow ?? []).filter((r) => !tightened.has(r));
    for (const r of rp.allow) {
      if (allow.includes(r) || tightened.has(r)) continue;
      if (opts.trusted) allow.push(r);
      else refuse(`permissions.allow: '${clip(r)}'`, UNTRUSTED);
    }
    permissions = { allow, ask, deny };
  }

  let budget = user.budget ? { ...user.budget } : undefined;
  const repoBudget: Budget = repo.budget ?? {};
  // In the file's own order (the refusals are listed as written); the schema is strict, so every key is one of its own.
  for (const k of Object.keys(repoBudget).flatMap((key) => Budget.keyof().options.filter((o) => o === key))) {
    const v = repoBudget[k];
    if (v === undefined) continue;
    const cap = user.budget?.[k];
    if (cap === undefined || v <= cap) budget = { ...budget, [k]: v };
    else refuse(`budget.${k}: ${v}`, `higher than the user's cap of ${cap} — a repository may only lower budget caps; raise them in $KAIROS_HOME/policy.yaml`);
  }

  let models = user.models;
  const userModels = new Map<string, unknown>(Object.entries(user.models ?? {}));
  const modelChanges = Object.entries(definedOnly(repo.models ?? {})).filter(([k, v]) => userModels.get(k) !== v);
  if (modelChanges.length) {
    if (opts.trusted) models = { ...user.models, ...Object.fromEntries(modelChanges) };
    else for (const [k, v] of modelChanges) refuse(`models.${k}: ${clip(String(v))}`, UNTRUSTED);
  }

  const defaults = { ...userDefaults };
  const rd = repo.defaults ?? {};
  if (rd.settle_ms !== undefined) {
    const cur = userDefaults.settle_ms ?? ENGINE_DEFAULTS.settle_ms;
    if (rd.settle_ms >= cur) defaults.settle_ms = rd.settle_ms;
    else refuse(`defaults.settle_ms: ${rd.settle_ms}`, `lower than the user's ${cur} ms — a repository may only raise settle_ms`);
  }
  if (rd.timeout !== undefined) {
    const cur = userDefaults.timeout ?? ENGINE_DEFAULTS.timeout_ms;
    if (parseDuration(rd.timeout) <= parseDuration(cur)) defaults.timeout = rd.timeout;
    else refuse(`defaults.timeout: ${rd.timeout}`, `longer than the user's ${cur} — a repository may only shorten the time limit`);
  }
  if (rd.output_limit_bytes !== undefined) {
    const cur = userDefaults.output_limit_bytes ?? ENGINE_DEFAULTS.output_limit_bytes;
    if (rd.output_limit_bytes <= cur) defaults.output_limit_bytes = rd.output_limit_bytes;
    else refuse(`defaults.output_limit_bytes: ${rd.output_limit_bytes}`, `larger than the user's ${cur} — a repository may only lower it`);
  }

  const ignore = user.ignore || repo.ignore ? union(user.ignore, repo.ignore) : undefined;

  let mcpServers = user.mcp_servers;
  for (const [name, server] of Object.entries(repo.mcp_servers ?? {})) {
    const mine = user.mcp_servers?.[name];
    if (mine && JSON.stringify(mine) === JSON.stringify(server)) continue;
    const what = `mcp_servers.${name} (${'command' in server ? `command: ${clip([server.command, ...(server.args ?? [])].join(' '))}` : `url: ${clip(server.url)}`})`;
    if (mine) refuse(what, "the user policy has an MCP server with this name and the user's wins — rename it in .kairos/policy.yaml");
    else if (!opts.trusted) refuse(what, UNTRUSTED);
    else mcpServers = { ...mcpServers, [name]: structuredClone(server) };
  }

  const ambient = mergeAmbient(user, repo, opts.trusted, refuse);
  let workers = user.workers ? { ...user.workers } : undefined;
  const wantWorkers = repo.workers?.max;
  if (wantWorkers !== undefined) {
    const userMax = user.workers?.max ?? WORKERS_DEFAULTS.max;
    if (wantWorkers <= userMax || opts.trusted) workers = { ...workers, max: wantWorkers };
    else refuse(`workers.max: ${wantWorkers}`, `higher than the user's ${userMax}; ${UNTRUSTED_TAIL}`);
  }
  const gate = mergeGate(user.gate, repo.gate, refuse);
  const sandbox = mergeRepoSandbox(user.sandbox, repo.sandbox, opts.trusted, refuse);
  // One store serves every repository: how long it keeps history is the user's to say.
  if (repo.retention) refuse('retention', 'the store is shared by every repository — set retention in $KAIROS_HOME/policy.yaml');
  // The voice is the desk's, not a repository's: a cloned repository must not make the machine talk.
  if (repo.notify) refuse('notify', "how Kairos speaks to you is yours to set — set notify in $KAIROS_HOME/policy.yaml");

  const policy = definedOnly<Policy>({
    version: 1 as const,
    triggers,
    budget,
    models,
    permissions,
    ignore,
    defaults: Object.keys(defaults).length ? defaults : undefined,
    mcp_servers: mcpServers,
    gate,
    workers,
    sandbox,
    retention: user.retention,
    notify: user.notify,
    ...ambient,
  });
  return { policy, refused, fromRepo };
}

/**
 * The gate only ever gets stricter from a repository: a lower hourly limit, a longer edit back-off,
 * quiet hours where the user set none. Anything looser is refused, trusted or not.
 */
function mergeGate(user: Policy['gate'], repo: Policy['gate'], refuse: (what: string, why: string) => void): Policy['gate'] {
  if (!repo) return user ? { ...user } : undefined;
  const out = { ...user };
  if (repo.max_actions_per_hour !== undefined) {
    if (user?.max_actions_per_hour === undefined || repo.max_actions_per_hour <= user.max_actions_per_hour) out.max_actions_per_hour = repo.max_actions_per_hour;
    else refuse(`gate.max_actions_per_hour: ${repo.max_actions_per_hour}`, `higher than the user's ${user.max_actions_per_hour} — a repository may only lower it`);
  }
  if (repo.edit_backoff !== undefined) {
    if (user?.edit_backoff === undefined || parseDuration(repo.edit_backoff) >= parseDuration(user.edit_backoff)) out.edit_backoff = repo.edit_backoff;
    else refuse(`gate.edit_backoff: ${repo.edit_backoff}`, `shorter than the user's ${user.edit_backoff} — a repository may only lengthen it`);
  }
  if (repo.quiet_hours !== undefined) {
    if (!user?.quiet_hours) out.quiet_hours = { ...repo.quiet_hours };
    else if (JSON.stringify(user.quiet_hours) !== JSON.stringify(repo.quiet_hours)) {
      refuse(`gate.quiet_hours: ${repo.quiet_hours.start}–${repo.quiet_hours.end}`, "the user's quiet hours win — change them in $KAIROS_HOME/policy.yaml");
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * The repository's say over the ambient parts (dream, triage, presence). Turning model work off is
 * always the repository's to choose (it spends less and sends less of the repository to a model);
 * turning it back on, or making Kairos busier, needs trust.
 */
function mergeAmbient(
  user: Policy,
  repo: Policy,
  trusted: boolean,
  refuse: (what: string, why: string) => void,
): Pick<Policy, 'dream' | 'triage' | 'presence'> {
  const out: Pick<Policy, 'dream' | 'triage' | 'presence'> = {
    dream: user.dream ? { ...user.dream } : undefined,
    triage: user.triage ? { ...user.triage } : undefined,
    presence: user.presence ? { ...user.presence } : undefined,
  };

  for (const key of ['dream', 'triage'] as const) {
    const want = repo[key]?.enabled;
    if (want === undefined || want === (user[key]?.enabled ?? true)) continue;
    if (want === false || trusted) out[key] = { ...out[key], enabled: want };
    else refuse(`${key}.enabled: true`, `the user turned ${key} off — ${UNTRUSTED_TAIL}`);
  }

  const cron = repo.dream?.cron;
  if (cron !== undefined && cron !== user.dream?.cron) {
    if (trusted) out.dream = { ...out.dream, cron };
    else refuse(`dream.cron: ${clip(cron)}`, UNTRUSTED_TAIL);
  }

  const reserve = repo.triage?.reserve_usd;
  if (reserve !== undefined) {
    const cur = user.triage?.reserve_usd ?? 0;
    if (reserve >= cur) out.triage = { ...out.triage, reserve_usd: reserve };
    else refuse(`triage.reserve_usd: ${reserve}`, `lower than the user's ${cur} — a repository may only raise the reserve; lower it in $KAIROS_HOME/policy.yaml`);
  }

  // Looking less often is the repository's to ask; more often needs trust, like away_after.
  const every = repo.triage?.look_every;
  if (every !== undefined) {
    const cur = user.triage?.look_every ?? DEFAULT_LOOK_EVERY;
    if (parseDuration(every) >= parseDuration(cur) || trusted) out.triage = { ...out.triage, look_every: every };
    else refuse(`triage.look_every: ${every}`, `shorter than the user's ${cur} — ${UNTRUSTED_TAIL}`);
  }

  const away = repo.presence?.away_after;
  if (away !== undefined) {
    const cur = user.presence?.away_after ?? DEFAULT_AWAY_AFTER;
    if (parseDuration(away) >= parseDuration(cur) || trusted) out.presence = { ...out.presence, away_after: away };
    else refuse(`presence.away_after: ${away}`, `shorter than the user's ${cur} — ${UNTRUSTED_TAIL}`);
  }
  // How notifications are grouped grants nothing, like a trigger's notify.
  if (repo.presence?.batch_every !== undefined) out.presence = { ...out.presence, batch_every: repo.presence.batch_every };
  return out;
}

function applyOverride(
  t: Trigger,
  o: TriggerOverride,
  userDefaults: NonNullable<Policy['defaults']>,
  refuse: (field: string, why: string) => void,
): void {
  if (o.enabled === false) t.enabled = false;
  else if (o.enabled === true && !t.enabled) refuse('enabled', 'the user disabled this trigger — a repository policy cannot turn it back on');

  if (o.settle_ms !== undefined) {
    const cur = t.settle_ms ?? userDefaults.settle_ms ?? ENGINE_DEFAULTS.settle_ms;
    if (o.settle_ms >= cur) t.settle_ms = o.settle_ms;
    else refuse('settle_ms', `${o.settle_ms} is lower than the user's ${cur} ms — a repository may only raise settle_ms`);
  }
  if (o.cooldown !== undefined) {
    if (parseDuration(o.cooldown) >= parseDuration(t.cooldown)) t.cooldown = o.cooldown;
    else refuse('cooldown', `${o.cooldown} is shorter than the user's ${t.cooldown} — a repository may only lengthen a cool-down`);
  }
  if (o.timeout !== undefined) {
    const cur = t.timeout ?? userDefaults.timeout ?? ENGINE_DEFAULTS.timeout_ms;
    if (parseDuration(o.timeout) <= parseDuration(cur)) t.timeout = o.timeout;
    else refuse('timeout', `${o.timeout} is longer than the user's ${cur} — a repository may only shorten the time limit`);
  }
  // Notifications grant nothing, so a repository may choose them.
  if (o.notify !== undefined) t.notify = o.notify;
}

function cloneTrigger(t: Trigger): Trigger {
  return structuredClone(t);
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] {
  return [...new Set([...(a ?? []), ...(b ?? [])])];
}


function mergeObjects<T extends object>(a: T | undefined, b: T | undefined): T | undefined {
  if (!b) return a && { ...a };
  return { ...a, ...definedOnly(b) };
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 60 ? `${one.slice(0, 57)}...` : one;
}

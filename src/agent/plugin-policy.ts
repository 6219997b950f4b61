import type { Policy } from '../policy/schema.js';
import type { LogSink } from '../report/logger.js';
import { loadPlugins, pluginDirs } from './plugins.js';

/**
 * The user's policy with what their plugins contribute: triggers (a name the user already uses stays
 * the user's) and permission rules (a plugin's allow rules survive loading only when the user
 * trusted the plugin's folder explicitly; deny and ask always apply).
 */
export function withPlugins(policy: Policy, home: string, log: LogSink): Policy {
  const { plugins, errors } = loadPlugins(pluginDirs(home), { kairosHome: home });
  for (const e of errors) log.warn({ err: e.message }, 'plugin not loaded');
  if (!plugins.length) return policy;
  const triggers = [...policy.triggers];
  const allow = [...(policy.permissions?.allow ?? [])];
  const ask = [...(policy.permissions?.ask ?? [])];
  const deny = [...(policy.permissions?.deny ?? [])];
  for (const p of plugins) {
    for (const r of p.refused) log.warn({ plugin: p.name, what: r.what, why: r.why }, 'plugin entry refused');
    for (const t of p.triggers) {
      if (triggers.some((x) => x.name === t.name)) log.warn({ plugin: p.name, trigger: t.name }, "plugin trigger skipped: the user's policy has a trigger of that name");
      else triggers.push(t);
    }
    allow.push(...p.permissions.allow);
    ask.push(...p.permissions.ask);
    deny.push(...p.permissions.deny);
  }
  log.info({ plugins: plugins.map((p) => `${p.name}@${p.version}`) }, 'plugins loaded');
  return { ...policy, triggers, permissions: { allow, ask, deny } };
}

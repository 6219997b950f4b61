import { registerKnownSecrets, secretsFromEnv } from './redact.js';
import { shippedRuleSet } from './rule-set.js';

/**
 * What a long-running process does once at start: the values of its own secret-named environment
 * variables (ANTHROPIC_API_KEY, tokens, passwords) become known secrets, redacted wherever they
 * appear; and every shipped rule is compiled now, so a rule that cannot be translated is counted
 * once in the log rather than found out on first use.
 */
export function registerSecretRedaction(env: NodeJS.ProcessEnv, log?: { info(o: object, m: string): void; warn(o: object, m: string): void }): void {
  registerKnownSecrets(secretsFromEnv(env));
  const rules = shippedRuleSet();
  rules.compileAll();
  const skipped = rules.skipped.filter((s) => !s.reason.startsWith('path-only'));
  log?.info({ rules: rules.rules.length - skipped.length, skipped: skipped.length, source: rules.source }, 'secret redaction rules loaded');
  if (skipped.length) log?.warn({ skipped }, `${skipped.length} secret rules could not be translated and are not used`);
}

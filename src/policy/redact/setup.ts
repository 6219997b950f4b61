import { registerKnownSecrets, secretsFromEnv } from './redact.js';
import { shippedRuleSet } from './rule-set.js';

type SetupLog = { info(o: object, m: string): void; warn(o: object, m: string): void };

/**
 * What a long-running process does first thing: the values of its own secret-named environment
 * variables (ANTHROPIC_API_KEY, tokens, passwords) become known secrets, redacted wherever they
 * appear, from the very first log line; and the shipped rule file is read.
 */
export function registerSecretRedaction(env: NodeJS.ProcessEnv): void {
  registerKnownSecrets(secretsFromEnv(env));
  // Read and checked now (a damaged install fails the start, not the first log line); compiled later.
  shippedRuleSet();
}

/**
 * Compiles every shipped rule, so a rule that cannot be translated is counted once in the log rather
 * than found out on first use. Redaction never waits for it (each rule compiles on its first use), so
 * the daemon runs it once its watchers are live: ~100 ms of regex translation off the start-up path.
 */
export function compileShippedRules(log?: SetupLog): void {
  const rules = shippedRuleSet();
  rules.compileAll();
  const skipped = rules.skipped.filter((s) => !s.reason.startsWith('path-only'));
  log?.info({ rules: rules.rules.length - skipped.length, skipped: skipped.length, source: rules.source }, 'secret redaction rules loaded');
  if (skipped.length) log?.warn({ skipped }, `${skipped.length} secret rules could not be translated and are not used`);
}

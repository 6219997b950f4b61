import type { ThresholdCrossing } from '../src/model/ledger.js';
import { thresholdMessage } from '../src/model/spend-report.js';
import type { RepoPolicy } from '../src/policy/effective.js';
import type { Trigger } from '../src/policy/schema.js';
import { appendDailyLog } from '../src/report/daily-log.js';
import type { Logger } from '../src/report/logger.js';
import { createNotifier, desktopNotifyBackend, type Notifier } from '../src/report/notify.js';
import { reportTask } from '../src/report/task-report.js';
import { createDbusNotifier, DbusUnavailableError, type DbusNotifier } from '../src/report/dbus-notify.js';
import { notificationIcon } from '../src/report/notify-icon.js';
import { appliedNotification, logDecision } from '../src/report/decision-text.js';
import type { DecisionReport } from '../src/pipeline/decision-report.js';
import { callDaemon } from '../src/cli/control-client.js';
import type { TaskRow } from '../src/store/task-store.js';
import type { Voice } from '../src/report/speech.js';
import path from 'node:path';
import { messageOf } from '../src/core/errors.js';

/** The report stage as the daemon uses it: the daily log, notifications and the log file, never failing the caller. */
export class Reporter {
  constructor(private readonly d: { home: string; log: Logger; notifier: Notifier; voice?: Voice }) {}

  notify(title: string, body: string, urgency: 'low' | 'normal' | 'critical' = 'normal'): void {
    // Not awaited: a notification must never hold up or fail the caller; a failure is logged.
    void this.d.notifier.notify({ title, body, urgency }).catch((e: unknown) => this.d.log.warn({ err: e instanceof Error ? e.message : String(e), title }, 'notification failed'));
    // Urgent notices are said aloud too (when the policy asks for speech): their title is the phrase.
    if (urgency === 'critical') this.speak(title);
  }

  /** A short phrase, aloud, when `notify.speak` is on; never waits. */
  speak(phrase: string): void {
    this.d.voice?.say(phrase.startsWith('Kairos') ? phrase : `Kairos: ${phrase}`);
  }

  daily(text: string, repo?: string): void {
    try {
      appendDailyLog(this.d.home, { at: new Date(), ...(repo ? { repo } : {}), text });
    } catch (e) {
      this.d.log.error({ err: messageOf(e) }, 'could not write the daily log');
    }
  }

  /**
   * A decision on a proposal: always a daily-log line with who decided. An approval from the tray
   * gets a notification with the undo command (the CLI prints it; a notification's own follow-up says it).
   */
  decision(r: DecisionReport): void {
    this.d.log.info({ decision: r.kind, id: r.id, by: r.by, repo: r.repo, tasks: r.taskIds, files: r.files.length, reason: r.reason }, 'proposal decided');
    logDecision(this.d.home, r, (e) => this.d.log.error({ err: e.message }, 'could not write the daily log'));
    if (r.kind === 'approve' && r.by === 'tray') {
      const n = appliedNotification(r);
      this.notify(n.title, n.body);
    }
  }

  async taskFinished(task: TaskRow, trigger: Trigger | undefined, previous: TaskRow | undefined): Promise<void> {
    const rep = reportTask(task, trigger, previous);
    this.d.log.info({ task: task.id, trigger: task.trigger, state: task.state, exit_code: task.exit_code, duration_ms: task.duration_ms }, 'task finished');
    this.daily(rep.log, task.repo);
    if (rep.notification && task.state !== 'done') this.speak(`${task.trigger} failing in ${path.basename(task.repo)}`);
    if (rep.notification) await this.d.notifier.notify(rep.notification);
  }

  interrupted(t: TaskRow): void {
    this.d.log.warn({ task: t.id, trigger: t.trigger }, 'task was running when the daemon stopped; marked interrupted, not re-run');
    this.daily(`task ${t.id} (${t.trigger}) was interrupted by a daemon stop; not re-run`, t.repo);
  }

  policyProblems(repo: string, p: RepoPolicy): void {
    if (p.error) {
      this.d.log.error({ repo, error: p.error }, 'repository policy is invalid; its triggers are off until it is fixed');
      this.notify('Kairos: invalid repository policy', p.error);
    }
    for (const r of p.refused) this.d.log.warn({ repo, what: r.what, why: r.why }, 'repository policy entry refused');
    if (p.refused.length && p.trust !== 'trusted') {
      const n = p.refused.length;
      this.daily(`refused ${n} entr${n === 1 ? 'y' : 'ies'} of ${repo}/.kairos/policy.yaml until you run 'kairos trust ${repo}'`, repo);
    }
  }

  /** The user's policy file was edited into something invalid: the previous policy stays in force. */
  policyReloadFailed(error: string): void {
    const text = `the edited policy is invalid, so the previous policy stays in force until it is fixed: ${error}`;
    this.d.log.error({ err: error }, 'policy reload failed; keeping the previous policy');
    this.daily(text);
    this.notify('Kairos: policy edit not applied', text, 'critical');
  }

  policyReloadFixed(): void {
    const text = 'the policy parses again and is in force';
    this.d.log.info(text);
    this.daily(text);
    this.notify('Kairos: policy applied', text);
  }

  budgetThreshold(c: ThresholdCrossing): void {
    const text = thresholdMessage(c);
    this.d.log.warn({ crossing: c }, text);
    this.daily(text);
    this.notify(`Kairos: ${c.percent} % of ${c.cap} budget`, text, c.percent >= 100 ? 'critical' : 'normal');
  }
}

/**
 * The daemon's desktop notifications: one app name ("Kairos") and one icon for all of them.
 * Proposals are announced with Approve / Deny / Show actions where the desktop supports them (a
 * click comes back to this daemon over its own control socket, with a one-time token); elsewhere
 * the plain notifier says the command to run. Plain notifications (task results) go over the same
 * D-Bus connection when there is a notification server, else through node-notifier (notify-send).
 */
export function desktopNotifiers(env: NodeJS.ProcessEnv, home: string, log: Logger): { notifier: Notifier; proposals: DbusNotifier | null } {
  const icon = notificationIcon(home);
  const desktop = desktopNotifyBackend(icon);
  let proposals: DbusNotifier | null = null;
  const notifier = createNotifier({
    enabled: env.KAIROS_NOTIFY !== 'off',
    home,
    log,
    backend: async (n) => {
      if (proposals) {
        try {
          return await proposals.notifyPlain(n);
        } catch (e) {
          if (!(e instanceof DbusUnavailableError)) throw e;
        }
      }
      return desktop(n);
    },
  });
  if (env.KAIROS_NOTIFY !== 'off') {
    proposals = createDbusNotifier({
      appName: 'Kairos',
      ...(icon ? { icon } : {}),
      home,
      fallback: notifier,
      log,
      ...(env.DBUS_SESSION_BUS_ADDRESS ? { busAddress: env.DBUS_SESSION_BUS_ADDRESS } : {}),
      control: (method, params) => callDaemon(home, method, params, 120_000),
      onOutcome: (o) => log.info({ approval: o.approvalId, action: o.action, ok: o.ok, err: o.error?.message }, 'notification action'),
    });
  }
  return { notifier, proposals };
}

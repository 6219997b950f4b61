import type { FakeAnthropic, RecordedRequest, Reply } from '../../support/fake-anthropic.js';

/**
 * Scripts the agent's replies only. Other model calls the daemon makes on its own (triage of
 * ambient changes, summaries) get a plain text answer, so they can never eat a scripted attack
 * and shift every later reply by one. Agent requests are the ones that offer tools.
 */
export interface AgentScript {
  /** Queues more agent replies. */
  push(...replies: Reply[]): void;
  /** Agent replies not used yet. */
  pending(): number;
  /** Requests that were not the agent's (no tools offered). */
  otherCalls: RecordedRequest[];
}

export function scriptAgent(fake: FakeAnthropic, replies: Reply[] = []): AgentScript {
  const queue = [...replies];
  const otherCalls: RecordedRequest[] = [];
  fake.setFallback((req) => {
    if (Array.isArray(req.body?.tools) && req.body.tools.length > 0) return queue.shift() ?? { text: 'nothing more to do', stop_reason: 'end_turn' };
    otherCalls.push(req);
    return { text: '{"action":"sleep","reason":"nothing to do"}', stop_reason: 'end_turn' };
  });
  return { push: (...r) => void queue.push(...r), pending: () => queue.length, otherCalls };
}

import { performance } from 'node:perf_hooks';
import { startFakeAnthropic, type Reply } from '../test/support/fake-anthropic.js';
import { scriptedTurn } from './first-call.js';

/**
 * The fake Messages API of bench/first-call.ts, in a process of its own (forked by the bench), as
 * the real API is: the time it stamps on a request's arrival is not delayed by whatever the
 * daemon's own event loop does just after sending it (a git spawn blocks that loop until the child
 * has exec'd). Times are epoch milliseconds (timeOrigin + now), comparable across the two processes.
 *
 * Messages from the parent: 'reset' (forget the requests; answer 'reset') and 'stats' (answer with
 * the first /v1/messages request's arrival, the number of requests and of messages requests).
 */
export interface ServerStats {
  first: number | undefined;
  requests: number;
  messageRequests: number;
}

const now = (): number => performance.timeOrigin + performance.now();

const fake = await startFakeAnthropic();
let first: number | undefined;
fake.setFallback((req): Reply => {
  first ??= now();
  return scriptedTurn((req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'assistant').length);
});

process.on('message', (m: unknown) => {
  if (m === 'reset') {
    fake.reset();
    first = undefined;
    process.send!('reset');
  } else if (m === 'stats') {
    const stats: ServerStats = { first, requests: fake.requests.length, messageRequests: fake.messageRequests().length };
    process.send!(stats);
  }
});
// The parent going away (or closing the channel) ends the server.
process.on('disconnect', () => void fake.close().then(() => process.exit(0)));
process.send!({ url: fake.url });

import type * as DBus from 'dbus-next';
import { UnavailableError } from '../core/errors.js';

/** org.freedesktop.Notifications, the calls and signals Kairos uses, typed. */
export interface NotificationsProxy {
  GetCapabilities(): Promise<string[]>;
  Notify(appName: string, replacesId: number, icon: string, summary: string, body: string, actions: string[], hints: Record<string, DBus.Variant>, timeout: number): Promise<number>;
  CloseNotification(id: number): Promise<void>;
  onActionInvoked(fn: (id: number, key: string) => void): void;
  onNotificationClosed(fn: (id: number, reason: number) => void): void;
}

export class NotificationServerError extends UnavailableError {
  override name = 'NotificationServerError';
}

/**
 * The notification server's interface with typed calls. dbus-next types a proxy interface as a bag
 * of `Function`s (its methods exist once the server's introspection data has been read), so each
 * method is looked up when called, and each answer (another process's) is checked before it is
 * used: a server without the method, or with an answer of the wrong type, is an error, not a crash
 * further on.
 */
export function notificationsProxy(iface: DBus.ClientInterface): NotificationsProxy {
  const call = async (method: string, ...args: unknown[]): Promise<unknown> => {
    const f = iface[method];
    if (typeof f !== 'function') throw new NotificationServerError(`the notification server has no ${method} method`);
    const answer: unknown = await Reflect.apply(f, iface, args);
    return answer;
  };
  const wrongAnswer = (method: string, answer: unknown): NotificationServerError =>
    new NotificationServerError(`the notification server answered ${method} with ${typeof answer}, not what the specification says`);
  return {
    async GetCapabilities() {
      const caps = await call('GetCapabilities');
      if (!Array.isArray(caps)) throw wrongAnswer('GetCapabilities', caps);
      return caps.filter((c): c is string => typeof c === 'string');
    },
    async Notify(...args) {
      const id = await call('Notify', ...args);
      if (typeof id !== 'number') throw wrongAnswer('Notify', id);
      return id;
    },
    async CloseNotification(id) {
      await call('CloseNotification', id);
    },
    // A signal whose arguments are not the specification's (another program on the bus) is dropped.
    onActionInvoked(fn) {
      iface.on('ActionInvoked', (id: unknown, key: unknown) => {
        if (typeof id === 'number' && typeof key === 'string') fn(id, key);
      });
    },
    onNotificationClosed(fn) {
      iface.on('NotificationClosed', (id: unknown, reason: unknown) => {
        if (typeof id === 'number' && typeof reason === 'number') fn(id, reason);
      });
    },
  };
}

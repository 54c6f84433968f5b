/**
 * A client's transfer host: the one actor whose XState system every transfer actor of the client joins
 * (decision 121). A root actor brings a system of its own (about twenty closures and five collections,
 * built per transfer before); as children of the host, the transfers share the host's. Kept out of
 * `task.ts`, whose declarations the public ones reach, so that they name no XState type.
 * @module
 */
import { type ActorLogic, type AnyActorRef, createActor, type EventObject, type Snapshot } from 'xstate';
import type { Clock } from '../core/clock.js';
import type { HostedTask, TransferHost } from './task.js';

/** The host's one snapshot: it never changes. */
const HOST_SNAPSHOT: Snapshot<undefined> = { status: 'active', output: undefined, error: undefined };

/** An XState error event of a child (`xstate.error.actor.<id>`); its done event is the other kind it hears. */
const ERROR_EVENT = 'xstate.error.actor.';

/**
 * The logic of a client's transfer host: it hears its children's done and error events and tells the task
 * watching that child, so a task needs no subscription (an observer with two bound methods and a
 * subscription, per task: decision 128). Hearing costs no snapshot: it never changes.
 */
const hostLogic = (watching: Map<string, HostedTask>): ActorLogic<Snapshot<undefined>, EventObject> => ({
  transition: (snapshot, event) => {
    const { actorId } = event as { readonly actorId?: unknown };
    const task = typeof actorId === 'string' ? watching.get(actorId) : undefined;
    if (task === undefined) return snapshot;
    watching.delete(actorId as string);
    try {
      if (event.type.startsWith(ERROR_EVENT)) task.error((event as { readonly error?: unknown }).error);
      else task.complete();
    } catch (error) {
      // Reported as XState reports an observer that throws, and the host goes on hearing its other children.
      setTimeout(() => {
        throw error;
      });
    }
    return snapshot;
  },
  getInitialSnapshot: () => HOST_SNAPSHOT,
  getPersistedSnapshot: (snapshot) => snapshot,
});

/**
 * Creates and starts the host of one client's transfers. Its clock drives their delays (retry backoff),
 * so it must be the clock the tasks are given.
 * @example
 * const host = createTransferHost(systemClock);
 * startTask({ ...spec, host });
 */
export const createTransferHost = (clock: Clock): TransferHost => {
  const watching = new Map<string, HostedTask>();
  const parent: AnyActorRef = createActor(hostLogic(watching), { clock }).start();
  return {
    parent,
    watch: (actorId: string, task: HostedTask): void => {
      watching.set(actorId, task);
    },
  } as unknown as TransferHost;
};

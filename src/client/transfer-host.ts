/**
 * A client's transfer host: the one actor whose XState system every transfer actor of the client joins
 * (decision 121). A root actor brings a system of its own (about twenty closures and five collections,
 * built per transfer before); as children of the host, the transfers share the host's. Kept out of
 * `task.ts`, whose declarations the public ones reach, so that they name no XState type.
 * @module
 */
import { type ActorLogic, type AnyActorRef, createActor, type EventObject, type Snapshot } from 'xstate';
import type { Clock } from '../core/clock.js';
import type { TransferHost } from './task.js';

/** The host's one snapshot: it never changes. */
const HOST_SNAPSHOT: Snapshot<undefined> = { status: 'active', output: undefined, error: undefined };

/**
 * The logic of a client's transfer host: it ignores what it hears (its children's done and error
 * events), so hearing costs no snapshot.
 */
const hostLogic: ActorLogic<Snapshot<undefined>, EventObject> = {
  transition: (snapshot) => snapshot,
  getInitialSnapshot: () => HOST_SNAPSHOT,
  getPersistedSnapshot: (snapshot) => snapshot,
};

/**
 * Creates and starts the host of one client's transfers. Its clock drives their delays (retry backoff),
 * so it must be the clock the tasks are given.
 * @example
 * const host = createTransferHost(systemClock);
 * startTask({ ...spec, host });
 */
export const createTransferHost = (clock: Clock): AnyActorRef & TransferHost => createActor(hostLogic, { clock }).start() as unknown as AnyActorRef & TransferHost;

/**
 * The session machine: the client's connection to a hub. Its state is `connectionState$`; the reason
 * of the transition that led there (context `reason`) is what `connectionChange$` adds to it.
 *
 * DISCONNECTED ─LOGIN→ CONNECTING (LOGIN) ─ok→ CONNECTED (LOGIN_SUCCESS) ⇄ RECONNECTING (INTERRUPTED)
 * (the transport's link dropped; back with LOGIN_SUCCESS). CONNECTING ─error→ DISCONNECTED
 * (LOGIN_FAILURE, or LOGIN_TIMEOUT); any ─LOGOUT→ DISCONNECTED (LOGOUT); CONNECTED|RECONNECTING
 * ─ENDED→ ABORTED (REMOTE_LOGIN, TOKEN_EXPIRED, BANNED_BY_SERVER) or, when the transport's fresh login
 * after a lost session was refused, DISCONNECTED (LOGIN_FAILURE); ABORTED ─LOGIN→ CONNECTING.
 * @module
 */
import { assign, type ActorRefFrom, fromPromise, type SnapshotFrom, setup } from 'xstate';
import { Failure, failureOf } from '../src/core/failure.js';
import type { AbortCause, Credentials } from '../src/core/login.js';
import type { ConnectionChange, ConnectionChangeReason } from '../src/core/states.js';

export type { ConnectionChange, ConnectionChangeReason, ConnectionState } from '../src/core/states.js';

/**
 * What the machine needs of a transport: a login. The machine holds what it resolves with (the
 * transport's session) without looking inside, so it depends on no transport.
 */
export interface Connector {
  connect(credentials: Credentials, options: { readonly signal: AbortSignal }): Promise<unknown>;
}

/** What the session machine hears. */
export type SessionMachineEvent =
  | { readonly type: 'LOGIN'; readonly credentials: Credentials }
  | { readonly type: 'LOGOUT' }
  | { readonly type: 'DROPPED' }
  | { readonly type: 'RESTORED' }
  /** The session ended without the client asking: `cause` says why, `detail` in prose. */
  | { readonly type: 'ENDED'; readonly cause: AbortCause; readonly detail: string };

interface SessionContext {
  readonly transport: Connector;
  /** How long a login may take before it fails with `Timeout`. */
  readonly loginTimeoutMs: number;
  readonly credentials: Credentials | undefined;
  /** What the transport's login resolved with: the client's `Session`. */
  readonly session: unknown;
  /** Why the last login failed or the session was aborted. */
  readonly failure: Failure | undefined;
  /** Why the machine is in its state; `undefined` only before the first login. */
  readonly reason: ConnectionChangeReason | undefined;
}

/** The failure transfers and calls of a session that ended with `cause` get. */
const endFailure = (cause: AbortCause, detail: string): Failure =>
  cause === 'TOKEN_EXPIRED' ? Failure.tokenExpired() : Failure.interrupted(detail);

const machineSetup = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionMachineEvent,
    input: {} as { readonly transport: Connector; readonly loginTimeoutMs: number },
  },
  actors: {
    connect: fromPromise<unknown, { readonly transport: Connector; readonly credentials: Credentials }>(({ input, signal }) =>
      input.transport.connect(input.credentials, { signal }),
    ),
  },
  actions: {
    forget: assign({ session: undefined, credentials: undefined }),
    refusedLogin: assign(({ event }) => (event.type === 'ENDED' ? { failure: Failure.interrupted(event.detail), reason: 'LOGIN_FAILURE' as const } : {})),
    aborted: assign(({ event }) =>
      event.type === 'ENDED' && event.cause !== 'LOGIN_FAILURE' ? { failure: endFailure(event.cause, event.detail), reason: event.cause } : {},
    ),
    login: assign(({ event }) => ({
      credentials: (event as Extract<SessionMachineEvent, { type: 'LOGIN' }>).credentials,
      failure: undefined,
      reason: 'LOGIN' as const,
    })),
  },
  guards: {
    refused: ({ event }) => event.type === 'ENDED' && event.cause === 'LOGIN_FAILURE',
  },
  delays: {
    loginTimeout: ({ context }) => context.loginTimeoutMs,
  },
});

/** A session that ends while logged in: a refused fresh login disconnects, every other cause aborts. */
const ended = [
  { guard: 'refused', target: 'DISCONNECTED', actions: ['forget', 'refusedLogin'] },
  { target: 'ABORTED', actions: ['forget', 'aborted'] },
] as const;

/** The session machine; its state value is the client's `connectionState$`. Input: the transport. */
export const sessionMachine = machineSetup.createMachine({
  id: 'session',
  context: ({ input }) => ({
    transport: input.transport,
    loginTimeoutMs: input.loginTimeoutMs,
    credentials: undefined,
    session: undefined,
    failure: undefined,
    reason: undefined,
  }),
  initial: 'DISCONNECTED',
  states: {
    DISCONNECTED: {
      on: { LOGIN: { target: 'CONNECTING', actions: 'login' } },
    },
    CONNECTING: {
      invoke: {
        src: 'connect',
        input: ({ context }) => ({ transport: context.transport, credentials: context.credentials as Credentials }),
        onDone: { target: 'CONNECTED', actions: assign(({ event }) => ({ session: event.output, reason: 'LOGIN_SUCCESS' as const })) },
        onError: {
          target: 'DISCONNECTED',
          actions: [assign(({ event }) => ({ failure: failureOf(event.error), reason: 'LOGIN_FAILURE' as const })), 'forget'],
        },
      },
      // Leaving CONNECTING stops the connect actor, which aborts the transport's connect.
      after: {
        loginTimeout: {
          target: 'DISCONNECTED',
          actions: [
            assign(({ context }) => ({ failure: Failure.timeout(`no login answer within ${context.loginTimeoutMs} ms`), reason: 'LOGIN_TIMEOUT' as const })),
            'forget',
          ],
        },
      },
    },
    CONNECTED: {
      on: { DROPPED: { target: 'RECONNECTING', actions: assign({ reason: 'INTERRUPTED' as const }) }, ENDED: ended },
    },
    RECONNECTING: {
      on: { RESTORED: { target: 'CONNECTED', actions: assign({ reason: 'LOGIN_SUCCESS' as const }) }, ENDED: ended },
    },
    ABORTED: {
      on: { LOGIN: { target: 'CONNECTING', actions: 'login' } },
    },
  },
  on: {
    LOGOUT: { target: '.DISCONNECTED', actions: ['forget', assign({ reason: 'LOGOUT' as const })] },
  },
});

/** A running session actor. */
export type SessionActor = ActorRefFrom<typeof sessionMachine>;

/** A snapshot of the session machine. */
export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;

/** The connection change a snapshot stands for; `undefined` before the first login. */
export const connectionChangeOf = (snapshot: SessionSnapshot): ConnectionChange | undefined =>
  snapshot.context.reason === undefined ? undefined : { state: snapshot.value, reason: snapshot.context.reason };

/**
 * The session machine: the client's connection to a hub. Its state is `connectionState$`.
 *
 * DISCONNECTED ─LOGIN→ CONNECTING ─ok→ CONNECTED ⇄ RECONNECTING (the transport's link dropped / is back)
 * CONNECTING ─error→ DISCONNECTED; CONNECTED|RECONNECTING ─LOGOUT→ DISCONNECTED, ─KICKED→ ABORTED
 * (the same user logged in elsewhere); ABORTED ─LOGIN→ CONNECTING.
 * @module
 */
import { assign, type ActorRefFrom, fromPromise, type SnapshotFrom, setup } from 'xstate';
import { Failure, failureOf } from '../src/failure.js';
import type { Credentials, Session, Transport } from '../transports/transport.js';

/** The connection states, exactly. */
export type ConnectionState = 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' | 'ABORTED';

/** What the session machine hears. */
export type SessionMachineEvent =
  | { readonly type: 'LOGIN'; readonly credentials: Credentials }
  | { readonly type: 'LOGOUT' }
  | { readonly type: 'DROPPED' }
  | { readonly type: 'RESTORED' }
  | { readonly type: 'KICKED'; readonly reason: string };

interface SessionContext {
  readonly transport: Transport;
  /** How long a login may take before it fails with `Timeout`. */
  readonly loginTimeoutMs: number;
  readonly credentials: Credentials | undefined;
  readonly session: Session | undefined;
  /** Why the last login failed or the session was aborted. */
  readonly failure: Failure | undefined;
}

/** The session machine; its state value is the client's `connectionState$`. Input: the transport. */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionMachineEvent,
    input: {} as { readonly transport: Transport; readonly loginTimeoutMs: number },
  },
  actors: {
    connect: fromPromise<Session, { readonly transport: Transport; readonly credentials: Credentials }>(({ input, signal }) =>
      input.transport.connect(input.credentials, { signal }),
    ),
  },
  actions: {
    forget: assign({ session: undefined, credentials: undefined }),
  },
  delays: {
    loginTimeout: ({ context }) => context.loginTimeoutMs,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    transport: input.transport,
    loginTimeoutMs: input.loginTimeoutMs,
    credentials: undefined,
    session: undefined,
    failure: undefined,
  }),
  initial: 'DISCONNECTED',
  states: {
    DISCONNECTED: {
      on: { LOGIN: { target: 'CONNECTING', actions: assign(({ event }) => ({ credentials: event.credentials, failure: undefined })) } },
    },
    CONNECTING: {
      invoke: {
        src: 'connect',
        input: ({ context }) => ({ transport: context.transport, credentials: context.credentials as Credentials }),
        onDone: { target: 'CONNECTED', actions: assign(({ event }) => ({ session: event.output })) },
        onError: {
          target: 'DISCONNECTED',
          actions: [assign(({ event }) => ({ failure: failureOf(event.error) })), 'forget'],
        },
      },
      // Leaving CONNECTING stops the connect actor, which aborts the transport's connect.
      after: {
        loginTimeout: {
          target: 'DISCONNECTED',
          actions: [assign(({ context }) => ({ failure: Failure.timeout(`no login answer within ${context.loginTimeoutMs} ms`) })), 'forget'],
        },
      },
      on: { LOGOUT: { target: 'DISCONNECTED', actions: 'forget' } },
    },
    CONNECTED: {
      on: { DROPPED: 'RECONNECTING' },
    },
    RECONNECTING: {
      on: { RESTORED: 'CONNECTED' },
    },
    ABORTED: {
      on: { LOGIN: { target: 'CONNECTING', actions: assign(({ event }) => ({ credentials: event.credentials, failure: undefined })) } },
    },
  },
  on: {
    LOGOUT: { target: '.DISCONNECTED', actions: 'forget' },
    KICKED: { target: '.ABORTED', actions: ['forget', assign(({ event }) => ({ failure: Failure.interrupted(event.reason) }))] },
  },
});

/** A running session actor. */
export type SessionActor = ActorRefFrom<typeof sessionMachine>;

/** A snapshot of the session machine. */
export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;

/**
 * The link machine: one transport link to a server (the WebSocket of `ws-link.ts`, the event stream of
 * `http.ts`) from open to ended, and its reconnects in between.
 *
 * open ─DROPPED→ reconnecting.waiting ─(delay)→ reconnecting.attempting ─restored→ open
 * attempting ─retry, failure or DROPPED→ waiting (the next delay); ─ended→ ended
 * open | reconnecting ─CLOSE→ closing ─CLOSED or DROPPED (nothing left to close)→ ended
 * open | reconnecting ─END→ ended (the server ended the session, or refused a fresh login)
 *
 * - The delay before each attempt is the table's (`delays`, `machines/retry.ts`; the count starts at the
 *   drop and resets when the link is back), unless the drop or the failed attempt said how long to wait
 *   (`Retry-After`, a refusal's `retryAfterMs`): that wait, bounded, replaces the next delay.
 * - Each attempt is the transport's `reconnect`, invoked as a promise actor: leaving `attempting` (a
 *   CLOSE, an END) aborts its signal, so once closing starts no attempt begins and none in flight
 *   completes a reconnect.
 * - Time is the actor's clock (`createActor(linkMachine, { clock })`), virtual in specs.
 * - Only changes of the link go through the machine: frames, chunks and events never do.
 * @module
 */
import { assign, emit, fromPromise, setup } from 'xstate';
import type { AbortCause } from '../src/core/login.js';
import { DEFAULT_RETRY_DELAYS, nextDelay } from './retry.js';

/** Why a session ended for good without the client asking. */
export interface LinkEnding {
  readonly reason: string;
  readonly cause: AbortCause;
}

/**
 * What one reconnect attempt came to: the link is back; try again (after `afterMs` if the server said);
 * or the session ended (`ending` says why, when the transport has not already told). A rejected attempt
 * counts as a transient failure.
 */
export type LinkAttemptOutcome =
  | { readonly type: 'restored' }
  | { readonly type: 'retry'; readonly afterMs?: number }
  | { readonly type: 'ended'; readonly ending?: LinkEnding };

/** What a link machine starts with. */
export interface LinkInput {
  /** Delays before attempts 1, 2, 3, … in ms; the last repeats. Default: {@link DEFAULT_RETRY_DELAYS}. */
  readonly delays?: readonly number[];
  /** One reconnect attempt; it stops (and releases what it opened) when the signal aborts. */
  readonly reconnect: (signal: AbortSignal) => Promise<LinkAttemptOutcome>;
}

/** What the link machine hears from its transport. */
export type LinkEvent =
  /** The link dropped (or, while attempting, the new one dropped before it was taken as restored). */
  | { readonly type: 'DROPPED'; readonly afterMs?: number }
  /** The session ended for good; `ending` unless the transport already told why. */
  | { readonly type: 'END'; readonly ending?: LinkEnding }
  /** The owner closes: no attempt from now on. */
  | { readonly type: 'CLOSE' }
  /** The owner finished closing (logged out, or gave up). */
  | { readonly type: 'CLOSED' };

/** What it tells its transport, each once per change: a drop, a restore, the end. */
export type LinkEmitted =
  | { readonly type: 'dropped' }
  | { readonly type: 'restored' }
  | { readonly type: 'ended'; readonly ending: LinkEnding | undefined };

/** The top-level states, exactly. */
export type LinkState = 'open' | 'reconnecting' | 'closing' | 'ended';

interface LinkContext {
  readonly delays: readonly number[];
  readonly reconnect: LinkInput['reconnect'];
  /** Consecutive failures since the link was last up: the first wait after a drop is the table's first. */
  readonly attempt: number;
  /** What the server asked to wait before the next attempt, if it said. */
  readonly afterMs: number | undefined;
  readonly ending: LinkEnding | undefined;
}

/** The context's fields for the next wait after a failure. */
const failed = (context: LinkContext, afterMs: number | undefined): Pick<LinkContext, 'attempt' | 'afterMs'> => ({
  attempt: context.attempt + 1,
  afterMs,
});

/** The link machine. */
export const linkMachine = setup({
  types: {
    context: {} as LinkContext,
    events: {} as LinkEvent,
    emitted: {} as LinkEmitted,
    input: {} as LinkInput,
  },
  actors: {
    reconnect: fromPromise<LinkAttemptOutcome, Pick<LinkInput, 'reconnect'>>(({ input, signal }) => input.reconnect(signal)),
  },
  delays: {
    next: ({ context }) => nextDelay(context.attempt, context.delays, context.afterMs),
  },
}).createMachine({
  id: 'link',
  context: ({ input }) => ({
    delays: input.delays ?? DEFAULT_RETRY_DELAYS,
    reconnect: input.reconnect,
    attempt: 0,
    afterMs: undefined,
    ending: undefined,
  }),
  initial: 'open',
  states: {
    open: {
      on: {
        DROPPED: {
          target: 'reconnecting',
          actions: [assign(({ context, event }) => failed(context, event.afterMs)), emit({ type: 'dropped' })],
        },
        END: { target: 'ended', actions: assign(({ event }) => ({ ending: event.ending })) },
        CLOSE: 'closing',
      },
    },
    reconnecting: {
      initial: 'waiting',
      states: {
        waiting: { after: { next: 'attempting' } },
        attempting: {
          invoke: {
            src: 'reconnect',
            input: ({ context }) => ({ reconnect: context.reconnect }),
            onDone: [
              {
                guard: ({ event }) => event.output.type === 'restored',
                target: '#link.open',
                actions: [assign({ attempt: 0, afterMs: undefined }), emit({ type: 'restored' })],
              },
              {
                guard: ({ event }) => event.output.type === 'ended',
                target: '#link.ended',
                actions: assign(({ event }) => ({ ending: event.output.type === 'ended' ? event.output.ending : undefined })),
              },
              {
                target: 'waiting',
                actions: assign(({ context, event }) => failed(context, event.output.type === 'retry' ? event.output.afterMs : undefined)),
              },
            ],
            onError: { target: 'waiting', actions: assign(({ context }) => failed(context, undefined)) },
          },
          on: { DROPPED: { target: 'waiting', actions: assign(({ context, event }) => failed(context, event.afterMs)) } },
        },
      },
      on: {
        END: { target: 'ended', actions: assign(({ event }) => ({ ending: event.ending })) },
        CLOSE: 'closing',
      },
    },
    closing: {
      // The session ends because we close it: whatever the server says meanwhile is not why.
      on: { CLOSED: 'ended', DROPPED: 'ended', END: 'ended' },
    },
    ended: {
      type: 'final',
      entry: emit(({ context }: { readonly context: LinkContext }): LinkEmitted => ({ type: 'ended', ending: context.ending })),
    },
  },
});

/** The top-level state of a link machine's snapshot value. */
export const linkStateOf = (value: unknown): LinkState => (typeof value === 'string' ? (value as LinkState) : 'reconnecting');

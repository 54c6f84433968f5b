/**
 * The token machine: when the client's login token is about to expire, and when it has. The client
 * arms it with the expiry the server told (at login, at renewal) and turns its emitted events into
 * `tokenWillExpire$` and `tokenExpired$`; time is the machine's clock (virtual in specs).
 *
 * idle ─ARM→ valid ─(30 s before expiry, or half the remaining life if shorter)→ expiring
 * ─(expiry)→ expired. ARM from any state starts over (a renewal); EXPIRED (the hub ended the session
 * for it) goes to expired at once; CLEAR (logout) goes back to idle. Waits longer than a timer can hold
 * are taken in steps.
 * @module
 */
import { assign, emit, setup } from 'xstate';
import { MAX_TIMER_MS } from '../src/core/limits.js';

/** How long before expiry `tokenWillExpire$` fires, unless half the token's remaining life is shorter. */
export const TOKEN_WARNING_MS = 30_000;

/** What the token machine hears. */
export type TokenMachineEvent =
  /** A token valid until `expiresAt`, learnt at `now` (both on the machine's clock). */
  | { readonly type: 'ARM'; readonly expiresAt: number; readonly now: number }
  | { readonly type: 'EXPIRED' }
  | { readonly type: 'CLEAR' };

/** What it emits: at most once per arming each, `willExpire` first (skipped if the hub ended the session before it was due). */
export type TokenMachineEmitted = { readonly type: 'willExpire' } | { readonly type: 'expired' };

interface TokenContext {
  readonly expiresAt: number;
  /** When `willExpire` is due. */
  readonly warnAt: number;
  /** The clock's time when the current wait started. */
  readonly at: number;
}

const remaining = (until: number, at: number): number => Math.max(0, until - at);

/** The token machine. */
export const tokenMachine = setup({
  types: { context: {} as TokenContext, events: {} as TokenMachineEvent, emitted: {} as TokenMachineEmitted },
  delays: {
    toWarning: ({ context }) => Math.min(remaining(context.warnAt, context.at), MAX_TIMER_MS),
    toExpiry: ({ context }) => Math.min(remaining(context.expiresAt, context.at), MAX_TIMER_MS),
  },
  guards: {
    warningDue: ({ context }) => remaining(context.warnAt, context.at) <= MAX_TIMER_MS,
    expiryDue: ({ context }) => remaining(context.expiresAt, context.at) <= MAX_TIMER_MS,
  },
}).createMachine({
  id: 'token',
  context: { expiresAt: 0, warnAt: 0, at: 0 },
  initial: 'idle',
  states: {
    idle: {},
    valid: {
      after: {
        toWarning: [
          { guard: 'warningDue', target: 'expiring', actions: [assign(({ context }) => ({ at: context.warnAt })), emit({ type: 'willExpire' })] },
          { target: 'valid', reenter: true, actions: assign(({ context }) => ({ at: context.at + MAX_TIMER_MS })) },
        ],
      },
      on: { EXPIRED: { target: 'expired', actions: emit({ type: 'expired' }) } },
    },
    expiring: {
      after: {
        toExpiry: [
          { guard: 'expiryDue', target: 'expired', actions: emit({ type: 'expired' }) },
          { target: 'expiring', reenter: true, actions: assign(({ context }) => ({ at: context.at + MAX_TIMER_MS })) },
        ],
      },
      on: { EXPIRED: { target: 'expired', actions: emit({ type: 'expired' }) } },
    },
    expired: {},
  },
  on: {
    ARM: {
      target: '.valid',
      reenter: true,
      actions: assign(({ event }) => {
        const life = remaining(event.expiresAt, event.now);
        return { expiresAt: event.expiresAt, warnAt: event.expiresAt - Math.min(TOKEN_WARNING_MS, life / 2), at: event.now };
      }),
    },
    CLEAR: '.idle',
  },
});

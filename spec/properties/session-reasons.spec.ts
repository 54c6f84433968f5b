/**
 * The session machine reports a reason consistent with its state after any sequence of events: logins
 * that succeed, fail or hang past the login timeout, logouts, drops and restorations of the link, and
 * endings with every cause, in any order, on virtual time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { type ConnectionChangeReason, type ConnectionState, connectionChangeOf, sessionMachine } from '../../machines/session.js';
import { virtualClock } from '../../src/core/clock.js';
import { Failure, fault } from '../../src/core/failure.js';
import type { AbortCause, Session, Transport } from '../../transports/transport.js';
import { fcOptions } from './support.js';

/** The reasons each state may be reported with. */
const allowed: { readonly [S in ConnectionState]: readonly ConnectionChangeReason[] } = {
  DISCONNECTED: ['LOGIN_FAILURE', 'LOGIN_TIMEOUT', 'LOGOUT'],
  CONNECTING: ['LOGIN'],
  CONNECTED: ['LOGIN_SUCCESS'],
  RECONNECTING: ['INTERRUPTED'],
  ABORTED: ['REMOTE_LOGIN', 'TOKEN_EXPIRED', 'BANNED_BY_SERVER'],
};

type Step =
  | { readonly kind: 'login'; readonly outcome: 'ok' | 'refused' | 'silent' }
  | { readonly kind: 'logout' | 'dropped' | 'restored' }
  | { readonly kind: 'ended'; readonly cause: AbortCause }
  | { readonly kind: 'tick'; readonly ms: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('login' as const), outcome: fc.constantFrom('ok' as const, 'refused' as const, 'silent' as const) }),
  fc.record({ kind: fc.constantFrom('logout' as const, 'dropped' as const, 'restored' as const) }),
  fc.record({ kind: fc.constant('ended' as const), cause: fc.constantFrom<AbortCause>('REMOTE_LOGIN', 'TOKEN_EXPIRED', 'BANNED_BY_SERVER', 'LOGIN_FAILURE') }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 2_000 }) }),
);

const LOGIN_TIMEOUT_MS = 1_000;

describe('session machine reasons', () => {
  it('reports with every state only the reasons that can lead there, whatever the events and their order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        const clock = virtualClock();
        let outcome: 'ok' | 'refused' | 'silent' = 'ok';
        const transport: Transport = {
          connect: (credentials, { signal }) =>
            outcome === 'ok'
              ? Promise.resolve({ userId: credentials.userId } as Session)
              : outcome === 'refused'
                ? Promise.reject(fault(Failure.invalidToken('refused')))
                : new Promise<Session>((_, reject) => signal.addEventListener('abort', () => reject(fault(Failure.interrupted('aborted'))), { once: true })),
        };
        const actor = createActor(sessionMachine, { input: { transport, loginTimeoutMs: LOGIN_TIMEOUT_MS }, clock }).start();
        const check = (): void => {
          const snapshot = actor.getSnapshot();
          const change = connectionChangeOf(snapshot);
          if (!change) {
            expect(snapshot.value).toBe('DISCONNECTED');
            return;
          }
          expect(allowed[change.state]).toContain(change.reason);
          const live = change.state === 'CONNECTED' || change.state === 'RECONNECTING';
          expect(snapshot.context.session !== undefined).toBe(live);
        };
        for (const step of steps) {
          switch (step.kind) {
            case 'login':
              outcome = step.outcome;
              actor.send({ type: 'LOGIN', credentials: { userId: 'alice', token: 't' } });
              break;
            case 'logout':
              actor.send({ type: 'LOGOUT' });
              break;
            case 'dropped':
              actor.send({ type: 'DROPPED' });
              break;
            case 'restored':
              actor.send({ type: 'RESTORED' });
              break;
            case 'ended':
              actor.send({ type: 'ENDED', cause: step.cause, detail: 'spec' });
              break;
            case 'tick':
              clock.advance(step.ms);
              break;
          }
          check();
          // The connect actor settles on a later turn.
          for (let i = 0; i < 3; i++) await Promise.resolve();
          check();
        }
        actor.stop();
      }),
      fcOptions(500),
    );
  });
});

/**
 * Decision 121: a client's transfer actors are children of one host actor and share its XState system;
 * the host's clock drives their delays (retry backoff), and the host keeps one snapshot however many
 * transfers end under it. Decision 128: the host tells the task watching a child when it stops, done or
 * in error, once.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, fromPromise } from 'xstate';
import { type TransferEffects, transferMachine, transferState } from '../../machines/transfer.js';
import { createTransferHost } from '../../src/client/transfer-host.js';
import { virtualClock } from '../../src/core/clock.js';
import { Failure, fault } from '../../src/core/failure.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('transfers share their client host’s system', () => {
  it('every transfer joins the host’s system, ends as before, and the host keeps one snapshot', async () => {
    const clock = virtualClock(5_000);
    const host = createTransferHost(clock).parent as AnyActorRef;
    const first = host.getSnapshot();
    const effects: TransferEffects<string> = { open: async () => ({ total: 4 }), move: async () => 'moved', locate: async () => ({ offset: 0 }) };
    const actors = [1, 2, 3].map((requestId) =>
      createActor(transferMachine, { input: { requestId, idleTimeoutMs: 60_000, clock, effects }, clock, parent: host }).start(),
    );
    for (const actor of actors) expect(actor.system).toBe(host.system);
    for (const actor of actors) actor.send({ type: 'START' });
    await settle();
    expect(actors.map((actor) => [transferState(actor.getSnapshot()), actor.getSnapshot().output])).toEqual([
      ['done', 'moved'],
      ['done', 'moved'],
      ['done', 'moved'],
    ]);
    expect(host.getSnapshot()).toBe(first);
    expect(host.getSnapshot().status).toBe('active');
  });

  it('a retry waits its backoff on the host’s clock', async () => {
    const clock = virtualClock(5_000);
    const host = createTransferHost(clock).parent as AnyActorRef;
    let moves = 0;
    const effects: TransferEffects<string> = {
      open: async () => ({ total: 4 }),
      move: async () => {
        moves++;
        if (moves === 1) throw fault(Failure.network('dropped'));
        return 'moved';
      },
      locate: async () => ({ offset: 0 }),
    };
    const actor = createActor(transferMachine, {
      input: { requestId: 1, idleTimeoutMs: 60_000, clock, effects, retryDelays: [1_000] },
      clock,
      parent: host,
    }).start();
    actor.send({ type: 'START' });
    await settle();
    expect(moves).toBe(1);
    clock.advance(999);
    await settle();
    expect(moves).toBe(1);
    expect(transferState(actor.getSnapshot())).toBe('transferring');
    clock.advance(1);
    await settle();
    expect(moves).toBe(2);
    expect(transferState(actor.getSnapshot())).toBe('done');
  });

  it('tells the task watching a child that it stopped, once, done or in error, and no other task', async () => {
    const host = createTransferHost(virtualClock(0));
    const told: string[] = [];
    const watcher = (name: string) => ({ complete: () => told.push(`${name} done`), error: (error: unknown) => told.push(`${name} error ${String(error)}`) });
    const done = createActor(fromPromise(async () => 'ok'), { parent: host.parent as AnyActorRef });
    const crashed = createActor(fromPromise(() => Promise.reject(new Error('boom'))), { parent: host.parent as AnyActorRef });
    const unwatched = createActor(fromPromise(async () => 'ok'), { parent: host.parent as AnyActorRef });
    host.watch(done.id, watcher('a'));
    host.watch(crashed.id, watcher('b'));
    for (const actor of [done, crashed, unwatched]) actor.start();
    await settle();
    expect(told.sort()).toEqual(['a done', 'b error Error: boom']);
    expect((host.parent as AnyActorRef).getSnapshot().status).toBe('active');
  });
});

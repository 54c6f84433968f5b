/**
 * Deadlines on the injected clock: a call that has not settled in time is aborted and fails with
 * `Timeout`, so no request (a message, a cleanup, a logout) can hang a caller forever.
 *
 * Calls without a parent signal that start at the same clock reading with the same `ms` have the same
 * deadline, so up to {@link SHARED_CALLS} of them share one `AbortController` and one timer: creating an
 * `AbortSignal` costs Node a few microseconds, which was the largest single cost of a chat message in the
 * client (decision 56). The share is bounded because each call's transport adds its own listener to
 * the signal (at most two today), and an `EventTarget` warns past ten.
 * @module
 */
import { onAbort } from '../core/abort.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';

/** The most calls sharing one signal and timer. */
export const SHARED_CALLS = 4;

/** One call waiting in a group: settles once, by its own outcome or by the group's deadline. */
interface Member {
  settled: boolean;
  readonly reject: (error: unknown) => void;
}

/** Calls started at one clock reading with one `ms`: one signal, one timer. */
interface Group {
  readonly clock: Clock;
  readonly ms: number;
  readonly startedAt: number;
  readonly controller: AbortController;
  readonly members: Member[];
  /** Members not settled yet; at zero the timer is cleared and the group takes no one else. */
  live: number;
  timer: TimerHandle | undefined;
}

/** The group new calls may join: the latest one, while it is open. */
let latest: Group | undefined;

const expire = (group: Group): void => {
  if (latest === group) latest = undefined;
  group.timer = undefined;
  const timeout = fault(Failure.timeout(`no answer within ${group.ms} ms`));
  // Each call is rejected before the signal aborts, so a transport's own rejection never wins the race.
  for (const member of group.members) {
    if (member.settled) continue;
    member.settled = true;
    member.reject(timeout);
  }
  group.live = 0;
  group.controller.abort(timeout);
};

const joinGroup = (clock: Clock, ms: number): Group => {
  const now = clock.now();
  const open = latest;
  if (open && open.clock === clock && open.ms === ms && open.startedAt === now && open.members.length < SHARED_CALLS) return open;
  const group: Group = { clock, ms, startedAt: now, controller: new AbortController(), members: [], live: 0, timer: undefined };
  group.timer = clock.setTimeout(() => expire(group), ms);
  latest = group;
  return group;
};

const leave = (group: Group, member: Member): void => {
  member.settled = true;
  if (--group.live > 0) return;
  if (latest === group) latest = undefined;
  group.clock.clearTimeout(group.timer);
  group.timer = undefined;
};

/**
 * Runs `run` with a signal that aborts after `ms` (or when `parent` aborts); rejects with `Timeout` if
 * the deadline passes first. The timer and the listener are removed either way. Without `parent`, the
 * signal may be shared with calls started at the same clock reading with the same `ms` (same deadline).
 */
export const withDeadline = <T>(clock: Clock, ms: number, run: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    if (parent) return ownDeadline(clock, ms, run, parent, resolve, reject);
    const group = joinGroup(clock, ms);
    const member: Member = { settled: false, reject };
    group.members.push(member);
    group.live++;
    let running: Promise<T>;
    try {
      running = run(group.controller.signal);
    } catch (error) {
      leave(group, member);
      return reject(error);
    }
    running.then(
      (value) => {
        if (member.settled) return;
        leave(group, member);
        resolve(value);
      },
      (error: unknown) => {
        if (member.settled) return;
        leave(group, member);
        reject(error);
      },
    );
  });

/** A call with a parent signal: a controller of its own, chained to the parent. */
const ownDeadline = <T>(
  clock: Clock,
  ms: number,
  run: (signal: AbortSignal) => Promise<T>,
  parent: AbortSignal,
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
): void => {
  const controller = new AbortController();
  let settled = false;
  const dispose = onAbort(parent, () => controller.abort(parent.reason));
  const timer = clock.setTimeout(() => {
    const timeout = fault(Failure.timeout(`no answer within ${ms} ms`));
    settle();
    reject(timeout);
    controller.abort(timeout);
  }, ms);
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clock.clearTimeout(timer);
    dispose();
    return true;
  };
  let running: Promise<T>;
  try {
    running = run(controller.signal);
  } catch (error) {
    settle();
    return reject(error);
  }
  running.then(
    (value) => {
      if (settle()) resolve(value);
    },
    (error: unknown) => {
      if (settle()) reject(error);
    },
  );
};

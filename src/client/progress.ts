/**
 * Progress throttling on the injected clock. At most one value per interval, the latest one trailing
 * after a quiet interval, and values marked final always pass at once.
 * @module
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Clock, TimerHandle } from '../core/clock.js';

/** Progress of one transfer: bytes the hub acknowledged, of the total. */
export interface Progress {
  readonly currentSize: number;
  readonly totalSize: number;
}

/**
 * Passes a value if `intervalMs` has passed since the last one passed, else keeps it to emit when the
 * interval ends (unless a newer one replaces it). `isFinal` values pass at once. When the source
 * completes, a kept value is dropped: a transfer that did not finish has nothing more to report, and
 * one that did has already sent its final value.
 */
export const throttleByClock =
  <T>(clock: Clock, intervalMs: number, isFinal: (value: T) => boolean): OperatorFunction<T, T> =>
  (source) =>
    new Observable<T>((subscriber) => {
      let lastEmit = Number.NEGATIVE_INFINITY;
      let kept: { value: T } | undefined;
      let timer: TimerHandle | undefined;
      const clear = (): void => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
      };
      const emit = (value: T): void => {
        clear();
        kept = undefined;
        lastEmit = clock.now();
        subscriber.next(value);
      };
      const subscription = source.subscribe({
        next(value) {
          const wait = lastEmit + intervalMs - clock.now();
          if (isFinal(value) || wait <= 0) return emit(value);
          kept = { value };
          timer ??= clock.setTimeout(() => {
            timer = undefined;
            if (kept) emit(kept.value);
          }, wait);
        },
        error(error: unknown) {
          clear();
          subscriber.error(error);
        },
        complete() {
          clear();
          subscriber.complete();
        },
      });
      return () => {
        clear();
        subscription.unsubscribe();
      };
    });

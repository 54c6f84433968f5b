/**
 * Steps queued per key: those of one key run one after the other, those of different keys at once. The
 * stores use it so that completion and deletion of one media ID never interleave in one process.
 * @module
 */

/** Runs `step` after every step queued before it for `key`; resolves or rejects as `step` does. */
export type KeyedQueue = <T>(key: string, step: () => Promise<T>) => Promise<T>;

/**
 * A queue per key that forgets a key once its last step settled (it holds nothing for idle keys).
 * @example const exclusive = keyedQueue(); await exclusive(mediaId, () => complete(mediaId));
 */
export const keyedQueue = (): KeyedQueue => {
  const tails = new Map<string, Promise<void>>();
  return <T>(key: string, step: () => Promise<T>): Promise<T> => {
    const result = (tails.get(key) ?? Promise.resolve()).then(step);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
};

/**
 * File access as an injected effect. `ferry` itself imports nothing from Node; when a path is used and
 * no `files` were given to the client, the platform's (`platform/defaults.ts`) is loaded on demand.
 * @module
 */
import { isWellFormed } from './bytes.js';
import { Failure } from './failure.js';

/** A file being written beside its final path, made visible only by `commit`. */
export interface FileSink {
  /** Bytes written so far: where a resumed download continues. */
  readonly length: number;
  /**
   * Accepts `bytes`, which are lent: the sink copies what it writes later before the returned promise
   * resolves, so the caller may then reuse them (transports lend download chunks). Resolves when the
   * sink can take more; rejects if an earlier write failed.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Makes the bytes durable and moves them to the final path atomically (fsync, rename, fsync folder).
   * Rejects without renaming if `signal` has aborted.
   */
  commit(signal?: AbortSignal): Promise<void>;
  /**
   * Removes what the sink wrote: the temporary file, or the final file if a commit already moved it
   * there (a cancel that lands during the commit). Idempotent; waits for any operation in flight.
   */
  discard(): Promise<void>;
}

/** What ferry needs from a file system. */
export interface FileAccess {
  /** Size of a regular file. Rejects `InvalidArgument` naming `argument` if it is missing or not a file. */
  stat(path: string, argument: string): Promise<{ readonly size: number }>;
  /**
   * The bytes of a file from `offset`, at most `chunkSize` at a time; the file is never read whole. A
   * chunk is valid until the next one is asked for (the buffer may be reused): copy what you keep.
   */
  read(path: string, offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
  /** Opens a temporary file in the folder of `path`. Rejects `InvalidArgument` if the folder is unusable. */
  createSink(path: string): Promise<FileSink>;
}

/** `undefined` for an absolute, well-formed path; else why not, naming `argument`. */
export const checkAbsolutePath = (path: unknown, argument: string): Failure | undefined => {
  if (typeof path !== 'string' || path.length === 0) return Failure.invalidArgument(argument, 'expected a non-empty path string');
  if (!isWellFormed(path) || path.includes('\0')) {
    return Failure.invalidArgument(argument, 'the path is not well-formed UTF-8 (lone surrogate or NUL)');
  }
  // Drive-letter and UNC paths are absolute only on Windows; elsewhere they name files in the working folder.
  const windows = (globalThis as { process?: { platform?: string } }).process?.platform === 'win32';
  const absolute = path.startsWith('/') || (windows && (/^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\')));
  return absolute ? undefined : Failure.invalidArgument(argument, `expected an absolute path, got ${JSON.stringify(path)}`);
};

/** The last segment of a path (either separator), for default file names. */
export const baseName = (path: string): string => path.split(/[\\/]/).filter(Boolean).at(-1) ?? '';

/** Longest file name offered for media, in code points; longer names keep their extension. */
const MAX_OFFERED_NAME_CHARS = 128;

/**
 * The file name a server offers for media (`Content-Disposition` over HTTP, `fileName` of `getMedia` on
 * every transport; decision 108): the last path component of the uploader's `name` only, without control,
 * bidirectional-override or zero-width characters, at most 128 code points (keeping the extension);
 * `fallback` (the media ID) if nothing, or only dots, is left. A receiver still treats it as untrusted:
 * it is what a hostile sender's name becomes on an honest server.
 * @example offeredFileName('../../etc/passwd', 'media') // 'passwd'
 */
export const offeredFileName = (name: string, fallback: string): string => {
  const base = baseName(name);
  // C0/C1 controls, and bidi/zero-width marks that can disguise an extension ("gpj.exe").
  const clean = base.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g, '').trim();
  if (clean === '' || /^\.+$/.test(clean)) return fallback;
  const chars = Array.from(clean);
  if (chars.length <= MAX_OFFERED_NAME_CHARS) return clean;
  const extension = /\.[^.]{1,16}$/.exec(clean)?.[0] ?? '';
  return chars.slice(0, MAX_OFFERED_NAME_CHARS - extension.length).join('') + extension;
};

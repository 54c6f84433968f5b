/**
 * What an S3 error means to ferry (decision 89): the store's failures are typed like every other.
 * - the caller's signal aborted: `Interrupted` (with the signal's reason);
 * - no answer (refused, reset, timed out) or a 5xx: `Network`, "the S3 store … is unreachable", "… did
 *   not answer in time" or "… failed": the server answers 502 and clients resume later, since every
 *   acknowledged byte is in S3;
 * - the store is out of room (`QuotaExceeded`, 507): `InsufficientStorage` (507, final for clients);
 * - any other refusal (wrong credentials, a missing bucket): `Unknown` naming the S3 error, a server fault.
 * Not-found and precondition failures are answered where they happen (`NotExist`, `Conflict`).
 * @module
 */
import { abortFault } from '../core/abort.js';
import { Failure, FaultError, fault } from '../core/failure.js';

/** The HTTP status of an S3 answer, if the error came from one. */
export const httpStatusOf = (error: unknown): number | undefined => {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
};

const nameOf = (error: unknown): string => (error instanceof Error ? error.name : typeof error);

/** Whether S3 answered that the key (or upload) is not there. */
export const isNotFound = (error: unknown): boolean =>
  httpStatusOf(error) === 404 || ['NoSuchKey', 'NotFound', 'NoSuchUpload'].includes(nameOf(error));

/** Whether S3 refused a conditional request (`If-Match`, `If-None-Match`). */
export const isPreconditionFailed = (error: unknown): boolean => httpStatusOf(error) === 412 || nameOf(error) === 'PreconditionFailed';

/** Whether S3 answered that a range starts at or past the end of the object. */
export const isInvalidRange = (error: unknown): boolean => httpStatusOf(error) === 416 || nameOf(error) === 'InvalidRange';

/** One line about an error: its name, the HTTP status or the socket error code, and its message. */
export const describeS3Error = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const status = httpStatusOf(error);
  const code = (error as { code?: unknown }).code;
  const parts = [error.name];
  if (status !== undefined) parts.push(`HTTP ${status}`);
  if (typeof code === 'string' && code !== error.name) parts.push(code);
  // The SDK says "UnknownError" for RGW errors it has no model of; the name and status say more.
  if (error.message && error.message !== 'UnknownError' && error.message !== error.name) parts.push(error.message);
  return parts.join(': ');
};

/**
 * The fault for an S3 error while doing `what` (e.g. `upload part 3 of <id>`) against `endpoint`. A
 * `FaultError` passes unchanged.
 * @example throw s3Fault(error, `read media ${id}`, endpoint, signal);
 */
export const s3Fault = (error: unknown, what: string, endpoint: string, signal?: AbortSignal): FaultError => {
  if (error instanceof FaultError) return error;
  if (signal?.aborted) return abortFault(signal);
  const status = httpStatusOf(error);
  const detail = describeS3Error(error);
  if (status === undefined) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return fault(Failure.unavailable(`the S3 store at ${endpoint} ${timedOut ? 'did not answer in time' : 'is unreachable'} (${what}: ${detail})`), error);
  }
  if (status === 507 || nameOf(error) === 'QuotaExceeded') return fault(Failure.insufficientStorage(`the S3 store at ${endpoint} is full (${what}: ${detail})`), error);
  if (status >= 500) return fault(Failure.unavailable(`the S3 store at ${endpoint} failed (${what}: ${detail})`), error);
  return fault(Failure.unknown(`the S3 store at ${endpoint} refused ${what}: ${detail}`), error);
};

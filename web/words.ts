/**
 * What the demo page says, in words, about a connection change and about a failure: the person reads a
 * sentence, and the code the engine gave follows in brackets for whoever reports it.
 * @module
 */
import {
  type ConnectionChange,
  FerryError,
  ChannelMessageErrorCode,
  DownloadErrorCode,
  JoinChannelErrorCode,
  LoginErrorCode,
  type Operation,
  PeerMessageErrorCode,
  UploadErrorCode,
} from '../src/index.js';
import { formatSize } from './readable.js';

/**
 * The connection's state and its reason in a sentence: `Connected`, `Reconnecting: the connection
 * dropped (INTERRUPTED)`, `Signed out: you signed in on another tab or device (REMOTE_LOGIN)`.
 */
export const connectionWords = ({ state, reason }: ConnectionChange): string => {
  switch (reason) {
    case 'LOGIN':
      return 'Signing in…';
    case 'LOGIN_SUCCESS':
      return 'Connected';
    case 'INTERRUPTED':
      return 'Reconnecting: the connection dropped; messages wait until it is back (INTERRUPTED)';
    case 'LOGOUT':
      return 'Signed out';
    case 'LOGIN_FAILURE':
      return 'Not signed in: the server refused the sign-in (LOGIN_FAILURE)';
    case 'LOGIN_TIMEOUT':
      return 'Not signed in: the server did not answer in time (LOGIN_TIMEOUT)';
    case 'REMOTE_LOGIN':
      return 'Signed out: you signed in on another tab or device (REMOTE_LOGIN)';
    case 'TOKEN_EXPIRED':
      return 'Signed out: your session expired; sign in again (TOKEN_EXPIRED)';
    case 'BANNED_BY_SERVER':
      return 'Signed out: the server ended the session (BANNED_BY_SERVER)';
  }
  return state;
};

/** The code tables of the operations the page calls, to name a code (`4 SIZE_OVERFLOW`). */
const CODE_TABLES: Partial<Record<Operation, Readonly<Record<string, number>>>> = {
  upload: UploadErrorCode,
  download: DownloadErrorCode,
  peerSend: PeerMessageErrorCode,
  channelSend: ChannelMessageErrorCode,
  login: LoginErrorCode,
  join: JoinChannelErrorCode,
};

/** `upload code 4 SIZE_OVERFLOW`, or `upload code 4` for an operation without a table here. */
export const codeWords = (error: FerryError): string => {
  const table = CODE_TABLES[error.operation] ?? {};
  const name = Object.entries(table).find(([, code]) => code === error.code)?.[0];
  return `${error.operation} code ${error.code}${name ? ` ${name}` : ''}`;
};

/** The sentence for a ferry failure, by its tag; the engine's own description for the rest. */
const sentenceOf = (error: FerryError): string => {
  const { failure } = error;
  switch (failure._tag) {
    case 'SizeOverflow':
      return `${formatSize(failure.size)} is over the ${formatSize(failure.limit)} limit`;
    case 'QuotaExceeded':
      return 'your storage on the server is full';
    case 'InsufficientStorage':
      return 'the server is out of space';
    case 'Timeout':
      return 'no answer in time';
    case 'Network':
      return 'the connection failed';
    case 'NotLoggedIn':
      return 'you are signed out';
    case 'NotExist':
      return 'the server no longer has it (media is kept 7 days)';
    case 'InvalidMessage':
      return 'the message is too big: text, file name and thumbnail must fit in 32 KiB';
    case 'InvalidUserId':
      return 'that is not a valid user ID';
    case 'TooOften':
      return 'too many at once; wait a moment and try again';
    case 'Integrity':
      return 'the bytes did not match their SHA-256: not saved';
    default:
      return error.message.replace(/^\w+ failed \(code \d+\): /, '');
  }
};

/**
 * A failure in words, with its code: `Not sent: 31.0 MiB is over the 30.0 MiB limit (upload code 4
 * SIZE_OVERFLOW)`. `prefix` says what did not happen. Anything that is not a {@link FerryError} is a
 * bug of the page and is said as it is.
 */
export const failureWords = (prefix: string, error: unknown): string => {
  if (!(error instanceof FerryError)) return `${prefix}: ${error instanceof Error ? error.message : String(error)}`;
  return `${prefix}: ${sentenceOf(error)} (${codeWords(error)})`;
};

/**
 * The public errors of ferry: one `Error` subclass per operation, each with a literal `name`, the numeric
 * `code` of that operation (numbering of Agora RTM 1.x, `docs/contract.md` §4), the `operation`, the `failure`
 * as data and the original error in `cause`.
 * @module
 */
import { describeFailure, type Failure, type FailureTag } from './failure.js';

/** Codes of uploads (`createFileMessageByUploading`, `createImageMessageByUploading`). */
export const UploadErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  TIMEOUT: 3,
  SIZE_OVERFLOW: 4,
  CONCURRENCY_LIMIT_EXCEEDED: 5,
  INTERRUPTED: 6,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of downloads (`downloadMediaToFile`, `downloadMediaToMemory`). */
export const DownloadErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  TIMEOUT: 3,
  NOT_EXIST: 4,
  CONCURRENCY_LIMIT_EXCEEDED: 5,
  INTERRUPTED: 6,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `cancelMediaUpload`, `cancelMediaDownload` and `task.cancel()`. */
export const CancelErrorCode = { FAILURE: 1, NOT_EXIST: 2, NOT_LOGGED_IN: 102 } as const;

/** Codes of `sendMessageToPeer`. */
export const PeerMessageErrorCode = {
  FAILURE: 1,
  SENT_TIMEOUT: 2,
  PEER_UNREACHABLE: 3,
  TOO_OFTEN: 5,
  INVALID_USERID: 6,
  INVALID_MESSAGE: 7,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `channel.sendMessage`. */
export const ChannelMessageErrorCode = {
  FAILURE: 1,
  SENT_TIMEOUT: 2,
  TOO_OFTEN: 3,
  INVALID_MESSAGE: 4,
  NOT_IN_CHANNEL: 5,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `login`. */
export const LoginErrorCode = {
  UNKNOWN: 1,
  REJECTED: 2,
  INVALID_ARGUMENT: 3,
  INVALID_TOKEN: 5,
  TOKEN_EXPIRED: 6,
  ALREADY_LOGGED_IN: 8,
  TIMEOUT: 9,
  TOO_OFTEN: 10,
} as const;

/** Codes of `logout`. */
export const LogoutErrorCode = { REJECTED: 1, NOT_LOGGED_IN: 102 } as const;

/** Codes of `channel.join`. */
export const JoinChannelErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 3,
  TIMEOUT: 4,
  EXCEED_LIMIT: 5,
  ALREADY_JOINED: 6,
  TOO_OFTEN: 7,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `renewToken`. */
export const RenewTokenErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  REJECTED: 3,
  TOO_OFTEN: 4,
  TOKEN_EXPIRED: 5,
  INVALID_TOKEN: 6,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `channel.leave`. */
export const LeaveChannelErrorCode = { FAILURE: 1, NOT_IN_CHANNEL: 3, NOT_LOGGED_IN: 102 } as const;

/** Codes of `channel.getMembers`. */
export const GetMembersErrorCode = { FAILURE: 1, TIMEOUT: 3, NOT_IN_CHANNEL: 5, NOT_LOGGED_IN: 102 } as const;

/** Codes of `queryPeersOnlineStatus` (Agora's `QueryPeersOnlineStatusError`). */
export const QueryPeersOnlineStatusErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  TIMEOUT: 4,
  TOO_OFTEN: 5,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `subscribePeersOnlineStatus` and `unsubscribePeersOnlineStatus` (Agora's `PeerSubscriptionStatusError`). */
export const PeerSubscriptionStatusErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  TIMEOUT: 4,
  TOO_OFTEN: 5,
  OVERFLOW: 6,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `getChannelMemberCount` (Agora's `GetChannelMemberCountErrCode`). */
export const GetChannelMemberCountErrorCode = {
  FAILURE: 1,
  INVALID_ARGUMENT: 2,
  TOO_OFTEN: 3,
  TIMEOUT: 4,
  EXCEED_LIMIT: 5,
  NOT_LOGGED_IN: 102,
} as const;

/** Codes of `createClient` (bad options). */
export const ClientErrorCode = { INVALID_ARGUMENT: 2 } as const;

/** Codes of the synchronous message constructors (`createFileMessageByMediaId`, `textMessage`, …). */
export const MessageErrorCode = { INVALID_ARGUMENT: 2 } as const;

/** Every operation that can fail, each with its own code table. */
export type Operation =
  | 'upload'
  | 'download'
  | 'cancel'
  | 'peerSend'
  | 'channelSend'
  | 'login'
  | 'logout'
  | 'join'
  | 'leave'
  | 'getMembers'
  | 'renewToken'
  | 'queryPresence'
  | 'subscribePresence'
  | 'memberCount'
  | 'message'
  | 'client';

/**
 * Which code each failure gets in each operation. A failure missing from an operation's row gets that
 * operation's catch-all code 1 (FAILURE, UNKNOWN or REJECTED), so nothing is ever reported without a code.
 */
const codes: { readonly [O in Operation]: Partial<Record<FailureTag, number>> } = {
  upload: {
    InvalidArgument: 2,
    Timeout: 3,
    SizeOverflow: 4,
    ConcurrencyLimit: 5,
    LimitExceeded: 5,
    QuotaExceeded: 4,
    Interrupted: 6,
    NotLoggedIn: 102,
  },
  download: {
    InvalidArgument: 2,
    Timeout: 3,
    NotExist: 4,
    ConcurrencyLimit: 5,
    LimitExceeded: 5,
    Interrupted: 6,
    NotLoggedIn: 102,
  },
  cancel: { NotExist: 2, NotLoggedIn: 102 },
  peerSend: {
    Timeout: 2,
    PeerUnreachable: 3,
    TooOften: 5,
    LimitExceeded: 5,
    InvalidUserId: 6,
    InvalidMessage: 7,
    InvalidArgument: 7,
    NotLoggedIn: 102,
  },
  channelSend: { Timeout: 2, TooOften: 3, InvalidMessage: 4, InvalidArgument: 4, NotInChannel: 5, NotLoggedIn: 102 },
  login: { Rejected: 2, LimitExceeded: 2, InvalidArgument: 3, InvalidUserId: 3, InvalidToken: 5, TokenExpired: 6, AlreadyLoggedIn: 8, Timeout: 9, TooOften: 10 },
  logout: { NotLoggedIn: 102 },
  join: { InvalidArgument: 3, Timeout: 4, LimitExceeded: 5, AlreadyInChannel: 6, TooOften: 7, NotLoggedIn: 102 },
  leave: { NotInChannel: 3, NotLoggedIn: 102 },
  getMembers: { Timeout: 3, NotInChannel: 5, NotLoggedIn: 102 },
  renewToken: { InvalidArgument: 2, Rejected: 3, TooOften: 4, TokenExpired: 5, InvalidToken: 6, NotLoggedIn: 102 },
  queryPresence: { InvalidArgument: 2, InvalidUserId: 2, Timeout: 4, TooOften: 5, NotLoggedIn: 102 },
  subscribePresence: { InvalidArgument: 2, InvalidUserId: 2, Timeout: 4, TooOften: 5, LimitExceeded: 6, NotLoggedIn: 102 },
  memberCount: { InvalidArgument: 2, TooOften: 3, Timeout: 4, LimitExceeded: 5, NotLoggedIn: 102 },
  message: { InvalidArgument: 2, InvalidMessage: 2 },
  client: { InvalidArgument: 2 },
};

/** The code a failure gets in an operation. */
export const codeOf = (operation: Operation, failure: Failure): number => codes[operation][failure._tag] ?? 1;

/** The base of every ferry error. Catch this to catch them all; narrow by `name` or `instanceof`. */
export abstract class FerryError extends Error {
  /** The numeric code of {@link FerryError.operation}, from `docs/contract.md` §4. */
  readonly code: number;
  constructor(
    /** The operation that failed. */
    readonly operation: Operation,
    /** What went wrong, as data. */
    readonly failure: Failure,
    options?: { cause?: unknown },
  ) {
    super(`${operation} failed (code ${codeOf(operation, failure)}): ${describeFailure(failure)}`, options);
    this.code = codeOf(operation, failure);
  }
}

/** An upload failed or was cancelled. */
export class UploadError extends FerryError {
  override readonly name = 'UploadError';
}
/** A download failed or was cancelled. */
export class DownloadError extends FerryError {
  override readonly name = 'DownloadError';
}
/** A cancel request was refused (finished or unknown request ID: code 2). */
export class CancelError extends FerryError {
  override readonly name = 'CancelError';
}
/** A peer message was not delivered. */
export class PeerMessageError extends FerryError {
  override readonly name = 'PeerMessageError';
}
/** A channel message was not sent. */
export class ChannelMessageError extends FerryError {
  override readonly name = 'ChannelMessageError';
}
/** Login failed. */
export class LoginError extends FerryError {
  override readonly name = 'LoginError';
}
/** Logout failed. */
export class LogoutError extends FerryError {
  override readonly name = 'LogoutError';
}
/** Joining a channel failed. */
export class JoinChannelError extends FerryError {
  override readonly name = 'JoinChannelError';
}
/** Leaving a channel failed. */
export class LeaveChannelError extends FerryError {
  override readonly name = 'LeaveChannelError';
}
/** Listing a channel's members failed. */
export class GetMembersError extends FerryError {
  override readonly name = 'GetMembersError';
}
/** A token renewal failed. */
export class RenewTokenError extends FerryError {
  override readonly name = 'RenewTokenError';
}
/** Querying peers' online status failed. */
export class QueryPeersOnlineStatusError extends FerryError {
  override readonly name = 'QueryPeersOnlineStatusError';
}
/** Subscribing to (or unsubscribing from) peers' online status failed. */
export class PeerSubscriptionStatusError extends FerryError {
  override readonly name = 'PeerSubscriptionStatusError';
}
/** Counting channels' members failed. */
export class GetChannelMemberCountError extends FerryError {
  override readonly name = 'GetChannelMemberCountError';
}
/** A message constructor was given bad fields. */
export class MessageError extends FerryError {
  override readonly name = 'MessageError';
}

/** `createClient` was given bad options. */
export class ClientError extends FerryError {
  override readonly name = 'ClientError';
}

const classes = {
  upload: UploadError,
  download: DownloadError,
  cancel: CancelError,
  peerSend: PeerMessageError,
  channelSend: ChannelMessageError,
  login: LoginError,
  logout: LogoutError,
  join: JoinChannelError,
  leave: LeaveChannelError,
  getMembers: GetMembersError,
  renewToken: RenewTokenError,
  queryPresence: QueryPeersOnlineStatusError,
  subscribePresence: PeerSubscriptionStatusError,
  memberCount: GetChannelMemberCountError,
  message: MessageError,
  client: ClientError,
} as const;

/** The public error of an operation for a failure, with the original error as `cause`. */
export const toPublicError = (operation: Operation, failure: Failure, cause?: unknown): FerryError =>
  new classes[operation](operation, failure, cause === undefined ? undefined : { cause });

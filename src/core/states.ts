/**
 * The states and reasons the public API names, and the effects a transfer is given, as plain types: the machines that produce them import
 * these, so a consumer's declarations never reach XState's (decision 88: with `skipLibCheck: false` and
 * `exactOptionalPropertyTypes`, xstate's own declarations fail to type-check).
 * @module
 */

/** The top-level states of a transfer, exactly. */
export type TransferState = 'pending' | 'transferring' | 'done' | 'cancelled' | 'failed';

/** The I/O of one transfer, supplied by the client for its direction and transport. */
export interface TransferEffects<Output> {
  /** Validates, prepares (creates the upload, opens the sink) and says how many bytes there are. */
  open(signal: AbortSignal): Promise<{ readonly total: number }>;
  /** Moves bytes from `offset` to the end, reporting acknowledged offsets; resolves with the result. */
  move(offset: number, signal: AbortSignal, onProgress: (offset: number) => void): Promise<Output>;
  /**
   * After a transient failure: the offset to resume from (the hub's, for uploads), or the result when
   * the transfer turns out to have completed (an upload whose last acknowledgement was lost).
   */
  locate(signal: AbortSignal): Promise<Located<Output>>;
}

/** Where a transfer stands after a drop. */
export type Located<Output> = { readonly offset: number } | { readonly done: Output };

/** The connection states, exactly. */
export type ConnectionState = 'DISCONNECTED' | 'CONNECTING' | 'CONNECTED' | 'RECONNECTING' | 'ABORTED';

/** Why the connection state changed: Agora RTM's reasons. */
export type ConnectionChangeReason =
  | 'LOGIN'
  | 'LOGIN_SUCCESS'
  | 'LOGIN_FAILURE'
  | 'LOGIN_TIMEOUT'
  | 'INTERRUPTED'
  | 'LOGOUT'
  | 'BANNED_BY_SERVER'
  | 'REMOTE_LOGIN'
  | 'TOKEN_EXPIRED';

/** One change of the connection: the state reached and why. */
export interface ConnectionChange {
  readonly state: ConnectionState;
  readonly reason: ConnectionChangeReason;
}

/**
 * A user's online status: `ONLINE` (logged in, link up), `UNREACHABLE` (logged in, its link down within
 * the session's grace time), `OFFLINE` (not logged in). Agora RTM's `PeerOnlineState`.
 */
export type PeerOnlineState = 'ONLINE' | 'UNREACHABLE' | 'OFFLINE';

/**
 * Where a peer message went: `RECEIVED` (delivered to the peer's session) or `CACHED_BY_SERVER` (the peer
 * was offline; the server keeps the message for its next login). Agora RTM's peer message states 0 and 4.
 */
export type PeerMessageState = 'RECEIVED' | 'CACHED_BY_SERVER';

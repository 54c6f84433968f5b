/**
 * Who logs in, and why a session can end without the client asking: what a transport, the session
 * machine and the client all name.
 * @module
 */

/** Who logs in. */
export interface Credentials {
  readonly userId: string;
  readonly token: string;
}

/**
 * Why a session ended without the client asking: the same user logged in elsewhere, the token expired
 * without renewal, the server ended it for another reason, or the transport's fresh login after losing
 * the session (a server restart) was refused for a reason other than expiry.
 */
export type AbortCause = 'REMOTE_LOGIN' | 'TOKEN_EXPIRED' | 'BANNED_BY_SERVER' | 'LOGIN_FAILURE';

/**
 * The cause an `aborted` event stands for: its own when known; none means an older server, which ended
 * sessions only for a login elsewhere; one this client does not know is the server's decision.
 */
export const abortCauseOf = (cause: string | undefined): AbortCause =>
  cause === undefined
    ? 'REMOTE_LOGIN'
    : cause === 'REMOTE_LOGIN' || cause === 'TOKEN_EXPIRED' || cause === 'BANNED_BY_SERVER' || cause === 'LOGIN_FAILURE'
      ? cause
      : 'BANNED_BY_SERVER';

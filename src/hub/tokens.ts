/**
 * Login tokens: `base64url(JSON {u: userId, e: expiresAt}) "." base64url(HMAC-SHA256(secret, payload))`.
 * Stateless, so any process holding the secret can verify them; compared in constant time.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { fromBase64Url, timingSafeEqual, toBase64Url, utf8 } from '../core/bytes.js';
import { Failure } from '../core/failure.js';
import { hmacSha256 } from '../core/hash.js';
import { isValidId } from '../core/ids.js';

const Payload = t.type({ u: t.string, e: t.number });

/** What a verified token says. */
export interface TokenClaims {
  readonly userId: string;
  readonly expiresAt: number;
}

/** Mints a token for `userId` valid until `expiresAt` (ms since the epoch). */
export const signToken = (secret: Uint8Array, claims: TokenClaims): string => {
  const payload = toBase64Url(utf8(JSON.stringify({ u: claims.userId, e: claims.expiresAt })));
  return `${payload}.${toBase64Url(hmacSha256(secret, utf8(payload)))}`;
};

/** Verifies a token's signature, shape and expiry at time `now`. */
export const verifyToken = (secret: Uint8Array, token: unknown, now: number): E.Either<Failure, TokenClaims> => {
  if (typeof token !== 'string' || token.length > 1024) return E.left(Failure.invalidToken('not a token string'));
  const [payload, signature, ...rest] = token.split('.');
  const given = signature === undefined ? undefined : fromBase64Url(signature);
  if (payload === undefined || given === undefined || rest.length > 0) {
    return E.left(Failure.invalidToken('malformed token'));
  }
  if (!timingSafeEqual(given, hmacSha256(secret, utf8(payload)))) return E.left(Failure.invalidToken('bad signature'));
  return pipe(
    E.tryCatch(
      () => JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as unknown,
      () => Failure.invalidToken('payload is not JSON'),
    ),
    E.chain((json) => pipe(Payload.decode(json), E.mapLeft(() => Failure.invalidToken('payload has the wrong shape')))),
    E.chain(({ u, e }) =>
      !isValidId(u)
        ? E.left(Failure.invalidToken('payload has an invalid user ID'))
        : e <= now
          ? E.left(Failure.tokenExpired())
          : E.right({ userId: u, expiresAt: e }),
    ),
  );
};

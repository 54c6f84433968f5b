/**
 * Token renewal and its codes (Agora's renewToken numbering), on an in-process hub and virtual time:
 * every refusal has its code, a renewed session outlives its first token, an unrenewed one ends
 * ABORTED/TOKEN_EXPIRED, and the expiry streams fire when they should and not after a logout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Client, ConnectionChange } from '../../src/index.js';
import { bytes, flush, rejectsWith, uploaded, world, type World } from './support.js';

const RENEW = 'RenewTokenError';

describe('token renewal', () => {
  let w: World;
  afterEach(() => w.hub.close());

  /** A client logged in with a token of `ttlMs`, recording what its streams say. */
  const withToken = async (ttlMs: number, userId = 'alice') => {
    const client: Client = w.client();
    const changes: ConnectionChange[] = [];
    const warned: number[] = [];
    const expired: number[] = [];
    client.connectionChange$.subscribe((change) => changes.push(change));
    client.tokenWillExpire$.subscribe(() => warned.push(w.clock.now()));
    client.tokenExpired$.subscribe(() => expired.push(w.clock.now()));
    await client.login({ userId, token: w.hub.issueToken(userId, ttlMs) });
    return { client, changes, warned, expired, t0: w.clock.now() };
  };

  it('keeps a renewed session past its first token: uploads, downloads and messages still work', async () => {
    w = world();
    const { client, changes, expired } = await withToken(3_000);
    w.clock.advance(1_000);
    await client.renewToken(w.hub.issueToken('alice', 60_000));
    w.clock.advance(4_000);
    await flush();
    const mediaId = await uploaded(client, bytes(5_000));
    expect(await client.downloadMediaToMemory(mediaId).result).toEqual(bytes(5_000));
    expect(changes.at(-1)).toEqual({ state: 'CONNECTED', reason: 'LOGIN_SUCCESS' });
    expect(expired).toEqual([]);
  });

  it('ends an unrenewed session at its token’s expiry with ABORTED/TOKEN_EXPIRED; its calls then fail with 102', async () => {
    w = world();
    const { client, changes, warned, expired, t0 } = await withToken(3_000);
    w.clock.advance(2_999);
    await flush();
    expect(changes.at(-1)?.state).toBe('CONNECTED');
    w.clock.advance(1);
    await flush();
    expect(changes.at(-1)).toEqual({ state: 'ABORTED', reason: 'TOKEN_EXPIRED' });
    expect(warned).toEqual([t0 + 1_500]);
    expect(expired).toEqual([t0 + 3_000]);
    await rejectsWith(client.createFileMessageByUploading(bytes(10)).result, { name: 'UploadError', code: 102 });
    await rejectsWith(client.renewToken(w.hub.issueToken('alice')), { name: RENEW, code: 102 });
  });

  it('warns 30 s before expiry for long tokens, once, and again after each renewal', async () => {
    w = world();
    const { client, warned, t0 } = await withToken(3_600_000);
    w.clock.advance(3_600_000 - 30_001);
    expect(warned).toEqual([]);
    w.clock.advance(1);
    expect(warned).toEqual([t0 + 3_570_000]);
    await client.renewToken(w.hub.issueToken('alice', 3_600_000));
    const renewedAt = w.clock.now();
    w.clock.advance(3_600_000 - 30_000);
    expect(warned).toEqual([t0 + 3_570_000, renewedAt + 3_570_000]);
  });

  it('fires nothing after a logout', async () => {
    w = world();
    const { client, warned, expired } = await withToken(3_000);
    await client.logout();
    w.clock.advance(10_000);
    expect([warned, expired]).toEqual([[], []]);
  });

  it.each([
    ['an empty token', () => '', 2, undefined],
    ['a valid token of another user', (x: World) => x.hub.issueToken('bob'), 3, /another user/],
    ['an expired token', (x: World) => x.hub.issueToken('alice', 1), 5, /expired/],
    ['a malformed token', () => 'not-a-token', 6, /invalid token/],
  ] as const)('refuses %s with code %i', async (_what, token, code, mentions) => {
    w = world();
    const { client } = await withToken(60_000);
    const given = token(w);
    if (code === 5) w.clock.advance(1);
    await rejectsWith(client.renewToken(given), { name: RENEW, code, ...(mentions ? { mentions } : {}) });
  });

  it('refuses a third renewal within a second with 4 TOO_OFTEN, and accepts one a second later', async () => {
    w = world();
    const { client } = await withToken(60_000);
    await client.renewToken(w.hub.issueToken('alice'));
    await client.renewToken(w.hub.issueToken('alice'));
    await rejectsWith(client.renewToken(w.hub.issueToken('alice')), { name: RENEW, code: 4 });
    w.clock.advance(1_000);
    await client.renewToken(w.hub.issueToken('alice'));
  });

  it('refuses a renewal before login with 102', async () => {
    w = world();
    await rejectsWith(w.client().renewToken(w.hub.issueToken('alice')), { name: RENEW, code: 102 });
  });
});

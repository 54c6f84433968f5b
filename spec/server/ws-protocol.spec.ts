/**
 * The WebSocket protocol's decoding: the fast guards (`isClientFrame`, `isServerFrame`) accept exactly
 * what the io-ts codecs accept, so the fast path never lets through a frame the codec would refuse; a
 * text frame may hold a batch (an array) whose frames are decoded one by one; and the batcher joins the
 * frames of one turn into one text frame, in order and within the size bound.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { textBatcher } from '../../src/protocol/ws-batch.js';
import {
  ClientFrameCodec,
  decodeClientFrames,
  decodeServerFrames,
  isClientFrame,
  isServerFrame,
  MAX_BATCH_CHARS,
  ServerFrameCodec,
} from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';

/** Values that sit on every boundary the codecs draw: integers, fractions, negatives, huge, wrong types. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e300, '', 'x', '1', true, false, null, [], {}),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 8 }),
);
const field = (values: readonly unknown[]): fc.Arbitrary<unknown> => fc.oneof(fc.constantFrom(...values), anyValue);

/** Frames built from the protocol's own keys and values, some right, most nearly right. */
const frameLike = (types: readonly string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.record(
      {
        type: field(types),
        id: field([0, 7]),
        op: field([
          'createUpload',
          'getUpload',
          'terminateUpload',
          'getMedia',
          'append',
          'read',
          'sendToPeer',
          'join',
          'leave',
          'sendToChannel',
          'members',
          'channelMemberCounts',
          'queryPresence',
          'subscribePresence',
          'unsubscribePresence',
          'logout',
          'nope',
        ]),
        messageId: field(['m-1']),
        peerIds: field([['bob']]),
        transfer: field([1, 2 ** 32 - 1]),
        offset: field([0, 65_536]),
        limit: field([0, 1_048_576]),
        seq: field([1]),
        version: field([1]),
        batch: field([true, false]),
        eventRuns: field([true, false]),
        events: field([[], [{ type: 'presence' }, 1]]),
        resume: fc.oneof(fc.record({ sessionId: field(['s']), lastSeq: field([0, 3]) }, { requiredKeys: [] }), anyValue),
        message: field(['m']),
        sessionId: field(['s']),
        resumed: field([true, false]),
        chunkSize: field([65_536]),
        window: field([1_048_576]),
        value: anyValue,
        failure: anyValue,
      },
      { requiredKeys: [] },
    ) },
    { weight: 1, arbitrary: anyValue },
  );

describe('WebSocket frame decoding', () => {
  /** Both outcomes must be common, or the property would prove little. */
  const agree = (types: readonly string[], guard: (u: unknown) => boolean, codec: { decode(u: unknown): E.Either<unknown, unknown> }): void => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(frameLike(types), (u) => {
        const ok = E.isRight(codec.decode(u));
        expect(guard(u)).toBe(ok);
        if (ok) accepted++;
        else refused++;
      }),
      fcOptions(20_000),
    );
    expect(Math.min(accepted, refused)).toBeGreaterThan(500);
  };

  it('accepts a client frame by the fast guard exactly when the io-ts codec accepts it', () => {
    agree(['hello', 'call', 'cancel', 'credit', 'ping', 'result'], isClientFrame, ClientFrameCodec);
  });

  it('accepts a server frame by the fast guard exactly when the io-ts codec accepts it', () => {
    agree(['welcome', 'result', 'error', 'event', 'events', 'ack', 'pong', 'call'], isServerFrame, ServerFrameCodec);
  });

  it('decodes a batch frame by frame, reporting only the bad ones by their path', () => {
    const frames = decodeClientFrames(JSON.stringify([{ type: 'ping' }, { type: 'credit', transfer: 0, limit: 1 }, [], { type: 'cancel', transfer: 3 }]));
    expect(frames.map(E.isRight)).toEqual([true, false, false, true]);
    const bad = frames[1];
    expect(bad && E.isLeft(bad) && bad.left.failure).toMatchObject({ _tag: 'InvalidArgument', detail: expect.stringContaining('transfer') });
    expect(decodeServerFrames(JSON.stringify({ type: 'pong' }))).toEqual([E.right({ type: 'pong' })]);
  });

  it('keeps the id of a call it cannot decode, so the server answers that call', () => {
    const [unknownOp, badField, notCall] = decodeClientFrames(
      JSON.stringify([{ type: 'call', id: 7, op: 'teleport' }, { type: 'call', id: 8, op: 'append', transfer: -1, uploadId: 'u', offset: 0 }, { type: 'cancel', id: 9 }]),
    );
    expect(unknownOp && E.isLeft(unknownOp) && unknownOp.left.id).toBe(7);
    expect(badField && E.isLeft(badField) && badField.left.id).toBe(8);
    expect(notCall && E.isLeft(notCall) && notCall.left).toMatchObject({ id: 9 });
    expect(decodeClientFrames(JSON.stringify({ type: 'call', id: -1, op: 'x' })).map((r) => E.isLeft(r) && r.left.id)).toEqual([undefined]);
  });

  it('refuses an empty batch and text that is not JSON, as one bad frame each', () => {
    expect(decodeClientFrames('[]').map(E.isLeft)).toEqual([true]);
    expect(decodeClientFrames('[{"type":"ping"}').map(E.isLeft)).toEqual([true]);
  });
});

describe('the text batcher', () => {
  const collect = () => {
    const written: string[] = [];
    return { written, batcher: textBatcher((text) => written.push(text)) };
  };

  it('writes the frames of one turn as one array, in order, at the end of the turn', async () => {
    const { written, batcher } = collect();
    for (let i = 0; i < 5; i++) batcher.push({ type: 'ping', i });
    expect(written).toEqual([]);
    await Promise.resolve();
    expect(written.map((text) => JSON.parse(text))).toEqual([[0, 1, 2, 3, 4].map((i) => ({ type: 'ping', i }))]);
  });

  it('writes a frame alone as itself, and what is queued at once on flush', async () => {
    const { written, batcher } = collect();
    batcher.push({ type: 'ping' });
    batcher.flush();
    expect(written).toEqual(['{"type":"ping"}']);
    await Promise.resolve();
    expect(written).toHaveLength(1);
  });

  it('never writes a batch over the bound, and a frame over it on its own', async () => {
    const { written, batcher } = collect();
    const text = 'é'.repeat(3_000);
    for (let i = 0; i < 20; i++) batcher.push({ type: 'event', text });
    batcher.push({ type: 'event', text: 'x'.repeat(MAX_BATCH_CHARS + 10) });
    batcher.push({ type: 'ping' });
    await Promise.resolve();
    const sizes = written.map((t) => t.length);
    expect(sizes.slice(0, -2).every((n) => n <= MAX_BATCH_CHARS)).toBe(true);
    expect(written.flatMap((t) => [JSON.parse(t)].flat()).length).toBe(22);
    expect(JSON.parse(written.at(-1) as string)).toEqual({ type: 'ping' });
  });

  it('drops what is queued on clear', async () => {
    const { written, batcher } = collect();
    batcher.push({ type: 'ping' });
    batcher.clear();
    await Promise.resolve();
    expect(written).toEqual([]);
  });
});

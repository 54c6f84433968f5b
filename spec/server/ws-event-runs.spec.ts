/**
 * Runs of events on the WebSocket (decision 127): to a client whose `hello` said `batch` and `eventRuns`,
 * consecutive events of one turn go as one `events` frame, `{"type":"events","seq":S,"events":[…]}`, the
 * events S, S + 1, … in order. What a socket is sent must read, event by event and answer by answer,
 * exactly as the `event` frames it replaces, in the same order; a batch stays within `MAX_BATCH_CHARS`; a
 * client that did not say `eventRuns` never gets an `events` frame; and the endpoint joins a run shared
 * by every member of a channel once, never handing a socket another run's text.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import type { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeServerFrames, MAX_BATCH_CHARS, type ServerFrame } from '../../src/protocol/ws-frames.js';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { RunJoiner, SocketOutput } from '../../src/server/ws-output.js';
import { fcOptions } from '../properties/support.js';
import { raw, type Raw, type RawFrame } from './ws-raw.js';

/** A `ws` socket as the output uses it: open, every write taken at once. */
const fakeSocket = () => {
  const written: string[] = [];
  const ws = {
    readyState: 1,
    OPEN: 1,
    send: (data: string, done?: () => void) => {
      written.push(data);
      done?.();
    },
    close: () => undefined,
  };
  return { written, ws: ws as unknown as WebSocket };
};

/** What a reader makes of written text frames: each event with its number, each other frame as it is. */
type Read = { readonly seq: number; readonly event: unknown } | { readonly frame: ServerFrame };

const readAll = (written: readonly string[]): Read[] =>
  written.flatMap((text) =>
    decodeServerFrames(text).flatMap((decoded): Read[] => {
      if (E.isLeft(decoded)) throw new Error(`undecodable frame: ${text.slice(0, 200)}`);
      const frame = decoded.right;
      if (frame.type === 'event') return [{ seq: frame.seq, event: frame.event }];
      if (frame.type === 'events') return frame.events.map((event, i) => ({ seq: frame.seq + i, event }));
      return [{ frame }];
    }),
  );

/** The frames inside written text: one each, or those of a batch. */
const framesOf = (text: string): ServerFrame[] => {
  const parsed = JSON.parse(text) as ServerFrame | ServerFrame[];
  return Array.isArray(parsed) ? parsed : [parsed];
};

const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One step a session's output is asked to do. */
type Step =
  | { readonly kind: 'event'; readonly gap: number; readonly text: string }
  | { readonly kind: 'answer'; readonly id: number }
  | { readonly kind: 'turn' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('event' as const), gap: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, fc.integer({ min: 2, max: 4 })), text: fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 3_000, maxLength: 20_000 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('answer' as const), id: fc.nat({ max: 1_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'turn' as const }) },
);

/** Plays `steps` on an output; what was asked, in order, as a reader should read it back. */
const play = async (output: SocketOutput, steps: readonly Step[]): Promise<Read[]> => {
  const asked: Read[] = [];
  let seq = 0;
  for (const step of steps) {
    if (step.kind === 'turn') await endOfTurn();
    else if (step.kind === 'answer') {
      const frame: ServerFrame = { type: 'result', id: step.id, value: null };
      asked.push({ frame });
      output.sendText(frame);
    } else {
      seq += step.gap;
      const event = { type: 'channelMessage', text: step.text };
      asked.push({ seq, event });
      output.sendEvent(seq, JSON.stringify(event));
    }
  }
  await endOfTurn();
  return asked;
};

describe('a socket output with runs of events', () => {
  it('is read exactly as the event frames it replaces, in order, each batch within the bound', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 60 }), fc.boolean(), async (steps, eventRuns) => {
        const { written, ws } = fakeSocket();
        const output = new SocketOutput(ws, { runs: new RunJoiner() });
        output.batch(eventRuns);
        const asked = await play(output, steps);
        expect(readAll(written)).toEqual(asked);
        for (const text of written) {
          // Byte for byte what JSON.stringify writes for the frames read: no frame is assembled wrongly.
          expect(text).toBe(JSON.stringify(JSON.parse(text)));
          const frames = framesOf(text);
          // Only a frame too large to share a batch goes over the bound, and then alone.
          if (text.length > MAX_BATCH_CHARS) expect(frames).toHaveLength(1);
          if (!eventRuns) expect(frames.every((frame) => frame.type !== 'events')).toBe(true);
          for (const frame of frames) {
            if (frame.type !== 'events') continue;
            // A run holds two events at least: one alone goes as an `event` frame, as to any client.
            expect(frame.events.length).toBeGreaterThan(1);
          }
        }
      }),
      fcOptions(300),
    );
  });

  it('sends the consecutive events of a turn as one frame, and starts a new run where a number is skipped', async () => {
    const { written, ws } = fakeSocket();
    const output = new SocketOutput(ws, {});
    output.batch(true);
    for (const seq of [4, 5, 6, 8, 9]) output.sendEvent(seq, JSON.stringify({ type: 'presence', n: seq }));
    await endOfTurn();
    expect(written).toEqual([
      '[{"type":"events","seq":4,"events":[{"type":"presence","n":4},{"type":"presence","n":5},{"type":"presence","n":6}]},{"type":"events","seq":8,"events":[{"type":"presence","n":8},{"type":"presence","n":9}]}]',
    ]);
  });

  it('gives every socket of an endpoint its own run, joined once for all when the runs are the same', async () => {
    const joiner = new RunJoiner();
    const sockets = [fakeSocket(), fakeSocket(), fakeSocket()];
    const outputs = sockets.map(({ ws }) => new SocketOutput(ws, { runs: joiner }));
    for (const output of outputs) output.batch(true);
    const events = ['{"type":"a"}', '{"type":"b"}', '{"type":"c"}'];
    // The same three events to each, at different numbers; the third socket gets one event fewer.
    outputs.forEach((output, at) => events.slice(0, at === 2 ? 2 : 3).forEach((event, i) => output.sendEvent(10 * at + i + 1, event)));
    await endOfTurn();
    expect(sockets.map(({ written }) => written)).toEqual([
      ['{"type":"events","seq":1,"events":[{"type":"a"},{"type":"b"},{"type":"c"}]}'],
      ['{"type":"events","seq":11,"events":[{"type":"a"},{"type":"b"},{"type":"c"}]}'],
      ['{"type":"events","seq":21,"events":[{"type":"a"},{"type":"b"}]}'],
    ]);
  });
});

describe('the run joiner', () => {
  it('always answers the join of what it is given, whatever it joined before', () => {
    const item = fc.constantFrom('{"a":1}', '{"b":2}', '{"c":3}', '');
    fc.assert(
      fc.property(fc.array(fc.array(item, { minLength: 1, maxLength: 5 }), { maxLength: 30 }), (runs) => {
        const joiner = new RunJoiner();
        for (const run of runs) expect(joiner.join(run)).toBe(run.join(','));
      }),
      fcOptions(500),
    );
  });
});

describe('runs of events on a real server', () => {
  let server: FerryServer;
  beforeAll(async () => {
    server = await startServer({ port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  /** A raw member of channel `room` that said `hello` with `reads`; every text frame it gets, in order. */
  const member = async (userId: string, reads: Record<string, boolean>): Promise<{ socket: Raw; texts: string[] }> => {
    const socket = await raw(server.wsUrl);
    const texts: string[] = [];
    socket.ws.on('message', (data, isBinary) => {
      if (!isBinary) texts.push(String(data));
    });
    socket.ws.send(JSON.stringify({ type: 'hello', version: 2, userId, token: server.issueToken(userId), ...reads }));
    await socket.next('welcome');
    socket.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'join', channelId: 'room' }));
    await socket.next('result');
    return { socket, texts };
  };

  const messagesOf = (texts: readonly string[]): { seq: number; text: unknown }[] =>
    readAll(texts).flatMap((read) =>
      'seq' in read && (read.event as { type: string }).type === 'channelMessage'
        ? [{ seq: read.seq, text: (read.event as { message: { text: unknown } }).message.text }]
        : [],
    );

  it('sends runs only to a client that reads them, and both read the same messages with the same numbering', async () => {
    const plain = await member('plain', { batch: true });
    const runs = await member('runs', { batch: true, eventRuns: true });
    const sender = await member('sender', { batch: true });
    const count = 50;
    // One text frame of 50 calls: the server handles them in one turn, so their events make one run.
    sender.socket.ws.send(
      JSON.stringify(
        Array.from({ length: count }, (_, i) => ({ type: 'call', id: 10 + i, op: 'sendToChannel', channelId: 'room', message: { messageType: 'TEXT', text: `m${i}` } })),
      ),
    );
    await expect.poll(() => messagesOf(runs.texts).length).toBe(count);
    await expect.poll(() => messagesOf(plain.texts).length).toBe(count);

    const expected = Array.from({ length: count }, (_, i) => `m${i}`);
    for (const { texts } of [plain, runs]) {
      const got = messagesOf(texts);
      expect(got.map((m) => m.text)).toEqual(expected);
      // Numbered one by one (`memberJoined` events came before them).
      got.forEach((m, i) => expect(m.seq).toBe((got[0]?.seq ?? 0) + i));
    }
    const frameTypes = (texts: readonly string[]): string[] => texts.flatMap((text) => framesOf(text).map((frame: RawFrame | ServerFrame) => frame.type));
    expect(frameTypes(plain.texts)).not.toContain('events');
    expect(frameTypes(runs.texts)).toContain('events');
    for (const socket of [plain.socket, runs.socket, sender.socket]) socket.ws.close();
  });
});

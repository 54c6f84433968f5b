/**
 * The slow-reader bound of a WebSocket's output (`slowReaderBytes`, 8 MiB by default: close 4002) counts
 * the bytes the peer has not taken as they go on the wire, UTF-8, whatever the text: an attack run found
 * it counted UTF-16 code units, so a reader that takes nothing held three times the bound in text of
 * three-byte characters before its cut.
 */
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { CloseCode, wsEventText } from '../../src/protocol/ws-frames.js';
import { SocketOutput } from '../../src/server/ws-output.js';
import { virtualClock } from '../../src/core/clock.js';
import { fcOptions } from '../properties/support.js';

/** A `ws` socket whose peer takes nothing: every write stays unsent; a close is recorded. */
const stalledSocket = () => {
  const closes: number[] = [];
  const ws = {
    readyState: 1,
    OPEN: 1,
    send: (): void => undefined,
    close: (code: number) => closes.push(code),
    terminate: (): void => undefined,
  };
  return { closes, ws: ws as unknown as WebSocket };
};

/** An event carrying `text`, as the hub serializes it once for all its receivers. */
const eventOf = (text: string): string => JSON.stringify({ type: 'peerMessage', from: 'alice', message: { messageType: 'TEXT', text } });

describe("a WebSocket output's slow-reader bound", () => {
  it('cuts a reader that takes nothing once the UTF-8 bytes unsent pass the bound, not before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', 'é', '€', '中', '😀', '\u0001'), maxLength: 200 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 100, max: 6_000 }),
        (texts, bound) => {
          const { closes, ws } = stalledSocket();
          const output = new SocketOutput(ws, { maxBufferedBytes: bound, clock: virtualClock() });
          let unsent = 0;
          for (const [seq, text] of texts.entries()) {
            output.sendEvent(seq + 1, eventOf(text));
            unsent += Buffer.byteLength(wsEventText(seq + 1, eventOf(text)));
            if (unsent > bound) {
              expect(closes).toEqual([CloseCode.tooSlow]);
              return;
            }
            expect(closes).toEqual([]);
          }
        },
      ),
      fcOptions(200),
    );
  });

  it('holds at most the bound and one frame more, in three-byte text as in one-byte text', () => {
    const bound = 64 * 1024;
    for (const char of ['x', '€', '中']) {
      const { closes, ws } = stalledSocket();
      const output = new SocketOutput(ws, { maxBufferedBytes: bound, clock: virtualClock() });
      let held = 0;
      let last = 0;
      for (let seq = 1; closes.length === 0 && seq <= 64; seq++) {
        output.sendEvent(seq, eventOf(char.repeat(4_000)));
        last = Buffer.byteLength(wsEventText(seq, eventOf(char.repeat(4_000))));
        held += last;
      }
      expect(closes).toEqual([CloseCode.tooSlow]);
      // Counted in UTF-16 code units, the three-byte text held about 196 KB here before its cut.
      expect(held).toBeGreaterThan(bound);
      expect(held).toBeLessThanOrEqual(bound + last);
    }
  });
});

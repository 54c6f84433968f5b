/**
 * Fuzzing the WebSocket endpoint (issue 12, "Verification"): generated frames on raw `ws` sockets against
 * the real server in a child process. Logins with hostile fields; then, after a valid `hello`, calls of
 * every op with hostile field values, unknown ops and types, batches, bad JSON and binary frames with bad
 * headers. Every call that carries a valid `id` must be answered with that `id`; no answer may be an
 * `Unknown` failure; the server must neither exit nor log a fault nor drop the socket; and two clients
 * still log in and message each other afterwards. A failing run prints its frames in one line.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeServerFrames, encodeData, WS_MAX_FRAME } from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';
import { type Child, clip, crashCause, describeHostile, exchange, exitsWithin, exploring, faultsLogged, foreignToken, mark, type Mark, type Hostile, jsonOf, survey, tail, target, tokenFor, type Violation } from './fuzz-support.js';

/** Runs of each property, chosen so that one run sends well over 1,000 WebSocket frames in all. */
const HELLO_RUNS = 250;
const FRAME_RUNS = 300;
/** How long the answers of a run may take after the server answered a ping sent behind them. */
const ANSWER_MS = 3_000;

// ---- frames as data ------------------------------------------------------------------------------------

/** A field value: hostile JSON, or an ID that exists on the server (filled in when sent). */
type Value = Hostile | { readonly known: 'upload' | 'media' | 'self' | 'token' | 'nextTransfer' | 'lastTransfer' | 'lastSession' };
type Field = readonly [string, Value];

/** A call's `id`: the next one of the socket (answers are expected), or a hostile value (none is). */
type CallId = 'next' | Hostile;

type Frame =
  | { readonly call: { readonly op: Value; readonly id: CallId; readonly fields: readonly Field[] } }
  | { readonly type: Value; readonly fields: readonly Field[] }
  | { readonly value: Hostile }
  | { readonly notJson: string }
  | { readonly batch: readonly Frame[] }
  | { readonly data: { readonly kind: number; readonly transfer: number | 'last'; readonly offset: number; readonly length: number } }
  | { readonly bytes: number };

const OPS = [
  'createUpload',
  'getUpload',
  'terminateUpload',
  'getMedia',
  'append',
  'read',
  'sendToPeer',
  'sendToChannel',
  'join',
  'leave',
  'members',
  'channelMemberCounts',
  'queryPresence',
  'subscribePresence',
  'unsubscribePresence',
  'renewToken',
  'logout',
] as const;
type Op = (typeof OPS)[number];

/** The fields each op reads, with the values that make it succeed. */
const FIELDS: Readonly<Record<Op, readonly Field[]>> = {
  createUpload: [
    ['size', { json: 10 }],
    ['fileName', { json: 'a.txt' }],
  ],
  getUpload: [['uploadId', { known: 'upload' }]],
  terminateUpload: [['uploadId', { known: 'upload' }]],
  getMedia: [['mediaId', { known: 'media' }]],
  append: [
    ['transfer', { known: 'nextTransfer' }],
    ['uploadId', { known: 'upload' }],
    ['offset', { json: 0 }],
  ],
  read: [
    ['transfer', { known: 'nextTransfer' }],
    ['mediaId', { known: 'media' }],
    ['offset', { json: 0 }],
    ['limit', { json: 1_000_000 }],
  ],
  sendToPeer: [
    ['peerId', { known: 'self' }],
    ['message', { json: { messageType: 'TEXT', text: 'hi' } }],
    ['messageId', { json: 'fuzz-1' }],
    ['enableOfflineMessaging', { json: true }],
  ],
  sendToChannel: [
    ['channelId', { json: 'general' }],
    ['message', { json: { messageType: 'TEXT', text: 'hi' } }],
    ['messageId', { json: 'fuzz-2' }],
  ],
  join: [['channelId', { json: 'general' }]],
  leave: [['channelId', { json: 'general' }]],
  members: [['channelId', { json: 'general' }]],
  channelMemberCounts: [['channelIds', { json: ['general', 'other'] }]],
  queryPresence: [['peerIds', { json: ['owner', 'other'] }]],
  subscribePresence: [['peerIds', { json: ['owner'] }]],
  unsubscribePresence: [['peerIds', { json: ['owner'] }]],
  renewToken: [['token', { known: 'token' }]],
  logout: [],
};

/** Hostile JSON for any field. */
const hostileArb: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ nest: fc.constantFrom(1, 2, 100, 1_000, 5_000, 20_000), of: fc.constantFrom<'array' | 'object'>('array', 'array', 'object') }) },
  { weight: 2, arbitrary: fc.record({ repeat: fc.constantFrom('a', '\u00e9', '\u{1F600}', '"', '\u0000'), times: fc.constantFrom(65, 1_000, 20_000) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      text: fc.constantFrom('1e400', '-1e400', '-0', '-1', '1.5', '4294967296', '9007199254740993', '1e21', 'true', 'null', '"NaN"', '"Infinity"', '"-1"', '""', '" "', '"../.."', '{"__proto__":{"x":1}}', '{"toString":1,"valueOf":1}'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      json: fc.oneof(
        fc.constantFrom({}, [], 0, 1, 2 ** 32, 'AAAAAAAAAAAAAAAAAAAAAA', { messageType: 'TEXT', text: ['x'] }, { messageType: 'NOPE' }, { messageType: 'RAW', rawMessage: '!!' }, { length: 5 }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
    }),
  },
);

const valueArb = (valid: Value): fc.Arbitrary<Value> => fc.oneof({ weight: 1, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: hostileArb });

const callArb: fc.Arbitrary<Frame> = fc
  .record({
    op: fc.oneof(
      { weight: 24, arbitrary: fc.constantFrom(...OPS.filter((op) => op !== 'logout')) },
      // A logout ends the session, so what follows it in the run tests little: rare.
      { weight: 1, arbitrary: fc.constant('logout') },
      { weight: 3, arbitrary: fc.constantFrom('teleport', '', '__proto__', 'constructor', 'toString', 'APPEND', 'hello') },
      { weight: 3, arbitrary: hostileArb },
    ),
    id: fc.oneof({ weight: 6, arbitrary: fc.constant<CallId>('next') }, { weight: 1, arbitrary: hostileArb }),
    extra: fc.array(fc.tuple(fc.constantFrom('id', 'op', 'type', 'extra', '__proto__'), hostileArb), { maxLength: 1 }),
    // A third of the calls keep their valid fields, so uploads, transfers and channels exist for later frames.
    mutate: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(fc.tuple(fc.nat(), hostileArb), { minLength: 1, maxLength: 2 }) }),
    drop: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
  })
  .map(({ op, id, extra, mutate, drop }): Frame => {
    const fields: Field[] = typeof op === 'string' && Object.hasOwn(FIELDS, op) ? [...FIELDS[op as Op]] : [...FIELDS.sendToPeer];
    for (const [at, value] of mutate) if (fields.length > 0) fields[at % fields.length] = [fields[at % fields.length]?.[0] ?? 'x', value];
    if (drop !== undefined && fields.length > 0) fields.splice(drop % fields.length, 1);
    return { call: { op: typeof op === 'string' ? { json: op } : op, id, fields: [...fields, ...extra] } };
  });

const controlArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant<Value>({ json: 'ping' }), fields: fc.constant([]) }),
  fc.record({ type: fc.constant<Value>({ json: 'cancel' }), fields: fc.tuple(fc.tuple(fc.constant('transfer'), valueArb({ known: 'lastTransfer' }))) }),
  fc.record({
    type: fc.constant<Value>({ json: 'credit' }),
    fields: fc.tuple(fc.tuple(fc.constant('transfer'), valueArb({ known: 'lastTransfer' })), fc.tuple(fc.constant('limit'), valueArb({ json: 2_000_000 }))),
  }),
  fc.record({
    type: fc.constant<Value>({ json: 'hello' }),
    fields: fc.tuple(fc.tuple(fc.constant('version'), valueArb({ json: 1 })), fc.tuple(fc.constant('userId'), valueArb({ known: 'self' }))),
  }),
  fc.record({ type: fc.oneof(fc.constantFrom<Value>({ json: 'teleport' }, { json: '' }, { json: 'result' }, { json: 'welcome' }), hostileArb), fields: fc.array(fc.tuple(fc.constantFrom('id', 'op', 'x'), hostileArb), { maxLength: 2 }) }),
  fc.record({ value: hostileArb }),
  fc.record({ notJson: fc.constantFrom('{', '', ' ', '{"type":"call"', '\u0000', '[', '[{}', 'undefined', '\uFFFD') }),
);

const dataArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    data: fc.record({
      kind: fc.constantFrom(1, 1, 1, 0, 2, 255),
      transfer: fc.oneof(fc.constant<'last'>('last'), fc.constantFrom(0, 1, 2, 77, 0xffff_ffff)),
      offset: fc.constantFrom(0, 0, 5, 10, 99, 2 ** 32, 2 ** 53, 2 ** 64 - 1),
      length: fc.constantFrom(0, 1, 10, 100, 65_536, 65_537),
    }),
  }),
  fc.record({ bytes: fc.constantFrom(0, 1, 15, 16) }),
);

const singleArb: fc.Arbitrary<Frame> = fc.oneof({ weight: 5, arbitrary: callArb }, { weight: 3, arbitrary: controlArb }, { weight: 2, arbitrary: dataArb });
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 9, arbitrary: singleArb },
  { weight: 2, arbitrary: fc.record({ batch: fc.array(fc.oneof(callArb, controlArb), { minLength: 0, maxLength: 4 }) }) },
);

interface HelloCase {
  readonly version: Value;
  readonly userId: Value;
  readonly token: 'valid' | 'expired' | 'foreign' | 'other user' | Hostile;
  readonly resume: Value | undefined;
  readonly batch: Value | undefined;
  readonly asBatch: boolean;
}

const helloArb: fc.Arbitrary<HelloCase> = fc.record({
  version: fc.oneof({ weight: 4, arbitrary: fc.constant<Value>({ json: 1 }) }, { weight: 1, arbitrary: hostileArb }),
  userId: fc.oneof({ weight: 1, arbitrary: fc.constant<Value>({ known: 'self' }) }, { weight: 3, arbitrary: hostileArb }),
  token: fc.oneof({ weight: 4, arbitrary: fc.constant<'valid'>('valid') }, { weight: 1, arbitrary: fc.constantFrom<'expired' | 'foreign' | 'other user'>('expired', 'foreign', 'other user') }, { weight: 1, arbitrary: hostileArb }),
  // `lastSession`: the session the previous run's login opened, resumed by the same user within its grace.
  resume: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.oneof(hostileArb, fc.constant<Value>({ json: { sessionId: 'nope', lastSeq: 0 } })) },
    { weight: 1, arbitrary: fc.constant<Value>({ known: 'lastSession' }) },
  ),
  batch: fc.option(valueArb({ json: true }), { nil: undefined, freq: 2 }),
  asBatch: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

// ---- turning frames into text and bytes -----------------------------------------------------------------------

/** What a run's socket knows while it sends: the IDs to fill in and the answers it must get. */
interface Context {
  readonly user: string;
  /** The session of the previous successful login, which was `user`'s when a hello resumes it. */
  readonly lastSession?: string | undefined;
  readonly upload: string;
  readonly media: string;
  nextId: number;
  lastTransfer: number;
  /** The `id`s sent that must be answered, with the op that was called (for the failure's class). */
  readonly expected: Map<number, string>;
  /** Set once a frame was sent after which the server may close the socket (logout, a frame over the limit). */
  mayClose: string | undefined;
}

const valueJson = (v: Value, ctx: Context): string => {
  if (!('known' in v)) return jsonOf(v);
  switch (v.known) {
    case 'upload':
      return JSON.stringify(ctx.upload);
    case 'media':
      return JSON.stringify(ctx.media);
    case 'self':
      return JSON.stringify(ctx.user);
    case 'token':
      return JSON.stringify(tokenFor(ctx.user));
    case 'nextTransfer':
      return String(++ctx.lastTransfer);
    case 'lastTransfer':
      return String(Math.max(1, ctx.lastTransfer));
    case 'lastSession':
      return JSON.stringify({ sessionId: ctx.lastSession ?? 'none', lastSeq: 0 });
  }
};

const showValue = (v: Value): string => ('known' in v ? `<${v.known}>` : describeHostile(v));

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u);
const isId = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;

/**
 * Notes what a text frame, as the server will read it, obliges the server to answer: every element that
 * is an object with `type: "call"` and a valid `id` must get an answer with that `id` (whatever else is
 * wrong with it: defect 6), unless a logout before it may have closed the socket. Read from the text itself
 * because duplicate keys, hostile ids and a broken element in a batch decide it.
 */
const oblige = (text: string, ctx: Context): void => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return;
  }
  for (const element of Array.isArray(json) ? json : [json]) {
    if (!isRecord(element) || element['type'] !== 'call' || !isId(element['id'])) continue;
    const op = typeof element['op'] === 'string' ? element['op'] : '<not a string>';
    if (ctx.mayClose === undefined && !ctx.expected.has(element['id'])) ctx.expected.set(element['id'], op);
    if (op === 'logout') ctx.mayClose ??= 'logout';
  }
};

const objectJson = (members: readonly (readonly [string, string])[]): string => `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** The JSON text of a control frame, noting what it obliges the server to answer. */
const controlJson = (frame: Frame, ctx: Context): string => {
  if ('call' in frame) {
    const { op, id, fields } = frame.call;
    // Its key order is the wire's: `type`, `id`, `op`, then fields, so a field named like those overrides them.
    const idJson = id === 'next' ? String(ctx.nextId++) : jsonOf(id);
    return objectJson([['type', '"call"'], ['id', idJson], ['op', valueJson(op, ctx)], ...fields.map(([k, v]) => [k, valueJson(v, ctx)] as const)]);
  }
  if ('type' in frame) return objectJson([['type', valueJson(frame.type, ctx)], ...frame.fields.map(([k, v]) => [k, valueJson(v, ctx)] as const)]);
  if ('value' in frame) return jsonOf(frame.value);
  if ('notJson' in frame) return frame.notJson;
  if ('batch' in frame) return `[${frame.batch.map((f) => controlJson(f, ctx)).join(',')}]`;
  throw new Error('not a control frame');
};

/** The WebSocket message of a frame: text, or bytes for data frames. */
const messageOf = (frame: Frame, ctx: Context): string | Buffer => {
  if ('bytes' in frame) return Buffer.alloc(frame.bytes, 1);
  if ('data' in frame) {
    const { kind, transfer, offset, length } = frame.data;
    const bytes = Buffer.from(encodeData(transfer === 'last' ? Math.max(1, ctx.lastTransfer) : transfer || 1, Math.min(offset, Number.MAX_SAFE_INTEGER), new Uint8Array(length)));
    bytes[0] = kind;
    if (transfer === 0) bytes.writeUInt32BE(0, 4);
    if (offset > Number.MAX_SAFE_INTEGER) bytes.fill(0xff, 8, 16);
    return bytes;
  }
  return controlJson(frame, ctx);
};

const showFrame = (frame: Frame): string => {
  const fields = (fs: readonly Field[]): string => fs.map(([k, v]) => `${k}=${showValue(v)}`).join(' ');
  if ('call' in frame) return `call#${frame.call.id === 'next' ? 'n' : describeHostile(frame.call.id)} op=${showValue(frame.call.op)} ${fields(frame.call.fields)}`.trim();
  if ('type' in frame) return `{type=${showValue(frame.type)} ${fields(frame.fields)}}`;
  if ('value' in frame) return `json ${describeHostile(frame.value)}`;
  if ('notJson' in frame) return `text ${JSON.stringify(frame.notJson)}`;
  if ('batch' in frame) return `batch[${frame.batch.map(showFrame).join(', ')}]`;
  if ('bytes' in frame) return `binary ${frame.bytes} bytes`;
  const d = frame.data;
  return `data kind=${d.kind} transfer=${d.transfer} offset=${d.offset} length=${d.length}`;
};

const helloJson = (h: HelloCase, ctx: Context): string => {
  const token =
    h.token === 'valid'
      ? JSON.stringify(tokenFor(ctx.user))
      : h.token === 'expired'
        ? JSON.stringify(tokenFor(ctx.user, true))
        : h.token === 'foreign'
          ? JSON.stringify(foreignToken(ctx.user))
          : h.token === 'other user'
            ? JSON.stringify(tokenFor('someone-else'))
            : jsonOf(h.token);
  const text = objectJson([
    ['type', '"hello"'],
    ['version', valueJson(h.version, ctx)],
    ['userId', valueJson(h.userId, ctx)],
    ['token', token],
    ...(h.resume ? [['resume', valueJson(h.resume, ctx)] as const] : []),
    ...(h.batch ? [['batch', valueJson(h.batch, ctx)] as const] : []),
  ]);
  return h.asBatch ? `[${text}]` : text;
};

const showHello = (h: HelloCase): string =>
  `hello version=${showValue(h.version)} userId=${showValue(h.userId)} token=${typeof h.token === 'string' ? h.token : describeHostile(h.token)}${h.resume ? ` resume=${showValue(h.resume)}` : ''}${h.batch ? ` batch=${showValue(h.batch)}` : ''}${h.asBatch ? ' (in a batch)' : ''}`;

// ---- a socket that records everything ------------------------------------------------------------------------

interface Socket {
  readonly ws: WebSocket;
  /** Server control frames in arrival order (batches flattened); `null` for one that did not decode. */
  readonly frames: ({ readonly type: string; readonly id?: number; readonly failure?: { readonly _tag?: unknown }; readonly message?: unknown } | null)[];
  readonly undecodable: string[];
  /** Set once closed. */
  closed: { readonly code: number; readonly reason: string } | undefined;
  /** Resolves when `check` holds for what arrived (checked on each frame and on close), or after `ms`. */
  until(check: () => boolean, ms: number): Promise<boolean>;
}

const open = (url: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const waiters = new Set<() => void>();
    const socket: Socket = {
      ws,
      frames: [],
      undecodable: [],
      closed: undefined,
      until: (check, ms) =>
        new Promise((done) => {
          if (check()) return done(true);
          const timer = setTimeout(() => {
            waiters.delete(waiter);
            done(false);
          }, ms);
          const waiter = (): void => {
            if (!check()) return;
            clearTimeout(timer);
            waiters.delete(waiter);
            done(true);
          };
          waiters.add(waiter);
        }),
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = String(data);
      for (const decoded of decodeServerFrames(text)) {
        if (decoded._tag === 'Left') socket.undecodable.push(clip(text, 200));
        else socket.frames.push(decoded.right as Socket['frames'][number]);
      }
      for (const waiter of [...waiters]) waiter();
    });
    ws.on('close', (code, reason) => {
      socket.closed = { code, reason: String(reason) };
      for (const waiter of [...waiters]) waiter();
    });
    ws.on('error', () => undefined);
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode ?? 0}`)));
    ws.once('close', () => reject(new Error('closed before open')));
  });

const closeSocket = async (socket: Socket): Promise<void> => {
  if (socket.closed) return;
  socket.ws.close();
  if (!(await socket.until(() => socket.closed !== undefined, 1_000))) socket.ws.terminate();
};

// ---- the server under attack --------------------------------------------------------------------------------

const server = target();
const media = new WeakMap<Child, string>();
const helloResults = survey();
const frameResults = survey();
let framesSent = 0;
/** Frames sent after a login, which the second property counts to reach its 1,000. */
let framesAfterHello = 0;
/** Answers by op and outcome, printed when exploring: shows how deep the generated frames reach. */
const seen = new Map<string, number>();
let users = 0;
/** The last login a hello property run got, for the next one to resume. */
let lastLogin: { readonly user: string; readonly sessionId: string } | undefined;

/** The server, started (again) with a complete media any user may read. */
const up = async (): Promise<Child> => {
  const child = await server.up();
  if (!media.has(child)) {
    const bytes = Buffer.from('0123456789');
    const authority = new URL(child.url).host;
    const request = `POST /v1/uploads HTTP/1.1\r\nHost: ${authority}\r\nAuthorization: Bearer ${tokenFor('owner')}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 10\r\nConnection: close\r\n\r\n`;
    const created = await exchange(child.url, Buffer.concat([Buffer.from(request), bytes]), { isHead: false, timeoutMs: 5_000 });
    const location = created.kind === 'answer' ? created.headers['location'] : undefined;
    if (!location) throw new Error(`could not upload the shared media: ${JSON.stringify(created).slice(0, 300)}`);
    media.set(child, location.split('/').pop() as string);
  }
  return child;
};

/** What is wrong with the frames a socket got and with the server's state after a run. */
const judgeRun = async (child: Child, socket: Socket, since: Mark, allowedCloses: readonly number[]): Promise<Violation[]> => {
  const violations: Violation[] = [];
  for (const frame of socket.frames) {
    if (frame?.type !== 'error') continue;
    const tag = frame.failure?._tag;
    if (typeof tag !== 'string') violations.push({ kind: 'error frame without failure._tag', detail: clip(JSON.stringify(frame)) });
    else if (tag === 'Unknown') {
      const message = String(frame.message ?? '');
      violations.push({ kind: `Unknown failure: ${message.replace(/\d+/g, 'N').slice(0, 60)}`, detail: clip(message) });
    }
  }
  for (const text of socket.undecodable) violations.push({ kind: 'server frame that does not decode', detail: text });
  const exit = await exitsWithin(child, socket.closed?.code === 1006 ? 500 : 0);
  if (exit) violations.push({ kind: `server process exited (${crashCause(child)})`, detail: `code ${String(exit.code)} signal ${String(exit.signal)}; stderr ${tail(child.stderr)}` });
  else if (socket.closed && !allowedCloses.includes(socket.closed.code)) {
    violations.push({ kind: `socket closed with ${socket.closed.code}`, detail: socket.closed.reason });
  }
  const logged = faultsLogged(child, since);
  if (logged.trim() !== '' && !exit) violations.push({ kind: 'server logged a fault', detail: clip(logged, 300) });
  return violations;
};

/** A fresh user per run: limits per user (logins per second, sessions) never mix runs. */
const nextUser = (): string => `fuzz-${++users}`;

const newContext = (user: string, upload: string, mediaId: string): Context => ({
  user,
  upload,
  media: mediaId,
  nextId: 1,
  lastTransfer: 0,
  expected: new Map(),
  mayClose: undefined,
});

/** Two clients log in, one messages the other, which receives it. */
const stillServing = async (child: Child): Promise<void> => {
  const [a, b] = [await open(child.wsUrl), await open(child.wsUrl)];
  a.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: 'alive-a', token: tokenFor('alive-a') }));
  b.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: 'alive-b', token: tokenFor('alive-b') }));
  expect(await a.until(() => a.frames.some((f) => f?.type === 'welcome'), 5_000)).toBe(true);
  expect(await b.until(() => b.frames.some((f) => f?.type === 'welcome'), 5_000)).toBe(true);
  a.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'sendToPeer', peerId: 'alive-b', message: { messageType: 'TEXT', text: 'still here' } }));
  expect(await a.until(() => a.frames.some((f) => f?.type === 'result' && f.id === 1), 5_000)).toBe(true);
  expect(await b.until(() => b.frames.some((f) => f?.type === 'event'), 5_000)).toBe(true);
  expect(b.frames.find((f) => f?.type === 'event')).toMatchObject({ event: { type: 'peerMessage', peerId: 'alive-a', message: { messageType: 'TEXT', text: 'still here' } } });
  await Promise.all([closeSocket(a), closeSocket(b)]);
};

/** Answered: a `result` or `error` frame with this `id` arrived. */
const answeredTo = (socket: Socket, id: number): boolean => socket.frames.some((f) => (f?.type === 'result' || f?.type === 'error') && f.id === id);

/** One hostile login on a fresh socket: what is wrong with how the server took it. */
const tryHello = async (h: HelloCase): Promise<Violation[]> => {
  const child = await up();
  const resuming = h.resume !== undefined && 'known' in h.resume && lastLogin !== undefined;
  const ctx = { ...newContext(resuming ? (lastLogin?.user as string) : nextUser(), '', media.get(child) as string), lastSession: lastLogin?.sessionId };
  const since = mark(child);
  const socket = await open(child.wsUrl);
  const hello = helloJson(h, ctx);
  socket.ws.send(hello);
  framesSent++;
  const oversized = Buffer.byteLength(hello) > WS_MAX_FRAME;
  const settled = await socket.until(() => socket.closed !== undefined || socket.frames.some((f) => f?.type === 'welcome'), 2_000);
  const welcome = socket.frames.find((f) => f?.type === 'welcome') as { sessionId?: unknown } | undefined;
  if (typeof welcome?.sessionId === 'string') lastLogin = { user: ctx.user, sessionId: welcome.sessionId };
  if (exploring) {
    const refusal = socket.frames.find((f) => f?.type === 'error');
    const key = `hello → ${welcome ? `welcome resumed=${String((welcome as { resumed?: unknown }).resumed)}` : `${String(refusal?.failure?._tag)}, close ${String(socket.closed?.code)}`}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  // A crash first: it explains the rest.
  const violations = await judgeRun(child, socket, since, oversized ? [1009] : [1008, 4001]);
  if (!settled) violations.push({ kind: 'hello neither answered nor refused within 2 s', detail: clip(JSON.stringify(socket.frames)) });
  if (socket.closed && !oversized && !socket.frames.some((f) => f?.type === 'error')) violations.push({ kind: 'login refused without an error frame', detail: `close ${socket.closed.code}` });
  await closeSocket(socket);
  return violations;
};

/** A valid login, then `frames`: what is wrong with how the server took them. */
const tryFrames = async (frames: readonly Frame[], batch: boolean): Promise<Violation[]> => {
  const child = await up();
  const user = nextUser();
  const since = mark(child);
  const socket = await open(child.wsUrl);
  socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: user, token: tokenFor(user), batch }));
  await socket.until(() => socket.frames.some((f) => f?.type === 'welcome') || socket.closed !== undefined, 5_000);
  // An upload of this user for the frames to point at.
  socket.ws.send(JSON.stringify({ type: 'call', id: 0, op: 'createUpload', size: 100, fileName: 'fuzz.bin' }));
  await socket.until(() => answeredTo(socket, 0) || socket.closed !== undefined, 5_000);
  const created = socket.frames.find((f) => f?.type === 'result' && f.id === 0) as { value?: { uploadId?: string } } | undefined;
  const ctx = newContext(user, created?.value?.uploadId ?? 'none', media.get(child) as string);
  socket.frames.length = 0;
  for (const frame of frames) {
    const message = messageOf(frame, ctx);
    if (Buffer.byteLength(message) > WS_MAX_FRAME) ctx.mayClose ??= 'a frame over the limit';
    else if (typeof message === 'string') oblige(message, ctx);
    socket.ws.send(message);
    framesSent++;
    framesAfterHello++;
  }
  // Stop any transfer left waiting for data or credit: its call is then answered (Interrupted).
  for (let transfer = 1; transfer <= ctx.lastTransfer; transfer++) socket.ws.send(JSON.stringify({ type: 'cancel', transfer }));
  // The pong comes after every answer the server gives in the same turn; stragglers (store calls) get ANSWER_MS more.
  socket.ws.send(JSON.stringify({ type: 'ping' }));
  await socket.until(() => socket.closed !== undefined || socket.frames.some((f) => f?.type === 'pong'), 5_000);
  await socket.until(() => socket.closed !== undefined || [...ctx.expected.keys()].every((id) => answeredTo(socket, id)), ANSWER_MS);
  if (exploring) {
    for (const [id, op] of ctx.expected) {
      const got = socket.frames.find((f) => (f?.type === 'result' || f?.type === 'error') && f.id === id);
      const key = `${clip(op, 20)} → ${got ? (got.type === 'result' ? 'result' : String(got.failure?._tag)) : 'none'}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  }
  const violations: Violation[] = [];
  // A socket the server closed is judged by its close code below; its calls cannot be answered any more.
  if (!socket.closed) {
    for (const [id, op] of ctx.expected) {
      if (answeredTo(socket, id)) continue;
      const why = (OPS as readonly string[]).includes(op) ? `op ${op}` : 'an unknown op';
      violations.push({ kind: `call with a valid id not answered with it (${why})`, detail: `id ${id}; got ${clip(JSON.stringify(socket.frames), 300)}` });
    }
  }
  const allowed = ctx.mayClose === 'logout' ? [1000, 4000] : ctx.mayClose ? [1009] : [];
  violations.push(...(await judgeRun(child, socket, since, allowed)));
  await closeSocket(socket);
  return violations;
};

describe('the WebSocket endpoint under generated frames', () => {
  beforeAll(async () => {
    await up();
  }, 30_000);
  afterAll(async () => {
    if (exploring) {
      console.log(`WS fuzz, hellos: ${server.restarts} restarts so far\n${helloResults.report() || '(no failure)'}`);
      console.log(`WS fuzz, frames: ${framesSent} frames\n${frameResults.report() || '(no failure)'}`);
      console.log([...seen.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × ${k}`).join('\n'));
    }
    await server.stop();
  });

  it(
    'answers every hostile hello with a welcome or a refusal that is not Unknown, and stays up',
    async () => {
      await fc.assert(
        fc.asyncProperty(helloArb, async (h) => helloResults.judge(await tryHello(h), showHello(h))),
        { ...fcOptions(HELLO_RUNS), interruptAfterTimeLimit: exploring ? 600_000 : 40_000, markInterruptAsFailure: true },
      );
      expect(server.restarts).toBe(0);
    },
    exploring ? 700_000 : 90_000,
  );

  it(
    'answers every call that has an id with that id, never with Unknown, after any frames, and still relays a message',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 10 }), fc.boolean(), async (frames, batch) =>
          frameResults.judge(await tryFrames(frames, batch), `batch=${batch} ${frames.map(showFrame).join(' ; ')}`),
        ),
        { ...fcOptions(FRAME_RUNS), interruptAfterTimeLimit: exploring ? 600_000 : 50_000, markInterruptAsFailure: true },
      );
      expect(framesAfterHello).toBeGreaterThanOrEqual(1_000);
      await stillServing(await up());
      expect(server.restarts).toBe(0);
    },
    exploring ? 700_000 : 120_000,
  );
});

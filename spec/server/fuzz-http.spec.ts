/**
 * Fuzzing the HTTP server (issue 12, "Verification"): generated requests, a share of them malformed at
 * the byte level, each written on its own raw connection to the real server running in a child process.
 * Every request must be answered (a 400 from Node's parser is an answer) with a status under 500 and,
 * for a JSON error, a failure other than `Unknown`; the server must not exit nor log a fault; and a plain
 * upload, download and message still work afterwards. A failing run prints its request in one line.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcOptions } from '../properties/support.js';
import {
  type Child,
  clip,
  crashCause,
  describeHostile,
  exchange,
  exitsWithin,
  exploring,
  faultsLogged,
  foreignToken,
  mark,
  type Mark,
  type Hostile,
  type HttpOutcome,
  jsonOf,
  survey,
  tail,
  target,
  tokenFor,
  type Violation,
} from './fuzz-support.js';

/** Requests per run of the property: 1,100 in all, a quarter of them malformed below HTTP. */
const RUNS = 1_100;
const TIMEOUT_MS = 5_000;

// ---- what a request is made of, as data ---------------------------------------------------------------

/** IDs that exist on the server under attack, filled in at send time. */
type Known = 'upload' | 'media' | 'session' | 'otherUpload';
type Text = string | { readonly repeat: string; readonly times: number } | { readonly known: Known };
type Auth = 'owner' | 'other' | 'expired' | 'foreign' | 'none' | { readonly raw: Text };
type Body =
  | { readonly none: true }
  | { readonly bytes: number }
  | { readonly json: Hostile }
  | { readonly raw: string };
/** Damage below HTTP semantics: the request line, header syntax, framing. */
type Malform =
  | 'lf-only'
  | 'no-version'
  | 'bad-version'
  | 'http10'
  | 'no-host'
  | 'header-no-colon'
  | 'header-space-before-colon'
  | 'header-bad-name'
  | 'header-nul'
  | 'obs-fold'
  | 'huge-header'
  | 'cl-and-te'
  | 'two-cl'
  | 'bad-cl'
  | 'short-body'
  | 'long-body'
  | 'bad-chunk'
  | 'absolute-form'
  | 'asterisk'
  | 'raw-utf8-path'
  | 'bad-upgrade';

interface Req {
  readonly method: string;
  readonly prefix: string;
  readonly segments: readonly Text[];
  readonly query: string;
  readonly auth: Auth;
  readonly headers: readonly (readonly [string, Text])[];
  readonly body: Body;
  readonly chunked: boolean;
  readonly malform: Malform | undefined;
}

// ---- generators -------------------------------------------------------------------------------------

const METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'];
const ODD_METHODS = ['TRACE', 'CONNECT', 'PROPFIND', 'M-SEARCH', 'QUERY', 'PURGE', 'get', 'Patch', 'FOO', 'G\u00c9T', ''];
const methodArb = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) });

const prefixArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/v1/uploads', '/v1/media', '/v1/sessions') },
  { weight: 1, arbitrary: fc.constantFrom('/', '/v1', '/v1/', '/v1/ws', '/v1/uploadsX', '//v1/media', '/v1/./media', '/v1/media/..', '/V1/MEDIA', '/v1/%6Dedia') },
);

const longRun = (alphabet: readonly string[], lengths: readonly number[]) =>
  fc.record({ repeat: fc.constantFrom(...alphabet), times: fc.constantFrom(...lengths) });

const segmentArb: fc.Arbitrary<Text> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ known: fc.constantFrom<Known>('upload', 'media', 'session', 'otherUpload') }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('events', 'peers', 'channels', 'messages', 'members', 'token', 'owner', 'other', 'general', 'room-1', 'presence', 'subscribe', 'channel-member-counts'),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'AAAAAAAAAAAAAAAAAAAAAA',
      'short',
      '',
      '.',
      '..',
      '%',
      '%zz',
      '%E0%A4%A',
      '%00',
      '%2F',
      '..%2F..%2Fsecret',
      '%C0%AF',
      '%FF%FE',
      '%25',
      'a%20b',
      '%C3%A9',
      '%F0%9F%98%80',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      '-1',
      '1e400',
    ),
  },
  { weight: 1, arbitrary: longRun(['A', 'a', '%41', '%', '/'], [65, 1_000, 5_000, 20_000]) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~%!$&\'()*+,;=:@'), maxLength: 30 }) },
);

const countArb: fc.Arbitrary<Text> = fc.oneof(
  fc.constantFrom('0', '1', '5', '10', '100', '31457280', '31457281', '-1', '+5', '1e3', '0x10', '5.0', '5 5', '5,5', '', 'abc', 'NaN', 'Infinity', '00000000000000000005'),
  fc.constantFrom('9007199254740993', '18446744073709551616', '99999999999999999999'),
  longRun(['9', '0'], [400, 5_000]),
  fc.nat({ max: 200 }).map(String),
);

const RANGES = [
  'bytes=0-99',
  'bytes=0-0',
  'bytes=5-',
  'bytes=-5',
  'bytes=-0',
  'bytes=-',
  'bytes=',
  'bytes=5-2',
  'bytes=0-0,1-1',
  'bytes=0-1, 5-',
  'bytes=99999999999999999999-',
  'bytes=-99999999999999999999',
  'bytes=0-99999999999999999999',
  'items=0-1',
  'bytes=a-b',
  'bytes= 0 - 1',
  'bytes=0-1-2',
  '=',
  'bytes=1e3-',
  'bytes=0x10-',
  'bytes=-1-',
  'bytes==0-1',
  'BYTES=0-1',
  'bytes=\u00bd-',
];
const rangeArb: fc.Arbitrary<Text> = fc.oneof(fc.constantFrom(...RANGES), longRun(['bytes=0-0,', '9'], [100, 2_000]));

const headerArb: fc.Arbitrary<readonly [string, Text]> = fc.oneof(
  fc.tuple(fc.constantFrom('Tus-Resumable'), fc.constantFrom('1.0.0', '1.0.0', '0.2.2', '', '1.0.0, 1.0.0', '1.0.0 ; drop table')),
  fc.tuple(fc.constantFrom('Upload-Length', 'Upload-Offset', 'Content-Length-Ignored', 'Upload-Defer-Length'), countArb),
  fc.tuple(fc.constantFrom('Range'), rangeArb),
  fc.tuple(fc.constantFrom('If-Range', 'If-None-Match'), fc.constantFrom('"abc"', '*', 'W/"x"', '', 'Wed, 21 Oct 2015 07:28:00 GMT', '"' + 'a'.repeat(64) + '"')),
  fc.tuple(
    fc.constantFrom('Content-Type'),
    fc.constantFrom('application/offset+octet-stream', 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', '', ';', 'application/offset+octet-stream; x=1', 'multipart/form-data; boundary=x'),
  ),
  fc.tuple(fc.constantFrom('X-HTTP-Method-Override'), fc.constantFrom('PATCH', 'DELETE', 'HEAD', 'GET', 'OPTIONS', 'POST', 'FOO', '', 'constructor', '__proto__', 'patch')),
  fc.tuple(fc.constantFrom('Last-Event-ID'), fc.oneof(countArb, fc.constantFrom('1e400', '-5', 'abc', '0', '7'))),
  fc.tuple(fc.constantFrom('Ferry-Session'), fc.oneof(fc.record({ known: fc.constant<Known>('session') }), fc.constantFrom('', 'nope', 'AAAAAAAAAAAAAAAAAAAAAA'), longRun(['s'], [5_000]))),
  fc.tuple(fc.constantFrom('Upload-Metadata'), fc.constantFrom('filename aGVsbG8=', 'filename', ',,', 'filename not*base64', 'filename //79', 'a b,a c', 'filename Li4vLi4vZXRjL3Bhc3N3ZA==')),
  fc.tuple(fc.constantFrom('Expect'), fc.constantFrom('100-continue', '100-continue', '100-continue', 'nonsense')),
  fc.tuple(fc.constantFrom('Accept', 'Origin', 'Cookie', 'X-Forwarded-For'), fc.constantFrom('*/*', 'null', 'a=b', '1.2.3.4')),
);

const authArb: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Auth>('owner', 'other') },
  { weight: 2, arbitrary: fc.constantFrom<Auth>('expired', 'foreign', 'none') },
  {
    weight: 2,
    arbitrary: fc.record({
      raw: fc.oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'Basic YWxpY2U6cHc=', 'Bearer a.b', 'Bearer a.b.c', 'Bearer ..', 'bearer x', 'Bearer e30.AAAA', 'Bearer \u00e9'),
        longRun(['A', '.'], [1_100, 8_000]),
      ),
    }),
  },
);

/** JSON values a body or field may hold: valid shapes, wrong shapes, and the hostile ones. */
const hostileArb: fc.Arbitrary<Hostile> = fc.oneof(
  fc.record({ nest: fc.constantFrom(1, 2, 100, 1_000, 5_000, 30_000), of: fc.constantFrom<'array' | 'object'>('array', 'object') }),
  fc.record({ repeat: fc.constantFrom('a', '\u00e9', '\u{1F600}', '\\', '"', '\u0000'), times: fc.constantFrom(65, 1_000, 33_000, 70_000) }),
  fc.record({ text: fc.constantFrom('1e400', '-0', '-1', '1.5', '9007199254740993', 'true', 'null', '"NaN"', '"Infinity"', '{', '[', '', 'undefined', '"\\ud800"', '{"__proto__":{"x":1}}') }),
  fc.record({
    json: fc.oneof(
      fc.constantFrom({ userId: 'owner' }, { userId: 'other' }, { userId: ['owner'] }, { userId: null }, {}, [], 'owner', 0, { messageType: 'TEXT', text: 'hi' }),
      fc.constantFrom(
        { messageType: 'TEXT', text: ['x'] },
        { messageType: 'RAW', rawMessage: '!!!' },
        { messageType: 'FILE', mediaId: 'AAAAAAAAAAAAAAAAAAAAAA', size: -1 },
        { messageType: 'IMAGE', mediaId: 'AAAAAAAAAAAAAAAAAAAAAA', width: 1e308, height: 'x' },
        { messageType: 'NOPE' },
        { messageType: { toString: 1 } },
        { constructor: { prototype: 1 } },
      ),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  }),
);

/** A JSON body around a hostile value, sometimes in the place the server looks. */
const jsonBodyArb: fc.Arbitrary<Hostile> = fc.oneof(
  hostileArb,
  hostileArb.map((h): Hostile => ({ text: `{"userId":${jsonOf(h)}}` })),
  hostileArb.map((h): Hostile => ({ text: `{"messageType":"TEXT","text":${jsonOf(h)}}` })),
  hostileArb.map((h): Hostile => ({ text: `{"messageType":"FILE","mediaId":${jsonOf(h)},"size":${jsonOf(h)}}` })),
  hostileArb.map((h): Hostile => ({ text: `{"peerIds":${jsonOf(h)},"channelIds":${jsonOf(h)}}` })),
);

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Body>({ none: true }) },
  { weight: 2, arbitrary: fc.record({ bytes: fc.constantFrom(1, 5, 10, 100, 70_000) }) },
  { weight: 4, arbitrary: fc.record({ json: jsonBodyArb }) },
  { weight: 1, arbitrary: fc.record({ raw: fc.constantFrom('\u0000\u0001\u0002', '\uFFFD\uFFFE', 'not json', '{"a":', '\r\n\r\nGET / HTTP/1.1\r\n\r\n') }) },
);

const MALFORMS: readonly Malform[] = [
  'lf-only',
  'no-version',
  'bad-version',
  'http10',
  'no-host',
  'header-no-colon',
  'header-space-before-colon',
  'header-bad-name',
  'header-nul',
  'obs-fold',
  'huge-header',
  'cl-and-te',
  'two-cl',
  'bad-cl',
  'short-body',
  'long-body',
  'bad-chunk',
  'absolute-form',
  'asterisk',
  'raw-utf8-path',
  'bad-upgrade',
];

/** Damage in one request of `every` (more would mostly test Node's parser). */
const malformArb = (every: number): fc.Arbitrary<Malform | undefined> =>
  fc.oneof({ weight: every - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...MALFORMS) });

const queryArb = fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('?', '?a=1', '?token=x', '?%zz', '?' + 'q'.repeat(3_000)) });

/** Any request: each part drawn on its own. */
const anyRequestArb: fc.Arbitrary<Req> = fc.record({
  method: methodArb,
  prefix: prefixArb,
  segments: fc.array(segmentArb, { maxLength: 5 }),
  query: queryArb,
  auth: authArb,
  headers: fc.array(headerArb, { maxLength: 6 }),
  body: bodyArb,
  chunked: fc.constant(false),
  malform: malformArb(4),
});

/** The requests the server serves, with one or more parts made hostile: reaches deeper than random ones. */
const templateArb: fc.Arbitrary<Req> = fc
  .record({
    template: fc.constantFrom(
      ['POST', '/v1/uploads', [], [['Tus-Resumable', '1.0.0'], ['Upload-Length', '10']]],
      ['POST', '/v1/uploads', [], [['Tus-Resumable', '1.0.0'], ['Upload-Length', '10'], ['Content-Type', 'application/offset+octet-stream']]],
      ['PATCH', '/v1/uploads', [{ known: 'upload' }], [['Tus-Resumable', '1.0.0'], ['Upload-Offset', '0'], ['Content-Type', 'application/offset+octet-stream']]],
      ['HEAD', '/v1/uploads', [{ known: 'upload' }], [['Tus-Resumable', '1.0.0']]],
      ['DELETE', '/v1/uploads', [{ known: 'otherUpload' }], [['Tus-Resumable', '1.0.0']]],
      ['GET', '/v1/media', [{ known: 'media' }], [['Range', 'bytes=0-4']]],
      ['HEAD', '/v1/media', [{ known: 'media' }], []],
      ['POST', '/v1/sessions', [], [['Content-Type', 'application/json']]],
      ['GET', '/v1/sessions', [{ known: 'session' }, 'events'], [['Last-Event-ID', '0']]],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'peers', 'owner', 'messages'], [['Content-Type', 'application/json']]],
      ['PUT', '/v1/sessions', [{ known: 'session' }, 'channels', 'general'], []],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'channels', 'general', 'messages'], [['Content-Type', 'application/json']]],
      ['GET', '/v1/sessions', [{ known: 'session' }, 'channels', 'general', 'members'], []],
      ['DELETE', '/v1/sessions', [{ known: 'session' }, 'channels', 'general'], []],
      ['PUT', '/v1/sessions', [{ known: 'session' }, 'token'], []],
      ['DELETE', '/v1/sessions', [{ known: 'session' }], []],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'channel-member-counts'], [['Content-Type', 'application/json']]],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'presence'], [['Content-Type', 'application/json']]],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'presence', 'subscribe'], [['Content-Type', 'application/json']]],
      ['POST', '/v1/sessions', [{ known: 'session' }, 'presence', 'unsubscribe'], [['Content-Type', 'application/json']]],
    ) as fc.Arbitrary<readonly [string, string, readonly Text[], readonly (readonly [string, Text])[]]>,
    segment: fc.option(fc.tuple(fc.nat({ max: 3 }), segmentArb), { nil: undefined }),
    extra: fc.array(headerArb, { maxLength: 3 }),
    auth: fc.oneof({ weight: 5, arbitrary: fc.constant<Auth>('owner') }, { weight: 1, arbitrary: authArb }),
    body: bodyArb,
    malform: malformArb(6),
  })
  .map(({ template: [method, prefix, segments, headers], segment, extra, auth, body, malform }): Req => {
    const segs = [...segments];
    if (segment) segs[Math.min(segment[0], segs.length)] = segment[1];
    return { method, prefix, segments: segs, query: '', auth, headers: [...headers, ...extra], body, chunked: false, malform };
  });

/** Half random, half templates; one in eight with a body sends it chunked. */
const requestArb: fc.Arbitrary<Req> = fc
  .tuple(fc.oneof(anyRequestArb, templateArb), fc.integer({ min: 0, max: 7 }))
  .map(([req, dice]) => (dice === 0 && !('none' in req.body) ? { ...req, chunked: true } : req));

// ---- turning a request into bytes -----------------------------------------------------------------------

interface KnownIds {
  readonly upload: string;
  readonly otherUpload: string;
  readonly media: string;
  readonly session: string;
}

const textOf = (text: Text, known: KnownIds): string =>
  typeof text === 'string' ? text : 'known' in text ? known[text.known] : text.repeat.repeat(text.times);

const showText = (text: Text): string => (typeof text === 'string' ? JSON.stringify(text) : 'known' in text ? `<${text.known}>` : `${JSON.stringify(text.repeat)}×${text.times}`);

const bodyBytes = (body: Body): Buffer =>
  'none' in body
    ? Buffer.alloc(0)
    : 'bytes' in body
      ? Buffer.alloc(body.bytes, 7)
      : 'json' in body
        ? Buffer.from(jsonOf(body.json))
        : Buffer.from(body.raw);

const authHeader = (auth: Auth, known: KnownIds): string | undefined => {
  if (auth === 'none') return undefined;
  if (auth === 'owner' || auth === 'other') return `Bearer ${tokenFor(auth)}`;
  if (auth === 'expired') return `Bearer ${tokenFor('owner', true)}`;
  if (auth === 'foreign') return `Bearer ${foreignToken('owner')}`;
  return textOf(auth.raw, known);
};

/** The bytes of a request, and whether the server may legitimately wait for more of them. */
const render = (req: Req, authority: string, known: KnownIds): { readonly bytes: Buffer; readonly mayHang: boolean } => {
  const m = req.malform;
  const path = `${req.prefix}${req.segments.map((s) => `/${textOf(s, known)}`).join('')}${req.query}`;
  const target = m === 'absolute-form' ? `http://${authority}${path}` : m === 'asterisk' ? '*' : m === 'raw-utf8-path' ? `${path}/\u00e9\u{1F600}` : path;
  const version = m === 'no-version' ? '' : m === 'bad-version' ? ' HTTP/9.9' : m === 'http10' ? ' HTTP/1.0' : ' HTTP/1.1';
  const body = bodyBytes(req.body);
  const lines = [`${req.method} ${target}${version}`];
  if (m !== 'no-host' && m !== 'http10') lines.push(`Host: ${authority}`);
  // A WebSocket upgrade whose key is malformed: refused on any path (a good key would switch protocols).
  if (m === 'bad-upgrade') lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: not-a-key');
  else lines.push('Connection: close');
  const auth = authHeader(req.auth, known);
  if (auth !== undefined) lines.push(`Authorization: ${auth}`);
  for (const [name, value] of req.headers) lines.push(`${name}: ${textOf(value, known)}`);
  if (m === 'header-no-colon') lines.push('Upload-Length 5');
  if (m === 'header-space-before-colon') lines.push('Upload-Length : 5');
  if (m === 'header-bad-name') lines.push('Up(lo)ad: 5');
  if (m === 'header-nul') lines.push('X-Fuzz: a\u0000b');
  if (m === 'obs-fold') lines.push('X-Fuzz: a', ' folded');
  if (m === 'huge-header') lines.push(`X-Fuzz: ${'a'.repeat(20_000)}`);
  let payload = body;
  let mayHang = false;
  if (req.chunked || m === 'cl-and-te' || m === 'bad-chunk') {
    lines.push('Transfer-Encoding: chunked');
    if (m === 'cl-and-te') lines.push(`Content-Length: ${body.length}`);
    payload = m === 'bad-chunk' ? Buffer.from('zz\r\nabc\r\n0\r\n\r\n') : Buffer.concat([body.length > 0 ? Buffer.from(`${body.length.toString(16)}\r\n`) : Buffer.alloc(0), body, Buffer.from(body.length > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n')]);
  } else if (m === 'two-cl') lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
  else if (m === 'bad-cl') lines.push('Content-Length: -1');
  else if (m === 'short-body') {
    lines.push(`Content-Length: ${body.length + 10}`);
    mayHang = true;
  } else if (body.length > 0 || ['POST', 'PATCH', 'PUT'].includes(req.method)) lines.push(`Content-Length: ${body.length}`);
  if (m === 'long-body') payload = Buffer.concat([body, Buffer.from('GARBAGE\r\n\r\n')]);
  const eol = m === 'lf-only' ? '\n' : '\r\n';
  return { bytes: Buffer.concat([Buffer.from(`${lines.join(eol)}${eol}${eol}`, 'utf8'), payload]), mayHang };
};

/** A request in one line, for a failure message. */
const show = (req: Req): string => {
  const body = 'none' in req.body ? '' : 'bytes' in req.body ? ` body=${req.body.bytes} bytes` : 'json' in req.body ? ` body=${describeHostile(req.body.json)}` : ` body=${clip(JSON.stringify(req.body.raw))}`;
  const auth = typeof req.auth === 'string' ? req.auth : `raw ${showText(req.auth.raw)}`;
  return [
    `${JSON.stringify(req.method)} ${req.prefix}${req.segments.map((s) => `/${showText(s)}`).join('')}${clip(req.query, 40)}`,
    `auth=${auth}`,
    ...req.headers.map(([n, v]) => `${n}: ${clip(showText(v), 80)}`),
    ...(req.chunked ? ['chunked'] : []),
    ...(req.malform ? [`malform=${req.malform}`] : []),
  ].join(' | ') + body;
};

// ---- the server under attack ------------------------------------------------------------------------------

const server = target();
const known = new WeakMap<Child, KnownIds>();
const results = survey();
let sent = 0;
/** Answers by status and failure, printed when exploring: shows how deep the generated requests reach. */
const seen = new Map<string, number>();

const send = (child: Child, text: string, body: Buffer = Buffer.alloc(0)): Promise<HttpOutcome> => {
  const authority = new URL(child.url).host;
  const head = text.replace('{host}', authority).split('\n').join('\r\n');
  return exchange(child.url, Buffer.concat([Buffer.from(`${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]), { isHead: text.startsWith('HEAD'), timeoutMs: 5_000 });
};

const answer = (outcome: HttpOutcome, status: number, what: string): Extract<HttpOutcome, { kind: 'answer' }> => {
  if (outcome.kind !== 'answer' || outcome.status !== status) throw new Error(`${what}: expected ${status}, got ${JSON.stringify(outcome).slice(0, 400)}`);
  return outcome;
};

const createUpload = async (child: Child, user: string, bytes: Buffer | undefined, length = 10): Promise<string> => {
  const created = answer(
    await send(
      child,
      `POST /v1/uploads HTTP/1.1\nHost: {host}\nAuthorization: Bearer ${tokenFor(user)}\nTus-Resumable: 1.0.0\nUpload-Length: ${length}${bytes ? '\nContent-Type: application/offset+octet-stream' : ''}`,
      bytes,
    ),
    201,
    'create an upload',
  );
  const id = created.headers['location']?.split('/').pop();
  if (!id) throw new Error('no Location');
  return id;
};

const openSession = async (child: Child, user: string): Promise<string> => {
  const opened = answer(
    await send(child, `POST /v1/sessions HTTP/1.1\nHost: {host}\nAuthorization: Bearer ${tokenFor(user)}\nContent-Type: application/json`, Buffer.from(JSON.stringify({ userId: user }))),
    201,
    'open a session',
  );
  return (JSON.parse(opened.body.toString('utf8')) as { sessionId: string }).sessionId;
};

/** Runs since the IDs were made: they are made again every {@link REFRESH} runs, as requests delete them. */
let runsSinceSetup = 0;
const REFRESH = 100;
/** Set when the known session answered 401 to its owner (a fuzzed logout or login ended it): opened again. */
let sessionEnded = false;

/** The server, started (again) with the IDs the generated requests may point at. */
const up = async (): Promise<Child> => {
  const child = await server.up();
  const before = known.get(child);
  if (!before) {
    known.set(child, {
      upload: await createUpload(child, 'owner', undefined, 100),
      otherUpload: await createUpload(child, 'other', undefined, 100),
      media: await createUpload(child, 'owner', Buffer.from('0123456789')),
      session: await openSession(child, 'owner'),
    });
  } else if (++runsSinceSetup >= REFRESH) {
    // The fuzzed requests may have used up a limit meanwhile (uploads, logins per second): keep what fails.
    runsSinceSetup = 0;
    const or = async (make: () => Promise<string>, old: string): Promise<string> => make().catch(() => old);
    known.set(child, {
      upload: await or(() => createUpload(child, 'owner', undefined, 100), before.upload),
      otherUpload: await or(() => createUpload(child, 'other', undefined, 100), before.otherUpload),
      media: await or(() => createUpload(child, 'owner', Buffer.from('0123456789')), before.media),
      session: await or(() => openSession(child, 'owner'), before.session),
    });
  } else if (sessionEnded) {
    known.set(child, { ...before, session: await openSession(child, 'owner').catch(() => before.session) });
  }
  sessionEnded = false;
  return child;
};

/** A plain round trip: upload, download, a session and a message to oneself. */
const stillServing = async (child: Child): Promise<void> => {
  const bytes = Buffer.from('still serving');
  const mediaId = await createUpload(child, 'checker', bytes, bytes.length);
  const got = answer(await send(child, `GET /v1/media/${mediaId} HTTP/1.1\nHost: {host}\nAuthorization: Bearer ${tokenFor('checker')}`), 200, 'download');
  expect(got.body).toEqual(bytes);
  const session = await openSession(child, 'checker');
  const sentTo = answer(
    await send(
      child,
      `POST /v1/sessions/${session}/peers/checker/messages HTTP/1.1\nHost: {host}\nAuthorization: Bearer ${tokenFor('checker')}\nContent-Type: application/json`,
      Buffer.from(JSON.stringify({ messageType: 'TEXT', text: 'hi' })),
    ),
    200,
    'message to oneself',
  );
  expect(JSON.parse(sentTo.body.toString('utf8'))).toHaveProperty('serverReceivedTs');
};

/** What is wrong with the way the server took one request. */
/**
 * Above this many bytes, a request refused before its body is read leaves bytes unread at the server
 * (Node reads ahead 16 KiB into the request stream), so its close is a reset.
 */
const UNREAD_BYTES = 16 * 1024;

const judge = async (child: Child, req: Req, outcome: HttpOutcome, mayHang: boolean, since: Mark, sentBytes: number): Promise<Violation[]> => {
  const violations: Violation[] = [];
  if (outcome.kind === 'answer') {
    const { status, headers, body } = outcome;
    // HEAD answers carry the failure in a header only.
    const carried = headers['ferry-failure'];
    const json =
      headers['content-type']?.startsWith('application/json') && body.length > 0
        ? parseJson(body)
        : carried !== undefined
          ? { failure: parseJson(Buffer.from(safeDecode(carried))) as { _tag?: unknown }, message: '(in Ferry-Failure)' }
          : undefined;
    const tag = json?.failure?._tag;
    const key = `${status} ${String(tag ?? '')}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (status >= 500) violations.push({ kind: `5xx ${status} ${String(tag ?? '')}`.trim(), detail: clip(body.toString('utf8')) });
    if (tag === 'Unknown') violations.push({ kind: `Unknown failure (${status})`, detail: clip(String(json?.message ?? '')) });
    if (status >= 400 && json !== undefined && (typeof tag !== 'string' || typeof json.message !== 'string')) {
      violations.push({ kind: 'error body without failure._tag and message', detail: clip(body.toString('utf8')) });
    }
    if (status >= 400 && headers['content-type']?.startsWith('application/json') && headers['x-content-type-options'] !== 'nosniff') {
      violations.push({ kind: 'JSON error without X-Content-Type-Options: nosniff (defect 6)', detail: `${status} ${String(tag ?? '')}` });
    }
  }
  else {
    const key = outcome.kind === 'closed' && outcome.reset ? 'reset' : outcome.kind;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const exit = await exitsWithin(child, outcome.kind === 'answer' ? 0 : 300);
  if (exit) violations.push({ kind: `server process exited (${crashCause(child)})`, detail: `code ${String(exit.code)} signal ${String(exit.signal)}; stderr ${tail(child.stderr)}` });
  else if (outcome.kind === 'closed' && req.method !== 'CONNECT' && !(outcome.reset && sentBytes > UNREAD_BYTES)) {
    // Node drops CONNECT when nobody listens for it (no 'connect' handler): not ferry's answer to give. An
    // answer lost to a reset after a large request is Node's missing lingering close (see `exchange`):
    // counted in the survey, not failed, as it depends on timing.
    violations.push({ kind: 'connection closed without an answer', detail: outcome.received });
  } else if (outcome.kind === 'timeout' && !mayHang) violations.push({ kind: `no answer within ${TIMEOUT_MS} ms`, detail: outcome.received });
  const logged = faultsLogged(child, since);
  if (logged.trim() !== '' && !exit) violations.push({ kind: 'server logged a fault', detail: clip(logged, 300) });
  return violations;
};

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

const parseJson = (body: Buffer): { failure?: { _tag?: unknown }; message?: unknown } | undefined => {
  try {
    return JSON.parse(body.toString('utf8')) as { failure?: { _tag?: unknown }; message?: unknown };
  } catch {
    return { message: undefined };
  }
};

describe('the HTTP server under generated requests', () => {
  beforeAll(async () => {
    await up();
  }, 30_000);
  afterAll(async () => {
    if (exploring) console.log(`HTTP fuzz: ${sent} requests, ${server.restarts} restarts after a crash\n${results.report() || '(no failure)'}`);
    if (exploring) console.log([...seen.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × ${k}`).join('\n'));
    await server.stop();
  });

  it(
    'answers every request under 500 without an Unknown failure, stays up, and still serves a plain round trip',
    async () => {
      await fc.assert(
        fc.asyncProperty(requestArb, async (req) => {
          const child = await up();
          const ids = known.get(child) as KnownIds;
          const { bytes, mayHang } = render(req, new URL(child.url).host, ids);
          const since = mark(child);
          sent++;
          const outcome = await exchange(child.url, bytes, { isHead: req.method === 'HEAD', timeoutMs: TIMEOUT_MS });
          sessionEnded ||= outcome.kind === 'answer' && outcome.status === 401 && req.auth === 'owner' && req.segments.some((seg) => typeof seg === 'object' && 'known' in seg && seg.known === 'session');
          results.judge(await judge(child, req, outcome, mayHang, since, bytes.length), show(req));
        }),
        { ...fcOptions(RUNS), interruptAfterTimeLimit: exploring ? 600_000 : 50_000, markInterruptAsFailure: true },
      );
      expect(sent).toBeGreaterThanOrEqual(1_000);
      await stillServing(await up());
      expect(server.restarts).toBe(0);
    },
    exploring ? 700_000 : 120_000,
  );
});

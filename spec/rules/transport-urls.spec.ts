/**
 * The `url` option of the HTTP and WebSocket transports (decision 96): one URL, or the nodes of a
 * cluster. Anything else is refused when the transport is made, with `ClientError` 2 naming `url` and
 * saying what is wrong, as `createClient` refuses its own bad options.
 */
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import { wsTransport } from '../../transports/ws.js';

/** What `make` throws, or `undefined`. */
const thrown = (make: () => unknown): unknown => {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
};

/** Expects `make` to throw `ClientError` 2 about `url`, its detail matching `detail`. */
const refuses = (make: () => unknown, detail: RegExp): void => {
  const error = thrown(make);
  expect(error).toBeInstanceOf(ClientError);
  expect(error).toMatchObject({ name: 'ClientError', code: 2, failure: { _tag: 'InvalidArgument', argument: 'url' } });
  expect((error as ClientError & { failure: { detail: string } }).failure.detail).toMatch(detail);
};

describe('the url option of httpTransport', () => {
  it('takes one URL, as before, or a list of the nodes of a cluster', () => {
    expect(thrown(() => httpTransport({ url: 'http://127.0.0.1:8080' }))).toBeUndefined();
    expect(thrown(() => httpTransport({ url: 'https://ferry.example/base/' }))).toBeUndefined();
    expect(thrown(() => httpTransport({ url: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'https://10.0.0.3'] }))).toBeUndefined();
  });

  it('refuses an empty list', () => {
    refuses(() => httpTransport({ url: [] }), /at least one URL/);
  });

  it.each([
    ['a WebSocket URL', 'ws://127.0.0.1:8080/v1/ws', /not a http or https URL/],
    ['another scheme', 'ftp://127.0.0.1/', /not a http or https URL/],
    ['a relative path', '/v1', /not an absolute URL/],
    ['no URL at all', 'localhost 8080', /not an absolute URL/],
  ])('refuses %s, alone or in a list, naming its place', (_, url, detail) => {
    refuses(() => httpTransport({ url }), new RegExp(`^"${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is ${detail.source}`));
    refuses(() => httpTransport({ url: ['http://127.0.0.1:8080', url] }), new RegExp(`^url\\[1\\]: .*${detail.source}`));
  });

  it('refuses what is not a string', () => {
    refuses(() => httpTransport({ url: ['http://127.0.0.1:8080', 8080 as unknown as string] }), /url\[1\]: expected a URL string/);
    refuses(() => httpTransport({ url: undefined as unknown as string }), /^expected a URL string/);
  });

  it.each([
    ['twice the same', 'http://10.0.0.1:8080', 'http://10.0.0.1:8080'],
    ['with and without a trailing slash', 'http://10.0.0.1:8080', 'http://10.0.0.1:8080/'],
    ['in another case', 'http://node-a:8080', 'HTTP://NODE-A:8080'],
  ])('refuses a node named twice (%s)', (_, first, second) => {
    refuses(() => httpTransport({ url: [first, 'http://10.0.0.9:8080', second] }), /url\[2\]: .* names the same node as url\[0\]/);
  });
});

describe('the url option of wsTransport', () => {
  it('takes one URL, as before, or a list of the nodes of a cluster', () => {
    expect(thrown(() => wsTransport({ url: 'ws://127.0.0.1:8080/v1/ws' }))).toBeUndefined();
    expect(thrown(() => wsTransport({ url: ['ws://10.0.0.1:8080/v1/ws', 'wss://10.0.0.2/v1/ws'] }))).toBeUndefined();
  });

  it('refuses an empty list, an http URL and a node named twice', () => {
    refuses(() => wsTransport({ url: [] }), /at least one URL/);
    refuses(() => wsTransport({ url: 'http://127.0.0.1:8080' }), /^"http:\/\/127\.0\.0\.1:8080" is not a ws or wss URL \(such as ws:/);
    refuses(() => wsTransport({ url: ['ws://10.0.0.1:8080/v1/ws', 'ws://10.0.0.1:8080/v1/ws/'] }), /url\[1\]: .* names the same node as url\[0\]/);
  });
});

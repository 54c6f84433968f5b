/**
 * The public surface: the names DESIGN §2 promises exist with the right shapes, and the `ferry` entry is
 * isomorphic — nothing it imports statically, directly or not, is a Node built-in.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ferry from '../src/index.js';

const root = resolve(new URL('..', import.meta.url).pathname);

/** Every module reachable from `entry` through static imports (dynamic `import()` is not followed). */
const staticGraph = (entry: string): Map<string, string[]> => {
  const graph = new Map<string, string[]>();
  const visit = (file: string): void => {
    if (graph.has(file)) return;
    const source = readFileSync(file, 'utf8');
    const specifiers = [...source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1] as string);
    graph.set(file, specifiers);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) visit(join(dirname(file), specifier).replace(/\.js$/, '.ts'));
    }
  };
  visit(entry);
  return graph;
};

describe('public surface', () => {
  it('exports every name of DESIGN §2 from the ferry entry', () => {
    for (const name of ['createClient', 'createHub', 'memoryTransport', 'textMessage', 'rawMessage', 'fileMessage', 'imageMessage']) {
      expect(typeof (ferry as Record<string, unknown>)[name]).toBe('function');
    }
    for (const name of ['UploadError', 'DownloadError', 'CancelError', 'PeerMessageError', 'ChannelMessageError', 'LoginError']) {
      expect((ferry as Record<string, unknown>)[name]).toBeDefined();
    }
  });

  it('gives hubs, clients and channels every member DESIGN §2 names', () => {
    const hub = ferry.createHub();
    expect(typeof hub.issueToken).toBe('function');
    const client = ferry.createClient({ transport: ferry.memoryTransport(hub) });
    for (const name of [
      'login',
      'logout',
      'createFileMessageByUploading',
      'createImageMessageByUploading',
      'createFileMessageByMediaId',
      'createImageMessageByMediaId',
      'downloadMediaToFile',
      'downloadMediaToMemory',
      'cancelMediaUpload',
      'cancelMediaDownload',
      'sendMessageToPeer',
      'createChannel',
      'renewToken',
    ] as const) {
      expect(typeof client[name]).toBe('function');
    }
    for (const name of ['connectionState$', 'connectionChange$', 'tokenWillExpire$', 'tokenExpired$', 'uploadProgress$', 'downloadProgress$', 'peerMessages$'] as const) {
      expect(typeof client[name].subscribe).toBe('function');
    }
    const channel = client.createChannel('room');
    for (const name of ['join', 'leave', 'sendMessage', 'getMembers'] as const) expect(typeof channel[name]).toBe('function');
    for (const name of ['messages$', 'memberJoined$', 'memberLeft$'] as const) expect(typeof channel[name].subscribe).toBe('function');
    const task = client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA');
    expect(Object.keys(task).sort()).toEqual(['cancel', 'progress$', 'requestId', 'result', 'state$']);
    hub.close();
  });

  it.each(['src/index.ts', 'transports/http.ts'])('keeps %s isomorphic: no Node built-in is imported statically', (entry) => {
    const graph = staticGraph(join(root, entry));
    expect(graph.size).toBeGreaterThan(10);
    const nodeImports = [...graph].flatMap(([file, specifiers]) =>
      specifiers.filter((s) => s.startsWith('node:') || ['fs', 'path', 'crypto', 'os', 'stream'].includes(s)).map((s) => `${file}: ${s}`),
    );
    expect(nodeImports).toEqual([]);
  });
});

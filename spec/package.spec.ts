/**
 * The published package as a consumer meets it (issue 16, "The published package"): the real
 * `npm pack` of a fresh build, unpacked into a scratch project's `node_modules`, type-checked with the
 * three module resolutions a TypeScript user may have (`node16`, `nodenext`, `bundler`) under
 * `strict`, `exactOptionalPropertyTypes` and `skipLibCheck: false`, then run: a server, a client over
 * HTTP and over WebSocket, an upload and a download. The package's own dependencies are the ones this
 * checkout installed (linked, not fetched), so the spec needs no network; its optional peer dependencies
 * (`commander`, `cli-progress`, `bufferutil`: decision 109) are left out, as a library user's install
 * leaves them out, and the program runs with `--preserve-symlinks` so that no linked package finds them
 * in this checkout either.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;
const tsc = join(root, 'node_modules/typescript/bin/tsc');
let work: string;
let consumer: string;
let packed: string[];

/** Optional peer dependencies, which a consumer who only uses the library does not install. */
const OPTIONAL_PEERS = ['commander', 'cli-progress', 'bufferutil'];

/** The module settings of a consumer: `module` and `moduleResolution`. */
const RESOLUTIONS: readonly (readonly [string, string])[] = [
  ['node16', 'node16'],
  ['nodenext', 'nodenext'],
  ['esnext', 'bundler'],
];

const run = (command: string, args: readonly string[], cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ferry-package-'));
  // A staging copy of what `files` may take, built fresh, so the checkout's own dist/ is left alone.
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of ['package.json', 'README.md', 'LICENSE', 'bin', 'docs']) cpSync(join(root, entry), join(stage, entry), { recursive: true });
  run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')], root);
  const [{ filename, files }] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], stage)) as [
    { filename: string; files: { path: string }[] },
  ];
  packed = files.map((file) => file.path);
  // The consumer: the tarball unpacked as node_modules/ferry; every other package linked from this checkout.
  consumer = join(work, 'consumer');
  const modules = join(consumer, 'node_modules');
  mkdirSync(modules, { recursive: true });
  run('tar', ['-xzf', join(work, filename), '-C', modules], work);
  run('mv', [join(modules, 'package'), join(modules, 'ferry')], work);
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.') || name === 'ferry' || OPTIONAL_PEERS.includes(name)) continue;
    if (name.startsWith('@')) {
      mkdirSync(join(modules, name), { recursive: true });
      for (const scoped of readdirSync(join(root, 'node_modules', name))) {
        if (!OPTIONAL_PEERS.some((peer) => `${name}/${scoped}` === `@types/${peer}`)) symlinkSync(join(root, 'node_modules', name, scoped), join(modules, name, scoped));
      }
    } else symlinkSync(join(root, 'node_modules', name), join(modules, name));
  }
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(
    join(consumer, 'main.ts'),
    `import { createRequire } from 'node:module';
import { createClient, type FerryError, type TransferState, type ConnectionChange, type FileMessage } from 'ferry';
import { httpTransport } from 'ferry/http';
import { wsTransport } from 'ferry/ws';
import { startServer } from 'ferry/server';

const server = await startServer({ port: 0, dataDir: process.argv[2] as string });
const client = createClient({ transport: httpTransport({ url: server.url }) });
const changes: ConnectionChange[] = [];
client.connectionChange$.subscribe((change) => changes.push(change));
await client.login({ userId: 'alice', token: server.issueToken('alice') });
const task = client.createFileMessageByUploading(new TextEncoder().encode('hello from a consumer'), { fileName: 'hello.txt' });
const states: TransferState[] = [];
task.state$.subscribe((state) => states.push(state));
const message: FileMessage = await task.result;
const bytes = await client.downloadMediaToMemory(message.mediaId).result;
const failed = await client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA').result.catch((error: FerryError) => error.code);
await client.logout();
const overWs = createClient({ transport: wsTransport({ url: server.wsUrl }) });
await overWs.login({ userId: 'bob', token: server.issueToken('bob') });
const wsBytes = await overWs.downloadMediaToMemory(message.mediaId).result;
const { fileName } = await overWs.getMediaInfo(message.mediaId);
await overWs.logout();
await server.close();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => /[\\/](commander|cli-progress|bufferutil)[\\/]/.test(path));
console.log(JSON.stringify({ text: new TextDecoder().decode(bytes), ws: new TextDecoder().decode(wsBytes), fileName, states, failed, reasons: changes.map((c) => c.reason), loaded }));
`,
  );
  for (const [module, resolution] of RESOLUTIONS) {
    writeFileSync(
      join(consumer, `tsconfig.${resolution}.json`),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module,
          moduleResolution: resolution,
          strict: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
          lib: ['ES2023', 'DOM'],
        },
        files: ['main.ts'],
      }),
    );
  }
  // A full build and `npm pack`: about 20 s of CPU, a minute or more while other work shares the machine.
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the published package', () => {
  it('ships its entry points, types, CLI, license and the docs its README links to; no source maps, no demo', () => {
    for (const path of ['LICENSE', 'README.md', 'bin/ferry.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/transports/http.d.ts', 'dist/transports/ws.d.ts', 'dist/src/server/server.d.ts', 'dist/src/cli/main.js']) {
      expect(packed).toContain(path);
    }
    expect(packed.filter((path) => path.endsWith('.map') || (path.startsWith('dist/') && /demo/.test(path)) || /^(web|spec|src|scratch)\//.test(path))).toEqual([]);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\((?!https?:|#)([^)#\s]+)/g)].map((match) => match[1] as string);
    expect(links.length).toBeGreaterThan(3);
    expect(links.filter((link) => !packed.includes(link))).toEqual([]);
  });

  it.each(RESOLUTIONS)('type-checks for a consumer with module %s and moduleResolution %s, skipLibCheck false', (_module, resolution) => {
    const config = join(consumer, `tsconfig.${resolution}.json`);
    let output = '';
    try {
      run(process.execPath, [tsc, '-p', config], consumer);
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  });

  it('declares the CLI packages and bufferutil as optional peer dependencies, not dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/ferry/package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
    expect(Object.keys(manifest['dependencies'] ?? {}).filter((name) => OPTIONAL_PEERS.includes(name))).toEqual([]);
    expect(Object.keys(manifest['optionalDependencies'] ?? {})).toEqual([]);
    for (const name of OPTIONAL_PEERS) {
      expect(manifest['peerDependencies']?.[name]).toEqual(expect.any(String));
      expect(manifest['peerDependenciesMeta']?.[name]).toEqual({ optional: true });
    }
  });

  it('runs without them: a server, clients over HTTP and WebSocket, an upload, downloads and the file name, loading none of them', () => {
    run(process.execPath, [tsc, '-p', 'tsconfig.nodenext.json', '--noEmit', 'false', '--outDir', 'out'], consumer);
    const out = run(process.execPath, ['--preserve-symlinks', 'out/main.js', join(work, 'data')], consumer).trim().split('\n').at(-1) ?? '';
    const result = JSON.parse(out) as { text: string; states: string[]; failed: number; reasons: string[] };
    expect(result).toMatchObject({ text: 'hello from a consumer', ws: 'hello from a consumer', fileName: 'hello.txt', failed: 4, reasons: ['LOGIN', 'LOGIN_SUCCESS', 'LOGOUT'], loaded: [] });
    // A subscriber gets the state at the time it subscribed, then each change: the last is `done`.
    expect(result.states.at(-1)).toBe('done');
  });

  it('its CLI without commander and cli-progress exits 2 saying what to install', () => {
    let failure: { status?: number; stderr?: string } = {};
    try {
      run(process.execPath, ['--preserve-symlinks', 'node_modules/ferry/bin/ferry.js', 'get', 'AAAAAAAAAAAAAAAAAAAAAA'], consumer);
    } catch (error) {
      failure = error as typeof failure;
    }
    expect(failure.status).toBe(2);
    expect(failure.stderr).toBe('ferry: the command line needs "commander" and "cli-progress", optional for the library and not installed: npm install commander cli-progress\n');
  });
});

/**
 * The folders are layers (`docs/architecture.md`, "Layers"): this reads the static import graph of the
 * engine (every `import`, `export … from` and `import()`, as TypeScript's own pre-processor finds them)
 * and fails on an import a layer may not make, on a cycle between files or folders, and on a file name
 * that repeats across folders.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));

/** A layer: the folder, and the layers (and npm packages) its files may import. */
interface Layer {
  readonly folder: string;
  readonly may: readonly string[];
  readonly packages?: readonly string[];
}

/** The rules (decision 77). A layer may always import its own folder. */
const LAYERS: readonly Layer[] = [
  { folder: 'src/core', may: [], packages: ['@noble/hashes'] },
  { folder: 'src/protocol', may: ['src/core'] },
  { folder: 'machines', may: ['src/core'], packages: ['xstate'] },
  { folder: 'src/platform', may: ['src/core'] },
  { folder: 'src/hub', may: ['src/core', 'src/protocol'] },
  { folder: 'transports', may: ['src/core', 'src/protocol', 'src/platform', 'machines', 'src/hub'] },
  { folder: 'src/client', may: ['src/core', 'src/protocol', 'src/platform', 'machines', 'transports'] },
  { folder: 'src/cluster', may: ['src/core', 'src/protocol', 'src/hub'] },
  { folder: 'src/server', may: ['src/core', 'src/protocol', 'src/platform', 'src/hub', 'src/cluster'] },
  { folder: 'src', may: ['src/core', 'src/protocol', 'src/platform', 'machines', 'transports', 'src/client', 'src/hub'] },
  { folder: 'src/cli', may: ['src/core', 'src/protocol', 'src/platform', 'machines', 'transports', 'src/client', 'src/hub', 'src/cluster', 'src/server', 'src'] },
  { folder: 'web', may: ['src/core', 'src/protocol', 'src/platform', 'machines', 'transports', 'src/client', 'src/hub', 'src'] },
];

const folderOf = (file: string): string => posix.dirname(file);
const layerOf = (file: string): Layer | undefined => LAYERS.find((layer) => layer.folder === folderOf(file));

/** Whether `file` may not import `target` (both repository paths). */
const forbidden = (file: string, target: string): boolean => {
  const layer = layerOf(file);
  return layer !== undefined && folderOf(target) !== layer.folder && !layer.may.includes(folderOf(target));
};

const sources = (folder: string): string[] =>
  readdirSync(`${root}${folder}`).flatMap((name) => {
    const path = posix.join(folder, name);
    if (statSync(`${root}${path}`).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });

/** Every engine file and what it imports: relative imports as repository paths, packages by name. */
const graph = (): Map<string, { readonly files: string[]; readonly packages: string[] }> => {
  const result = new Map<string, { files: string[]; packages: string[] }>();
  for (const file of ['src', 'machines', 'transports', 'web'].flatMap(sources)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(`${root}${file}`, 'utf8'), true, true);
    const files: string[] = [];
    const packages: string[] = [];
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith('.')) files.push(posix.normalize(posix.join(folderOf(file), fileName)).replace(/\.js$/, '.ts'));
      else if (!fileName.startsWith('node:')) packages.push(fileName.startsWith('@') ? fileName.split('/').slice(0, 2).join('/') : fileName.split('/')[0]!);
    }
    result.set(file, { files, packages });
  }
  return result;
};

/** The cycles of a directed graph (one per strongly connected component of more than one node). */
const cycles = (edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] => {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, indices.get(next)!));
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!indices.has(node)) visit(node);
  return found;
};

describe('the folders are layers', () => {
  const imports = graph();

  it('every engine file belongs to a layer', () => {
    expect([...imports.keys()].filter((file) => layerOf(file) === undefined)).toEqual([]);
  });

  it('no file imports a layer its own may not import', () => {
    const broken = [...imports].flatMap(([file, { files }]) => files.filter((target) => forbidden(file, target)).map((target) => `${file} → ${target}`));
    expect(broken).toEqual([]);
  });

  it('the core, the protocol, the machines and the platform import only the packages they name', () => {
    const broken: string[] = [];
    for (const [file, { packages }] of imports) {
      const layer = layerOf(file);
      if (!layer || ['src/core', 'src/protocol', 'machines', 'src/platform'].every((folder) => folder !== layer.folder)) continue;
      const allowed = layer.folder === 'src/protocol' ? ['io-ts', 'fp-ts'] : layer.folder === 'src/platform' ? ['ws'] : (layer.packages ?? []);
      for (const name of packages) if (!allowed.includes(name)) broken.push(`${file} → ${name}`);
    }
    expect(broken).toEqual([]);
  });

  it('the server never imports the client or its transports', () => {
    const reach = (from: string, seen = new Set<string>()): Set<string> => {
      for (const next of imports.get(from)?.files ?? []) if (!seen.has(next)) reach(next, seen.add(next));
      return seen;
    };
    const server = [...imports.keys()].filter((file) => folderOf(file) === 'src/server');
    const reached = new Set(server.flatMap((file) => [...reach(file)]));
    expect([...reached].filter((file) => file.startsWith('transports/') || file.startsWith('src/client/'))).toEqual([]);
  });

  it('no cycle between files, nor between folders', () => {
    const files = new Map([...imports].map(([file, { files }]) => [file, new Set(files)]));
    const folders = new Map<string, Set<string>>();
    for (const [file, { files: targets }] of imports) {
      const from = folderOf(file);
      const set = folders.get(from) ?? new Set<string>();
      for (const target of targets) if (folderOf(target) !== from) set.add(folderOf(target));
      folders.set(from, set);
    }
    expect(cycles(files)).toEqual([]);
    expect(cycles(folders)).toEqual([]);
  });

  it('no file name repeats across folders', () => {
    const byName = new Map<string, string[]>();
    for (const file of imports.keys()) byName.set(posix.basename(file), [...(byName.get(posix.basename(file)) ?? []), file]);
    expect([...byName.values()].filter((files) => files.length > 1)).toEqual([]);
  });

  it('finds what it checks: a cycle and a forbidden import are seen', () => {
    expect(cycles(new Map([['a', new Set(['b'])], ['b', new Set(['a'])], ['c', new Set(['a'])]]))).toEqual([['a', 'b']]);
    // The two imports this layout removed: a machine reaching for a transport, the server for the client's protocol.
    expect(forbidden('machines/session.ts', 'transports/transport.ts')).toBe(true);
    expect(forbidden('src/server/ws-endpoint.ts', 'transports/ws-frames.ts')).toBe(true);
    expect(forbidden('src/core/failure.ts', 'src/protocol/codec.ts')).toBe(true);
    expect(forbidden('transports/ws.ts', 'src/protocol/ws-frames.ts')).toBe(false);
    expect(imports.get('src/server/server.ts')?.files.length).toBeGreaterThan(5);
  });
});

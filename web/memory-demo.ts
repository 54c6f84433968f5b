/**
 * `npm start`: an end-to-end run on the in-memory hub that prints what happens. Alice uploads an image
 * and a larger file from disk, sends them to a channel, and Bob receives the messages and downloads
 * the bytes to files, verified by SHA-256. Node only; not part of the package's entry points.
 * @module
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { createClient, createHub, type FileMessage, type ImageMessage, memoryTransport, textMessage } from '../src/index.js';

/** A real PNG (8-bit RGB gradient), so the image probe has something true to read. */
const png = (width: number, height: number): Uint8Array => {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer): number => {
    let c = 0xffffffff;
    for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set([(x * 255) / width, (y * 255) / height, 160], y * (width * 3 + 1) + 1 + x * 3);
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
};

const bar = (current: number, total: number): string => {
  const filled = Math.round((current / total) * 20);
  return `[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(Math.round((current / total) * 100)).padStart(3)}%`;
};

const folder = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
const imagePath = join(folder, 'gradient.png');
writeFileSync(imagePath, png(320, 200));
const bigPath = join(folder, 'archive.bin');
writeFileSync(bigPath, new Uint8Array(12 * 1024 * 1024).map((_, i) => (i * 31) & 0xff));

const hub = createHub();
const transport = memoryTransport(hub);
const alice = createClient({ transport, progressIntervalMs: 40 });
const bob = createClient({ transport, progressIntervalMs: 40 });
alice.connectionState$.subscribe((state) => console.log(`alice: ${state}`));
await alice.login({ userId: 'alice', token: hub.issueToken('alice') });
await bob.login({ userId: 'bob', token: hub.issueToken('bob') });

const aliceRoom = alice.createChannel('general');
const bobRoom = bob.createChannel('general');
await aliceRoom.join();
await bobRoom.join();
console.log(`members of #general: ${(await aliceRoom.getMembers()).join(', ')}`);

const downloads: Promise<void>[] = [];
bobRoom.messages$.subscribe(({ memberId, message }) => {
  console.log(`bob received ${message.messageType} from ${memberId}`);
  if (message.messageType !== 'FILE' && message.messageType !== 'IMAGE') return;
  if (message.messageType === 'IMAGE') console.log(`  image ${message.fileName}: ${message.width} × ${message.height}`);
  const target = join(folder, `received-${message.fileName}`);
  const task = bob.downloadMediaToFile(message.mediaId, target);
  task.progress$.subscribe(({ currentSize, totalSize }) => console.log(`  bob ↓ ${message.fileName} ${bar(currentSize, totalSize)}`));
  downloads.push(
    task.result.then(() => {
      const same = Buffer.compare(readFileSync(target), readFileSync(message.fileName === 'gradient.png' ? imagePath : bigPath)) === 0;
      console.log(`  bob saved ${target} (${message.size} bytes, SHA-256 verified, identical: ${same})`);
    }),
  );
});

const image = alice.createImageMessageByUploading(imagePath, { description: 'a gradient' });
const file = alice.createFileMessageByUploading(bigPath);
for (const [name, task] of [['gradient.png', image], ['archive.bin', file]] as const) {
  task.state$.subscribe((state) => console.log(`alice ↑ ${name}: ${state}`));
  task.progress$.subscribe(({ currentSize, totalSize }) => console.log(`alice ↑ ${name} ${bar(currentSize, totalSize)}`));
}
const sent: (FileMessage | ImageMessage)[] = [await image.result, await file.result];
await aliceRoom.sendMessage(textMessage('two files coming'));
for (const message of sent) await aliceRoom.sendMessage(message);
await Promise.all(downloads);

await bob.logout();
await alice.logout();
hub.close();
rmSync(folder, { recursive: true, force: true });
console.log('done.');

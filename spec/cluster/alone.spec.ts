/**
 * Each of `redis` and `s3` works alone (issue 14): Redis with the local file store on one node, and the S3
 * store without Redis on one node. A client uploads, sends the media ID to a peer and the peer downloads it;
 * the state lands where the option says.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { type Client, createClient } from '../../src/index.js';
import { type FerryServer, type ServerOptions, startServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { describeWithServices } from './services.js';

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describeWithServices('redis or s3 alone, on one node', ['redis', 's3'], ({ redisUrl, s3 }) => {
  const open: (FerryServer | Client)[] = [];
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await ('logout' in thing ? thing.logout().catch(() => undefined) : thing.close());
  });

  const roundTrip = async (options: ServerOptions): Promise<FerryServer> => {
    const server = await startServer(options);
    open.push(server);
    const login = async (userId: string): Promise<Client> => {
      const client = createClient({ transport: httpTransport({ url: server.url }) });
      open.push(client);
      await client.login({ userId, token: server.issueToken(userId) });
      return client;
    };
    const alice = await login('alice');
    const bob = await login('bob');
    const bytes = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
    const message = await alice.createFileMessageByUploading(bytes).result;
    const received = firstValueFrom(bob.peerMessages$);
    await alice.sendMessageToPeer('bob', message);
    const event = await received;
    expect(event.message).toMatchObject({ messageType: 'FILE', mediaId: message.mediaId, size: bytes.length });
    const downloaded = await bob.downloadMediaToMemory(message.mediaId).result;
    expect(sha(downloaded)).toBe(sha(bytes));
    return server;
  };

  it('Redis with the local file store: messages and upload state in Redis, media on the node\'s disk', async () => {
    const keyPrefix = `ferry-test-${randomUUID().slice(0, 8)}:`;
    await roundTrip({ redis: { url: redisUrl, keyPrefix } });
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${keyPrefix}*`);
      expect(keys.some((key) => key.startsWith(`${keyPrefix}bus:`))).toBe(true);
      expect(keys.some((key) => key.startsWith(`${keyPrefix}usage:`))).toBe(true);
      await Promise.all(keys.map((key) => redis.unlink(key)));
    } finally {
      redis.disconnect();
    }
  });

  it('the S3 store without Redis: media in the bucket, messaging in the node', async () => {
    const prefix = `alone-${randomUUID().slice(0, 8)}/`;
    await roundTrip({ s3: { ...s3, prefix } });
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}media/` }));
      expect(listed.KeyCount).toBe(1);
    } finally {
      client.destroy();
    }
  });
});

/**
 * `npm start`: the server with embedded defaults — data in `./.ferry-data` (or `FERRY_DATA_DIR`), port
 * 8080 (or `PORT`), host 127.0.0.1 (or `HOST`), the secret from `FERRY_SECRET` or generated once and kept
 * in the data folder (mode 0600). `npm run token -- <userId>` mints a login token with that secret.
 * @module
 */
import { resolve } from 'node:path';
import { startServer } from './server.js';

const dataDir = resolve(process.env.FERRY_DATA_DIR ?? '.ferry-data');
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.FERRY_SECRET;

const server = await startServer({ dataDir, port, host, ...(secret ? { secret } : {}) }).catch((error: unknown) => {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  console.error(code === 'EADDRINUSE' ? `port ${port} is in use: set PORT to another one` : error);
  process.exit(1);
});
console.log(`ferry server listening on ${server.url}`);
console.log(`  data folder:  ${dataDir}`);
console.log(`  uploads (tus): ${server.uploadsUrl}`);
console.log(`  mint a token:  npm run token -- <userId>`);
console.log(`  protocol:      docs/protocol-http.md`);

const stop = (): void => {
  console.log('stopping…');
  server.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

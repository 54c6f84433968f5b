/**
 * Development mode (`startServer({ dev: true })`, `ferry serve --dev`): the demo page at `/`, its
 * browser bundles, and `POST /dev/token?userId=…`, which mints a login token for anyone who can reach
 * it. Never on by default (decision 48): a server in development mode trusts every caller.
 *
 * Files are read from the checkout's `web/` folder and the bundles are built by esbuild in memory
 * (`dev-bundle.ts`), again on each load of the page, so an edit shows on reload.
 * @module
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Failure } from '../core/failure.js';
import type { Hub } from '../hub/hub.js';
import { type BuiltFile, buildBrowserBundles, repositoryRoot } from './dev-bundle.js';
import { type Exchange, HttpFault, type Route, answering, sendFailure } from './http-util.js';

/**
 * Why development mode cannot run from `root`, or `undefined` when it can: it needs a checkout (the page's
 * `web/` folder and esbuild, a development dependency), which an installed package does not have.
 * @example await devModeUnavailable() // undefined in a checkout after `npm ci`
 */
export const devModeUnavailable = async (root: string = repositoryRoot): Promise<string | undefined> => {
  try {
    await access(join(root, 'web', 'index.html'));
  } catch {
    return `development mode needs a checkout of ferry: ${join(root, 'web', 'index.html')} is missing (an installed package does not ship the demo page)`;
  }
  try {
    await import('esbuild');
  } catch {
    return 'development mode needs esbuild, a development dependency: run `npm ci` in a checkout of ferry';
  }
  return undefined;
};

/** Options of {@link devRoute}. */
export interface DevRouteOptions {
  /** The hub whose tokens are minted. */
  readonly hub: Hub;
  /** The server's base URL: a page must be loaded from its host (or `localhost` on the same port). */
  readonly url: string;
  /** How long minted tokens are valid. Default: 24 h. */
  readonly tokenTtlMs?: number;
}

/** Static files of the page: path → file in `web/` and its type. */
const PAGES: Readonly<Record<string, readonly [string, string]>> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

const BUNDLES = '/browser/';

/** Thumbnails and saved files are `blob:` URLs; the page talks to this server only (HTTP and WebSocket). */
const CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The dev-only route: serves the demo page and mints tokens. Its prefix is `''`, so it must be the last
 * route: it answers every path the others do not (unknown ones with 404).
 * @example
 * routes = [...routes, devRoute({ hub, url })];
 */
export const devRoute = (options: DevRouteOptions): Route => {
  const { hub } = options;
  const served = new URL(options.url);
  let built: Promise<BuiltFile[]> | undefined;
  const rebuild = (): Promise<BuiltFile[]> => {
    built = buildBrowserBundles();
    built.catch(() => undefined); // reported when a bundle is asked for
    return built;
  };

  /**
   * Token minting answers only the page itself: the request's Origin (if any: browsers always send one
   * with POST) must be this very host, and on a loopback server the Host must be a loopback name, so
   * neither another site nor a DNS-rebound name can mint tokens through the developer's browser.
   */
  const checkCaller = ({ req }: Exchange): void => {
    const host = req.headers.host ?? '';
    const hostName = host.replace(/:\d+$/, '');
    if (LOOPBACK.has(served.hostname) && (!LOOPBACK.has(hostName) || !host.endsWith(`:${served.port}`))) {
      throw new HttpFault(403, Failure.invalidArgument('Host', `development mode answers loopback hosts only, got ${JSON.stringify(host)}`));
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
      throw new HttpFault(403, Failure.invalidArgument('Origin', 'tokens are minted for the demo page only'));
    }
  };

  const send = ({ res, method }: Exchange, type: string, body: Uint8Array | string, headers: Record<string, string> = {}): void => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': String(bytes.length),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    });
    res.end(method === 'HEAD' ? undefined : bytes);
  };

  const mint = (exchange: Exchange): void => {
    checkCaller(exchange);
    const userId = new URL(`http://server${exchange.req.url ?? ''}`).searchParams.get('userId') ?? '';
    let token: string;
    try {
      token = hub.issueToken(userId, options.tokenTtlMs);
    } catch (error) {
      throw new HttpFault(400, Failure.invalidArgument('userId', error instanceof Error ? error.message : String(error)));
    }
    send(exchange, 'application/json; charset=utf-8', JSON.stringify({ userId, token }));
  };

  const page = async (exchange: Exchange, [file, type]: readonly [string, string]): Promise<void> => {
    checkCaller(exchange);
    if (file === 'index.html') rebuild();
    const body = await readFile(join(repositoryRoot, 'web', file));
    send(exchange, type, body, file === 'index.html' ? { 'Content-Security-Policy': CSP } : {});
  };

  const bundle = async (exchange: Exchange, name: string): Promise<void> => {
    let files: BuiltFile[];
    try {
      files = await (built ?? rebuild());
    } catch (error) {
      console.error('ferry server: the browser build failed:', error instanceof Error ? error.message : error);
      throw new HttpFault(500, Failure.unknown('the browser build failed; see the server log'));
    }
    const file = files.find((f) => f.path === name);
    if (!file) throw new HttpFault(404, Failure.notExist(`bundle ${name}`));
    send(exchange, 'text/javascript; charset=utf-8', file.contents);
  };

  return {
    prefix: '',
    handle: (exchange) =>
      answering(exchange, {}, async () => {
        // The token and the page are for this origin only: no CORS on anything development mode serves.
        exchange.res.removeHeader('Access-Control-Allow-Origin');
        exchange.res.removeHeader('Access-Control-Expose-Headers');
        const path = new URL(`http://server${exchange.req.url ?? '/'}`).pathname;
        const read = exchange.method === 'GET' || exchange.method === 'HEAD';
        const known = PAGES[path];
        if (path === '/dev/token' && exchange.method === 'POST') return mint(exchange);
        if (known && read) return page(exchange, known);
        if (path.startsWith(BUNDLES) && read) return bundle(exchange, path.slice(BUNDLES.length));
        sendFailure(exchange, Failure.notExist(`route ${path}`));
      }),
  };
};

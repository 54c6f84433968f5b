/**
 * Which node of a cluster a transport talks to (issue 14, decision 96). A transport given several URLs
 * (`httpTransport({ url: [a, b, c] })`, `wsTransport({ url: [a, b, c] })`) talks to one node at a time:
 * - it starts at the first URL;
 * - it stays on a node while that node answers (an answer of any kind, a refusal included), so a client
 *   that moved never moves back on its own: no thrashing between a recovered node and a working one;
 * - it moves to the next URL (round robin) when the node it is on stops answering: the connection is
 *   refused or reset, no answer comes in time, or a gateway says the node is gone (502, 503, 504);
 * - once every node failed in a row, it starts over from the first URL. Whoever asked then waits the
 *   delay table of `machines/retry.ts` (the transfer machine, the link machine) before asking again.
 *
 * The policy is pure (`afterFailure`, `afterAnswer`, property-tested); {@link nodeChoice} holds one
 * transport's current choice. A failure reported for a node the transport already left (a second
 * request that died with the same node) changes nothing, so nine transfers failing at once move the
 * client one node, not nine.
 * @module
 */
import { onAbort } from '../src/core/abort.js';
import type { Clock } from '../src/core/clock.js';
import { toPublicError } from '../src/core/errors.js';
import { Failure, failureOf, fault } from '../src/core/failure.js';

/** Where a transport stands: the node it talks to and how many nodes failed in a row since one answered. */
export interface NodeChoice {
  /** Index of the node in the transport's URL list. */
  readonly current: number;
  /** Nodes that stopped answering in a row since the last answer (0 to the number of nodes − 1). */
  readonly failed: number;
}

/** Where every transport starts: the first URL, nothing failed. */
export const FIRST_CHOICE: NodeChoice = { current: 0, failed: 0 };

/**
 * The choice after `node` stopped answering, among `count` nodes. A node other than the current one is a
 * report from a request that started before the transport moved: ignored. Otherwise the next node, or,
 * when this was the last of `count` failures in a row, the first node again.
 * @example afterFailure({ current: 0, failed: 0 }, 0, 3) // { current: 1, failed: 1 }
 */
export const afterFailure = (choice: NodeChoice, node: number, count: number): NodeChoice => {
  if (node !== choice.current || count <= 1) return choice;
  const failed = choice.failed + 1;
  return failed >= count ? FIRST_CHOICE : { current: (choice.current + 1) % count, failed };
};

/**
 * The choice after `node` answered: the count of failures starts again if it is the current node;
 * the current node never changes on an answer.
 * @example afterAnswer({ current: 2, failed: 2 }, 2) // { current: 2, failed: 0 }
 */
export const afterAnswer = (choice: NodeChoice, node: number): NodeChoice =>
  node === choice.current && choice.failed !== 0 ? { current: choice.current, failed: 0 } : choice;

/**
 * How long a node may take to answer the opening of a link (a WebSocket's `welcome`, an event stream's
 * or a login's response headers) before the transport tries the next node, when there is one. A healthy
 * node answers in milliseconds; a node whose host is gone never refuses, it just never answers. Within
 * the client's login deadline (`requestTimeoutMs`, 10 s), so a silent first node leaves time for the next.
 */
export const NODE_ANSWER_MS = 4_000;

/** The statuses of a gateway (or of a node shutting down) that say the node behind it is not there. */
export const UNAVAILABLE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** One transport's nodes and its current choice among them. */
export interface Nodes {
  /** The URLs, in the caller's order (at least one). */
  readonly urls: readonly string[];
  /** The node requests go to now (an index in `urls`). */
  readonly current: number;
  /** `node` stopped answering: the next request goes to the next node (see the module). */
  unreachable(node: number): void;
  /** `node` answered: while it keeps answering, requests stay there. */
  answered(node: number): void;
}

/**
 * The choice of one transport among `urls`, starting at the first.
 * @example
 * const nodes = nodeChoice(['http://a:8080', 'http://b:8080']);
 * nodes.unreachable(0); nodes.current // 1
 */
export const nodeChoice = (urls: readonly string[]): Nodes => {
  let choice = FIRST_CHOICE;
  return {
    urls,
    get current() {
      return choice.current;
    },
    unreachable(node) {
      choice = afterFailure(choice, node, urls.length);
    },
    answered(node) {
      choice = afterAnswer(choice, node);
    },
  };
};

/**
 * What one request tells the node choice: that its node did not answer, or that it did. A transport with
 * one URL passes none (`reachOf`), so its requests behave exactly as before there were several.
 */
export interface Reach {
  unreachable(): void;
  answered(): void;
}

/** The {@link Reach} of a request to `node`, or `undefined` when the transport has a single node. */
export const reachOf = (nodes: Nodes, node: number): Reach | undefined =>
  nodes.urls.length > 1 ? { unreachable: () => nodes.unreachable(node), answered: () => nodes.answered(node) } : undefined;

/**
 * Whether a request's aborted signal means its node did not answer in time: the client's deadline
 * (`requestTimeoutMs`, the idle watchdog) aborts with a `Timeout`; a cancel or a logout does not.
 */
export const timedOut = (signal: AbortSignal | undefined): boolean => signal?.aborted === true && failureOf(signal.reason)._tag === 'Timeout';

/**
 * Whether a failed request is worth sending again to another node: it failed as a dropped link
 * (`Network`) and the choice has left the node it ran on (it, or a request beside it, found the node gone).
 */
export const movedOn = (nodes: Nodes, node: number, error: unknown): boolean => nodes.current !== node && failureOf(error)._tag === 'Network';

/**
 * Runs `attempt` and, while `again` says its failure is worth it, runs it again (on the node chosen
 * next), at most `count` times in all (once per node). Rejects with the last failure. For idempotent
 * requests, logins and link openings; never for a request whose repetition would do a thing twice.
 * @example await onEachNode(nodes.urls.length, () => send(nodes.current), (error) => movedOn(nodes, node, error))
 */
export const onEachNode = async <T>(count: number, attempt: () => Promise<T>, again: (error: unknown) => boolean): Promise<T> => {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= count || !again(error)) throw error;
    }
  }
};

/**
 * Runs `run` with a signal that also aborts (with a `Timeout` reason) when `ms` pass on `clock` before
 * `run` settles: a node that does not answer in time fails the run with `Network`, so the next node is
 * tried, while an abort of `signal` still rejects with `Interrupted`. Without `ms`, `run` gets `signal`.
 * @example await answeredWithin(clock, NODE_ANSWER_MS, signal, (s) => request(url, { method: 'POST', signal: s }))
 */
export const answeredWithin = async <T>(clock: Clock, ms: number | undefined, signal: AbortSignal, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
  if (ms === undefined) return run(signal);
  const within = new AbortController();
  const dispose = onAbort(signal, () => within.abort(signal.reason));
  const timer = clock.setTimeout(() => within.abort(fault(Failure.timeout(`no answer within ${ms} ms`))), ms);
  try {
    return await run(within.signal);
  } catch (error) {
    if (!signal.aborted && within.signal.aborted) throw fault(Failure.network(`the node did not answer within ${ms} ms`), error);
    throw error;
  } finally {
    clock.clearTimeout(timer);
    dispose();
  }
};

/** The URL schemes of each transport. */
const SCHEMES = { http: ['http:', 'https:'], ws: ['ws:', 'wss:'] } as const;

/** A URL as the transport compares them: parsed, without a trailing slash on its path. */
const sameness = (url: URL): string => `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}${url.search}`;

/**
 * The URL list of a transport's `url` option: one URL, or several (the nodes of a cluster, tried in this
 * order). Each must be an absolute URL of the transport's schemes (`http:`/`https:` for HTTP, `ws:`/`wss:`
 * for WebSocket); a list must be non-empty and name each node once (`http://a/` and `http://a` are one).
 * @throws {ClientError} code 2 (INVALID_ARGUMENT) naming `url` and what is wrong, as `createClient` does
 * for its own options.
 * @example nodeUrls(['http://a:8080', 'http://b:8080'], 'http') // ['http://a:8080', 'http://b:8080']
 */
export const nodeUrls = (url: unknown, kind: keyof typeof SCHEMES): readonly string[] => {
  const schemes: readonly string[] = SCHEMES[kind];
  const example = kind === 'http' ? 'http://127.0.0.1:8080' : 'ws://127.0.0.1:8080/v1/ws';
  const invalid = (detail: string): never => {
    throw toPublicError('client', Failure.invalidArgument('url', detail));
  };
  const list: readonly unknown[] = Array.isArray(url) ? url : [url];
  if (Array.isArray(url) && url.length === 0) invalid(`expected at least one URL (such as ${example}), got an empty list`);
  const seen = new Map<string, number>();
  list.forEach((item, index) => {
    // In a list, the place of the bad entry; alone, the failure already names `url`.
    const where = Array.isArray(url) ? `url[${index}]: ` : '';
    if (typeof item !== 'string') return invalid(`${where}expected a URL string such as ${example}, got ${item === null ? 'null' : typeof item}`);
    const parsed = URL.canParse(item) ? new URL(item) : undefined;
    if (!parsed) return invalid(`${where}${JSON.stringify(item.slice(0, 200))} is not an absolute URL (such as ${example})`);
    if (!schemes.includes(parsed.protocol)) {
      return invalid(`${where}${JSON.stringify(item.slice(0, 200))} is not a ${schemes.map((s) => s.slice(0, -1)).join(' or ')} URL (such as ${example})`);
    }
    const key = sameness(parsed);
    const earlier = seen.get(key);
    if (earlier !== undefined) return invalid(`url[${index}]: ${JSON.stringify(item.slice(0, 200))} names the same node as url[${earlier}]`);
    seen.set(key, index);
  });
  return list as readonly string[];
};

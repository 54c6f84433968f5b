/**
 * What the transport contract suite needs from a transport under test. Each transport's spec builds one
 * (the memory transport over an in-process hub; HTTP and WebSocket over a real server on loopback).
 */
import type { Clock } from '../../src/core/clock.js';
import type { ClientOptions } from '../../src/client/client-options.js';
import type { Transport } from '../../transports/transport.js';

export interface ContractFixture {
  /** A transport for one more client. */
  transport(): Transport;
  /**
   * A transport that reaches the hub on another path, unaffected by `pause` (the same user logging in
   * from another device while this one's network is stalled). Default: `transport`.
   */
  elsewhere?(): Transport;
  /** A login token from the hub under test. */
  issueToken(userId: string, ttlMs?: number): string;
  /** The clock shared by hub and clients; passed to every client the suite creates. */
  readonly clock: Clock;
  /** Moves the shared clock forward, then lets the resulting work settle. */
  advance(ms: number): Promise<void>;
  /** Stops every byte from moving until `resume` (a stalled network). */
  pause(): void;
  resume(): void;
  /** How many uploads (partial or complete) the hub's store holds. */
  storedUploads(): Promise<number>;
  /** The hub's retention, to expire media with `advance`. */
  readonly retentionMs: number;
  /** Extra options for every client (e.g. a fast progress interval). */
  readonly clientOptions?: Partial<ClientOptions>;
  close(): Promise<void>;
}

/**
 * What the hub tells whoever watches it: sessions, transfers, messages and refusals. The hub calls these
 * synchronously at the moment each thing happens, whatever the transport (memory, HTTP, WebSocket), so
 * one implementation (the server's Prometheus metrics) sees every way in. Implementations must be cheap
 * and must never throw.
 * @module
 */

/** The limits the hub and the server enforce, as named in metrics and `docs/contract.md`. */
export type LimitName =
  | 'unfinishedUploads'
  | 'storedBytes'
  | 'diskReserve'
  | 'messageRate'
  | 'loginRate'
  | 'channelsJoined'
  | 'joinRate'
  | 'sessionsPerUser'
  | 'connectionsPerAddress'
  | 'transfersPerUser'
  | 'slowReader'
  | 'offlineMessages'
  | 'presenceQueryRate'
  | 'presenceSubscribeRate'
  | 'presenceSubscriptions'
  | 'memberCountRate';

/**
 * How one append or read ended at the hub: `done` reached the end of the media; `partial` stopped short
 * with no error (one PATCH of several, a `Range` read); `cancelled` by its signal; `failed` otherwise.
 */
export type TransferOutcome = 'done' | 'partial' | 'cancelled' | 'failed';

/** Observer of a hub. Every method is optional to implement through {@link silentMonitor}'s spread. */
export interface HubMonitor {
  sessionOpened(): void;
  sessionClosed(): void;
  /**
   * A session ended because the deliveries its client had not seen were no longer kept (`Conflict`): its
   * client came back too late, or this hub read them from a shared bus more than the replay behind (a
   * channel burst on a cluster, decision 123). Its client logs in afresh.
   */
  sessionLost(): void;
  /** An append or a read started. */
  transferStarted(direction: 'upload' | 'download'): void;
  /** It ended, having moved `bytes`. */
  transferEnded(direction: 'upload' | 'download', outcome: TransferOutcome, bytes: number): void;
  /** A message was accepted and handed to `receivers` sessions. */
  messageDelivered(kind: 'peer' | 'channel', receivers: number): void;
  /** A request was refused by a limit. */
  refused(limit: LimitName): void;
}

/** A monitor that does nothing: the default. */
export const silentMonitor: HubMonitor = {
  sessionOpened: () => undefined,
  sessionClosed: () => undefined,
  sessionLost: () => undefined,
  transferStarted: () => undefined,
  transferEnded: () => undefined,
  messageDelivered: () => undefined,
  refused: () => undefined,
};

/**
 * ferry: send files and images as chat messages. This entry is isomorphic (no Node-only imports).
 * @module
 */
export { createClient } from './client/client.js';
export type { Client, DownloadOptions, PeerMessageEvent, PeerMessageSendResult, SendMessageOptions, TaskProgress } from './client/client-api.js';
export type { ClientOptions } from './client/client-options.js';
export type { Channel, ChannelMessageEvent, ChannelSendOptions } from './client/channel.js';
export type { Task } from './client/task.js';
export type { Progress } from './client/progress.js';
export type { UploadSource } from './client/sources.js';
export type { FileUploadOptions, ImageUploadOptions } from './client/uploads.js';
export type { TransferState, ConnectionState, ConnectionChange, ConnectionChangeReason, PeerOnlineState, PeerMessageState } from './core/states.js';
export {
  textMessage,
  rawMessage,
  fileMessage,
  imageMessage,
  messageSize,
  type Message,
  type MessageType,
  type TextMessage,
  type RawMessage,
  type FileMessage,
  type ImageMessage,
  type FileFields,
  type ImageFields,
} from './core/messages.js';
export { MessageCodec, encodeMessage, decodeMessage, type WireMessage } from './protocol/codec.js';
export {
  FerryError,
  UploadError,
  DownloadError,
  CancelError,
  PeerMessageError,
  ChannelMessageError,
  LoginError,
  LogoutError,
  JoinChannelError,
  LeaveChannelError,
  GetMembersError,
  RenewTokenError,
  QueryPeersOnlineStatusError,
  PeerSubscriptionStatusError,
  GetChannelMemberCountError,
  MessageError,
  ClientError,
  UploadErrorCode,
  DownloadErrorCode,
  CancelErrorCode,
  PeerMessageErrorCode,
  ChannelMessageErrorCode,
  LoginErrorCode,
  LogoutErrorCode,
  JoinChannelErrorCode,
  LeaveChannelErrorCode,
  GetMembersErrorCode,
  RenewTokenErrorCode,
  QueryPeersOnlineStatusErrorCode,
  PeerSubscriptionStatusErrorCode,
  GetChannelMemberCountErrorCode,
  MessageErrorCode,
  ClientErrorCode,
  type Operation,
} from './core/errors.js';
export { Failure, foldFailure, describeFailure, FaultError, fault, failureOf, type FailureTag } from './core/failure.js';
export {
  MAX_FILE_SIZE,
  MIN_FILE_SIZE,
  MAX_MESSAGE_SIZE,
  DEFAULT_RETENTION_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  MAX_CONCURRENT_TRANSFERS,
  OFFLINE_MESSAGES_PER_RECEIVER,
  OFFLINE_MESSAGE_TTL_MS,
  MAX_PRESENCE_QUERY,
  MAX_PRESENCE_SUBSCRIPTIONS,
  MAX_MEMBER_COUNT_CHANNELS,
  MESSAGE_ID_TTL_MS,
  MESSAGE_IDS_PER_SENDER,
} from './core/limits.js';
export { probeImage, IMAGE_PROBE_BYTES, type ImageInfo, type ImageFormat } from './client/image-probe.js';
export { systemClock, virtualClock, type Clock, type VirtualClock } from './core/clock.js';
export {
  createHub,
  type Hub,
  type HubOptions,
  type HubSession,
  type MediaInfo,
  type UploadStatus,
  type PeerSendOptions,
  type PeerSendResult,
  type ChannelSendResult,
} from './hub/hub.js';
export { DEFAULT_HUB_LIMITS, memoryRates, type HubLimits, type Rate, type RateName, type Rates } from './hub/hub-limits.js';
export { memoryUsage, type Usage, type Holdings, type Quota, type Reservation } from './hub/usage.js';
export { memoryStore, type MediaStore, type MemoryStore, type MemoryStoreOptions, type MediaMeta, type StoredEntry } from './hub/media-store.js';
export {
  memoryBus,
  type MessageBus,
  type DeliveryObserver,
  type MemoryBusOptions,
  type BusSession,
  type Delivery,
  type JoinOutcome,
  type WatchOutcome,
  type PeerSend,
  type PeerSendOutcome,
  type ChannelSendOutcome,
  type HubEvent,
  type HubAbortCause,
} from './hub/message-bus.js';
export {
  memoryUploadStates,
  type UploadStates,
  type UnfinishedUpload,
  type UploadClaim,
  type OffsetWord,
  type MemoryUploadStatesOptions,
} from './hub/upload-states.js';
export { soleLease, memoryLease, type SweepLease, type MemoryLeaseOptions } from './hub/sweep-lease.js';
export { memoryTransport, type MemoryTransportOptions, type ChunkStep } from '../transports/memory.js';
export type {
  Transport,
  Session,
  SessionEvent,
  AbortCause,
  Credentials,
  UploadState,
  MediaState,
  ByteSource,
  CallOptions,
  PeerSendCallOptions,
  PeerSendAnswer,
} from '../transports/transport.js';
export type { FileAccess, FileSink } from './core/files.js';
export type { CreateHasher, Hasher } from './core/hash.js';

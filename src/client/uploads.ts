/**
 * The effects of one upload: open the source (probing an image's size from its first bytes), create
 * the upload at the hub, send chunks from an offset, ask the hub's offset to resume, and terminate the
 * upload if the task is cancelled or fails, so no partial or orphaned bytes remain.
 * @module
 */
import type { Located, TransferEffects } from '../core/states.js';
import { isSignal } from '../core/abort.js';
import type { Session } from '../../transports/transport.js';
import { Failure, fault } from '../core/failure.js';
import { baseName, type FileAccess } from '../core/files.js';
import { IMAGE_PROBE_BYTES, probeImage } from './image-probe.js';
import { MAX_MESSAGE_SIZE } from '../core/limits.js';
import {
  checkFileFields,
  checkImageFields,
  type FileMessage,
  fileMessage,
  type ImageFields,
  type ImageMessage,
  imageMessage,
  messageSize,
} from '../core/messages.js';
import { checkSource, type OpenedSource, openSource, type UploadSource } from './sources.js';

/** Options of `createFileMessageByUploading`. */
export interface FileUploadOptions {
  /** Name shown to receivers. Default: the path's last segment, a `File`'s name, or '' for bytes. */
  readonly fileName?: string;
  /** A small preview; counts toward the 32 KiB message limit. */
  readonly thumbnail?: Uint8Array;
  readonly description?: string;
  /** Aborting it cancels the upload, as `task.cancel()` does. */
  readonly signal?: AbortSignal;
}

/** Options of `createImageMessageByUploading`: width and height given here win over detection. */
export interface ImageUploadOptions extends FileUploadOptions {
  readonly width?: number;
  readonly height?: number;
  readonly thumbnailWidth?: number;
  readonly thumbnailHeight?: number;
}

/** The name a source has before it is opened (a path's last segment, a `File`'s name). */
const sourceName = (source: UploadSource): string =>
  typeof source === 'string' ? baseName(source) : typeof Blob !== 'undefined' && source instanceof Blob && 'name' in source && typeof source.name === 'string' ? source.name : '';

/** A message's fields as the options give them; never a size, which only the opened source says. */
type Draft = Omit<ImageFields, 'size'>;

const fields = (options: ImageUploadOptions, source: UploadSource): Draft => {
  const { signal: _signal, size: _size, ...rest } = options as ImageUploadOptions & { readonly size?: unknown };
  return { ...rest, fileName: options.fileName === undefined ? sourceName(source) : options.fileName };
};

/**
 * What can be known before any I/O: the source's shape and the options, including that the message the
 * upload will produce fits in 32 KiB (an upload whose message could never be sent is refused up front).
 */
export const checkUpload = (kind: 'FILE' | 'IMAGE', source: unknown, options: unknown): Failure | undefined => {
  if (options === null || typeof options !== 'object') return Failure.invalidArgument('options', 'expected an object');
  const { signal } = options as FileUploadOptions;
  if (signal !== undefined && !isSignal(signal)) return Failure.invalidArgument('signal', 'expected an AbortSignal');
  const sourceFailure = checkSource(source);
  if (sourceFailure) return sourceFailure;
  const draft = fields(options as ImageUploadOptions, source as UploadSource);
  const fieldFailure = kind === 'IMAGE' ? checkImageFields(draft) : checkFileFields(draft);
  if (fieldFailure) return fieldFailure;
  // The message's size counts only these fields; measured without building (and validating, and copying
  // the thumbnail of) a message per upload.
  const size = messageSize({
    messageType: 'FILE',
    mediaId: '',
    size: 0,
    fileName: draft.fileName ?? '',
    ...(draft.thumbnail === undefined ? {} : { thumbnail: draft.thumbnail }),
    ...(draft.description === undefined ? {} : { description: draft.description }),
  });
  return size > MAX_MESSAGE_SIZE
    ? Failure.invalidArgument(
        draft.thumbnail ? 'thumbnail' : draft.description ? 'description' : 'fileName',
        `fileName, description and thumbnail take ${size} bytes, more than the ${MAX_MESSAGE_SIZE}-byte message limit`,
      )
    : undefined;
};

/**
 * One upload's effects (the machine calls them as methods) and its cleanup. A class, so an upload costs
 * one object where it cost five closures and the scope they shared (decision 121).
 */
class UploadRun<M extends FileMessage | ImageMessage> implements TransferEffects<M> {
  private opened: OpenedSource | undefined = undefined;
  private uploadId: string | undefined = undefined;
  // Set while the hub creates the upload, so a cleanup that comes first still terminates what it creates.
  private creating: Promise<{ readonly uploadId: string }> | undefined = undefined;
  private probed: { width: number; height: number } | undefined = undefined;
  private readonly draft: Draft;

  constructor(
    private readonly kind: M['messageType'],
    private readonly session: Session,
    private readonly source: UploadSource,
    private readonly options: ImageUploadOptions,
    private readonly files: () => Promise<FileAccess>,
  ) {
    this.draft = fields(options, source);
  }

  async open(signal: AbortSignal): Promise<{ readonly total: number }> {
    const opened = await openSource(this.source, this.files);
    this.opened = opened;
    const { options } = this;
    if (this.kind === 'IMAGE' && (options.width === undefined || options.height === undefined)) {
      // Content decides the format, never the file name; unknown formats are 0 × 0.
      this.probed = probeImage(await opened.head(IMAGE_PROBE_BYTES, signal));
    }
    const creating = this.session.createUpload({ size: opened.size, fileName: this.draft.fileName ?? '' }, { signal });
    this.creating = creating;
    this.uploadId = (await creating).uploadId;
    return { total: opened.size };
  }

  async move(offset: number, signal: AbortSignal, onProgress: (offset: number) => void): Promise<M> {
    const { opened, uploadId } = this;
    if (!opened || uploadId === undefined) throw fault(Failure.unknown('upload moved before it was opened'));
    const state = await this.session.appendUpload(uploadId, offset, opened, { signal, onProgress });
    if (!state.complete) {
      throw fault(Failure.invalidArgument('source', `the file ended at ${state.offset} of ${opened.size} bytes: it changed during the upload`));
    }
    return this.build(uploadId, opened.size);
  }

  async locate(signal: AbortSignal): Promise<Located<M>> {
    const { opened, uploadId } = this;
    if (!opened || uploadId === undefined) throw fault(Failure.unknown('upload located before it was opened'));
    const state = await this.session.getUpload(uploadId, { signal });
    return state.complete ? { done: this.build(uploadId, opened.size) } : { offset: state.offset };
  }

  /** Terminates the upload at the hub, if one was (or is being) created. */
  readonly cleanup = async (signal: AbortSignal): Promise<void> => {
    const id =
      this.uploadId ??
      (await this.creating?.then(
        (created) => created.uploadId,
        () => undefined,
      ));
    if (id !== undefined) await this.session.terminateUpload(id, { signal });
  };

  private build(mediaId: string, size: number): M {
    const { draft, options, probed } = this;
    // `size` first: V8 gives a copy of an object that then gains a key (`{ ...draft, size }`) a hidden class
    // of its own every time (decision 148). The draft has no size to override it.
    if (this.kind === 'FILE') return fileMessage(mediaId, { size, ...draft }) as M;
    return imageMessage(mediaId, {
      size,
      ...draft,
      width: options.width ?? probed?.width ?? 0,
      height: options.height ?? probed?.height ?? 0,
    }) as M;
  }
}

/** The effects and cleanup of one upload, producing the message to send. */
export const uploadEffects = <M extends FileMessage | ImageMessage>(
  kind: M['messageType'],
  session: Session,
  source: UploadSource,
  options: ImageUploadOptions,
  files: () => Promise<FileAccess>,
): { readonly effects: TransferEffects<M>; readonly cleanup: (signal: AbortSignal) => Promise<void> } => {
  const run = new UploadRun<M>(kind, session, source, options, files);
  return { effects: run, cleanup: run.cleanup };
};

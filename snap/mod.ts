/**
 * Snapshot files: `<term>-<index>.snap` (16 hex digits each) in `<data-dir>/snap/`, each a small
 * header (magic, version, lengths, CRC over header and payload: zlib CRC-32, or CRC-32C in
 * version 1), the snapshot's metadata and the state machine's data; the format is in
 * snapshot_file.ts. Files are written atomically (temporary file, sync, read back, rename,
 * directory sync); the newest five are kept; a corrupt file is skipped with a warning when
 * loading.
 *
 * Saves and loads stream the data in slices (1 MiB by default) and yield to the event loop between
 * slices (snapshot_io.ts), so a snapshot of hundreds of MB never holds the loop for more than one
 * slice's CRC; a save writes from the snapshot's own buffer, which must not change until it ends,
 * or from a `SnapshotStream` that produces the data chunk by chunk as it is written.
 *
 * On restart the server asks the WAL for its snapshot markers and loads the newest snapshot the
 * WAL knows of (`loadNewestAvailable`), then opens the WAL at it. Saving order: the snapshot file
 * first, then the WAL marker (`Wal.saveSnapshot`), so a marker never names a missing file.
 */
export { snapshotFileName, Snapshotter, type SnapshotterOptions } from "./snapshotter.ts";
export type { SnapshotSource, SnapshotStream } from "./snapshot_io.ts";
export {
  SNAPSHOT_FILE_BYTES_MAX,
  SNAPSHOT_FORMAT_VERSION,
  SnapshotFileError,
} from "./snapshot_file.ts";

/**
 * # raftkv write-ahead log
 *
 * The WAL holds what raft must not forget across a crash: the node's metadata, its hard state,
 * its log entries and the positions of the snapshots it took. It lives in `<data-dir>/wal/`.
 *
 * ## Files
 *
 * The log is a sequence of segment files named `<seq>-<firstIndex>.wal`, both 16 lowercase hex
 * digits, e.g. `0000000000000003-0000000000001f40.wal`: `seq` counts up from 0 with no gaps, and
 * `firstIndex` is the last entry index written before the segment was started, plus one (a hint
 * for finding where to start reading; a segment may still hold a lower index when raft overwrote
 * a conflicting suffix). A segment is started once the current one passes `segmentBytesMax`
 * (64 MiB). New segments are written as `<name>.tmp`, synced, renamed, and the directory synced;
 * a leftover `.tmp` is removed on open. Files with other names are ignored.
 *
 * A new segment is preallocated: extended to `segmentBytesMax` with zeros (sparse). Appends
 * write real zeros a MiB ahead of themselves, so that most fdatasyncs land on allocated blocks and
 * need no journal commit. When a segment is sealed it is truncated to its last record, so only
 * the last segment ends in zeros.
 *
 * ## Records
 *
 * A segment is a series of records, each starting at a multiple of 16 bytes:
 *
 * ```
 * offset  0: u32 LE  lenType    payload length in the low 27 bits, record type in the high 5
 * offset  4: u32 LE  crc        CRC-32C of bytes 0..3 and the payload, continued from the chain
 * offset  8: u32 LE  headerCrc  CRC-32C of bytes 0..7 (starting from 0)
 * offset 12: u32     zero
 * offset 16: payload (length bytes), then 0..15 zero bytes of padding to the next multiple of 16
 * ```
 *
 * A 16-byte header at a multiple of 16 never straddles a 512-byte sector, so a crash leaves it
 * whole or zero; with its own CRC, a damaged header (length, type, CRC) is always detected as
 * corruption rather than mistaken for a torn write.
 *
 * A payload is at most 64 MiB. Integers in payloads are little-endian; "u64" fields hold
 * integers below 2^53. Record types:
 *
 * - 1 metadata: u64 node id, then the cluster id in UTF-8 (at most 1024 bytes).
 * - 2 CRC seed: u32, the CRC the previous segment ended with (0 in the first segment).
 * - 3 hard state: u64 term, u64 vote, u64 commit.
 * - 4 entry: u64 term, u64 index, u8 entry type, then the entry's data.
 * - 5 snapshot marker: u64 index, u64 term of a snapshot that was saved.
 *
 * Every segment starts with a CRC seed record, then a metadata record, then (except in the first
 * segment, and if one was saved) the hard state current when it was started, so that releasing
 * older segments loses nothing. A `save` appends one entry record per entry and then a hard
 * state record.
 *
 * ## CRC chain
 *
 * Each record's CRC is CRC-32C (Castagnoli) over its first four header bytes and its payload,
 * continued from the CRC of the record before it, so a record copied from elsewhere does not
 * verify. The CRC seed record's own CRC starts from 0, and the chain continues from the value it
 * holds; a reader that read the previous segment checks that value against that segment's last
 * CRC, so the chain runs across segments.
 *
 * ## Reading, torn writes and corruption
 *
 * Entries are read in order; an entry at index i drops every entry >= i read before it (raft
 * overwrote a conflicting suffix); an entry beyond the last index + 1 is corruption.
 *
 * A crash can tear only the last, unsynced write, and a torn write leaves zeros (sectors that
 * never reached the disk) or a short file. So in the last segment the log ends at: the end of
 * the file; a header of 16 zero bytes (the preallocated tail); a record cut short by the end of
 * the file; or a record whose CRC fails and which holds a sector-bounded (512-byte) piece of
 * zeros (a flipped bit never makes one; a record whose own data has 512 zero bytes and fails
 * its CRC would be taken for torn, as in etcd). Non-zero bytes after that end are a torn tail:
 * they are cut off on open, with a log line saying how many bytes. Anything else wrong (a CRC
 * mismatch, a header CRC mismatch, an unknown type, an impossible length or payload, non-zero
 * padding, a gap in the segment sequence), or any of the above in a segment other than the
 * last, is a `WalCorruptError` naming the file and byte offset. Opening validates everything it
 * reads before writing anything, so a corrupt WAL is left exactly as it was.
 *
 * The last segment is read up to its first all-zero 1 MiB chunk (further if a record runs past
 * it); after validation, open truncates the segment at the end of its last valid record, syncs,
 * and extends it again, so anything unread past that point is zeroed before appends reach it.
 *
 * ## Syncing
 *
 * `save` encodes the whole batch into one buffer, writes it with one write loop and calls
 * fdatasync once. Created, renamed and removed files are followed by an fsync of the directory.
 */
export {
  RELEASE_RETAIN_SEGMENTS_DEFAULT,
  SEGMENT_BYTES_MAX_DEFAULT,
  Wal,
  type WalCreateOptions,
  type WalOpenOptions,
  type WalOpenResult,
  type WalOptions,
} from "./wal.ts";
export type { WalMetadata, WalSnapshotMarker } from "./codec.ts";
export { WalCorruptError } from "./errors.ts";
export { RECORD_PAYLOAD_BYTES_MAX } from "./record.ts";
export { BATCH_BYTES_MAX } from "./batch.ts";
export { crc32c } from "./crc32c.ts";
export { acquireDataDirLock, type DataDirLock, DataDirLockedError } from "./data_dir_lock.ts";

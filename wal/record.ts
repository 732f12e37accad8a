/**
 * WAL record framing (see the format in mod.ts): a 16-byte header holding the length, the type, a
 * CRC-32C chained from the previous record and a CRC of the header itself, then the payload, then
 * zero padding to 16 bytes. The header never straddles a 512-byte sector, so a torn write leaves
 * it either whole or zero, and a header that fails its own CRC is corruption, never a torn write.
 */
import { assert } from "./assert.ts";
import { crc32cRange } from "./crc32c.ts";

export const RecordType = {
  Metadata: 1,
  CrcSeed: 2,
  HardState: 3,
  Entry: 4,
  Snapshot: 5,
} as const;
export type RecordType = typeof RecordType[keyof typeof RecordType];

export const HEADER_BYTES = 16;
export const ALIGN_BYTES = 16;
/** Largest payload of one record: 64 MiB. The length field has 27 bits (128 MiB - 1). */
export const RECORD_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;
/** Sector size assumed by the torn-write rule. */
export const SECTOR_BYTES = 512;

const LENGTH_MASK = 0x7ffffff;
const TYPE_SHIFT = 27;

/** Bytes a record with a payload of `payloadBytes` takes on disk, header and padding included. */
export function recordBytes(payloadBytes: number): number {
  const raw = HEADER_BYTES + payloadBytes;
  return raw + ((ALIGN_BYTES - (raw % ALIGN_BYTES)) % ALIGN_BYTES);
}

/**
 * Frames the record whose payload was already written at `offset + HEADER_BYTES` of `buf`, chaining
 * its CRC from `prevCrc`, and zeroes its padding (the buffer may be reused). Returns the record's
 * CRC.
 */
export function frameRecord(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  record: { type: RecordType; payloadBytes: number; prevCrc: number },
): number {
  const { type, payloadBytes, prevCrc } = record;
  assert(payloadBytes >= 0 && payloadBytes <= RECORD_PAYLOAD_BYTES_MAX, "record payload size");
  assert(offset % ALIGN_BYTES === 0, "records are 16-byte aligned");
  view.setUint32(offset, ((type << TYPE_SHIFT) | payloadBytes) >>> 0, true);
  const payloadStart = offset + HEADER_BYTES;
  buf.fill(0, payloadStart + payloadBytes, offset + recordBytes(payloadBytes));
  let crc = crc32cRange(buf, offset, offset + 4, prevCrc);
  crc = crc32cRange(buf, payloadStart, payloadStart + payloadBytes, crc);
  view.setUint32(offset + 4, crc, true);
  view.setUint32(offset + 8, crc32cRange(buf, offset, offset + 8), true);
  view.setUint32(offset + 12, 0, true);
  return crc;
}

export interface ScannedRecord {
  type: RecordType;
  /** Byte offset of the record's header in its segment. */
  offset: number;
  payload: Uint8Array;
}

/** The result of scanning one segment's bytes. */
export interface SegmentScan {
  records: ScannedRecord[];
  /** Offset just past the last valid record: where appending continues. */
  validEnd: number;
  /** Bytes from `validEnd` to the end of the file's last non-zero byte: a torn tail to cut. */
  tornBytes: number;
  /** Why the tail was judged torn, for the log line. */
  tornReason: string;
  /** The last record was cut short by the end of `bytes` (more of the file may hold the rest). */
  endsShort: boolean;
  /** CRC of the last valid record: the next record chains from it. */
  crc: number;
}

/** A record that is not a torn tail: the caller turns it into a WalCorruptError. */
export class RecordScanError extends Error {
  readonly offset: number;
  readonly reason: string;
  constructor(offset: number, reason: string) {
    super(`${reason} at byte ${offset}`);
    this.offset = offset;
    this.reason = reason;
  }
}

function isKnownType(t: number): t is RecordType {
  return t >= RecordType.Metadata && t <= RecordType.Snapshot;
}

export function allZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * True if the record at [from, to) has a sector-bounded piece that is all zeros: what a write
 * torn by a crash leaves (the sector was never written), and what a flipped bit does not.
 */
function hasZeroSectorPiece(buf: Uint8Array, from: number, to: number): boolean {
  let start = from;
  while (start < to) {
    const end = Math.min(to, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (allZero(buf, start, end)) return true;
    start = end;
  }
  return false;
}

/**
 * Reads every record of a segment, read-only. The first record of every segment is a CRC seed whose
 * own CRC starts from 0; the records after it chain from the seed's value.
 *
 * In the last segment (`isLast`) a record cut short by the end of the file, a zero header, or a
 * record whose CRC fails and that holds an all-zero sector piece ends the log (a torn write);
 * anything else that is wrong throws RecordScanError. In other segments everything wrong throws.
 */
export function scanSegment(bytes: Uint8Array, isLast: boolean): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: ScannedRecord[] = [];
  let crc = 0;
  let offset = 0;
  const n = bytes.length;
  const torn = (reason: string, endsShort = false): SegmentScan => {
    let last = n;
    while (last > offset && bytes[last - 1] === 0) last--;
    return {
      records,
      validEnd: offset,
      tornBytes: last - offset,
      tornReason: reason,
      crc,
      endsShort,
    };
  };
  // Bounded: every iteration advances offset by at least HEADER_BYTES.
  while (offset < n) {
    if (n - offset < HEADER_BYTES) {
      if (isLast) return torn("record header cut short", true);
      throw new RecordScanError(offset, "record header cut short");
    }
    if (allZero(bytes, offset, offset + HEADER_BYTES)) {
      // Zeros: the preallocated end of the last segment (or a torn write whose header never
      // reached the disk).
      if (isLast) return torn("zero record header followed by data");
      throw new RecordScanError(offset, "zero record header");
    }
    const lenType = view.getUint32(offset, true);
    const storedCrc = view.getUint32(offset + 4, true);
    if (crc32cRange(bytes, offset, offset + 8) !== view.getUint32(offset + 8, true)) {
      throw new RecordScanError(offset, "record header CRC mismatch");
    }
    if (view.getUint32(offset + 12, true) !== 0) {
      throw new RecordScanError(offset, "non-zero reserved header bytes");
    }
    const type = lenType >>> TYPE_SHIFT;
    const length = lenType & LENGTH_MASK;
    if (!isKnownType(type)) throw new RecordScanError(offset, `unknown record type ${type}`);
    if (length > RECORD_PAYLOAD_BYTES_MAX) {
      throw new RecordScanError(offset, `record length ${length} over the limit`);
    }
    if (records.length === 0 && type !== RecordType.CrcSeed) {
      throw new RecordScanError(offset, "segment does not start with a CRC seed record");
    }
    const end = offset + recordBytes(length);
    if (end > n) {
      if (isLast) return torn("record cut short", true);
      throw new RecordScanError(offset, "record cut short by the end of the file");
    }
    const payloadStart = offset + HEADER_BYTES;
    const prev = type === RecordType.CrcSeed ? 0 : crc;
    let computed = crc32cRange(bytes, offset, offset + 4, prev);
    computed = crc32cRange(bytes, payloadStart, payloadStart + length, computed);
    if (computed !== storedCrc) {
      if (isLast && hasZeroSectorPiece(bytes, offset, end)) {
        return torn("torn record (zero sector)");
      }
      throw new RecordScanError(offset, "CRC mismatch");
    }
    if (!allZero(bytes, payloadStart + length, end)) {
      throw new RecordScanError(offset, "non-zero record padding");
    }
    if (type === RecordType.CrcSeed) {
      if (records.length !== 0) {
        throw new RecordScanError(offset, "CRC seed record inside a segment");
      }
      if (length !== 4) throw new RecordScanError(offset, "CRC seed record of wrong size");
      crc = view.getUint32(payloadStart, true);
    } else {
      crc = computed;
    }
    records.push({ type, offset, payload: bytes.subarray(payloadStart, payloadStart + length) });
    offset = end;
  }
  return { records, validEnd: offset, tornBytes: 0, tornReason: "", crc, endsShort: false };
}

/**
 * A record that fails its checksum or cannot be decoded, anywhere but the torn tail of the last
 * segment. Opening the WAL stops here without changing any file: an operator must look.
 */
export class WalCorruptError extends Error {
  /** Path of the segment file. */
  readonly file: string;
  /** Byte offset of the bad record within `file`. */
  readonly offset: number;

  constructor(file: string, offset: number, reason: string) {
    super(`Cannot open WAL segment ${file}: ${reason} at byte ${offset}`);
    this.name = "WalCorruptError";
    this.file = file;
    this.offset = offset;
  }
}

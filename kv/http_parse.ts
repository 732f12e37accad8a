/**
 * Parsing helpers of the REST API: keys and query values percent-decoded to BYTES (a key may be
 * any bytes, so `decodeURIComponent`, which insists on UTF-8, is not usable), entity tags, request
 * bodies read under a byte limit.
 */
import { KEY_BYTES_MAX } from "./command.ts";
import { BadRequestError, PayloadTooLargeError } from "./errors.ts";

const textEncoder = new TextEncoder();
/** Lossy on purpose: for query values that are names, not data. */
const lossyDecoder = new TextDecoder();

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes `s` to bytes. Chars above 0x7f (only possible when the URL was not normalized)
 * are taken as their UTF-8 bytes. `plusAsSpace` is for query strings (form encoding).
 */
export function percentDecodeBytes(s: string, options?: { plusAsSpace?: boolean }): Uint8Array {
  const plusAsSpace = options?.plusAsSpace ?? false;
  // Fast path, the usual key: ASCII with nothing to decode is its own bytes.
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */ || c > 0x7f || (c === 0x2b /* + */ && plusAsSpace)) {
      plain = false;
      break;
    }
  }
  if (plain) {
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes;
  }
  const out = new Uint8Array(s.length * 3); // A char is at most 3 UTF-8 bytes here.
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hi = i + 2 < s.length ? hexValue(s.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (lo < 0) {
        throw new BadRequestError(`Malformed percent-encoding at position ${i} of "${s}"`);
      }
      out[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b /* + */ && plusAsSpace) {
      out[n++] = 0x20;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      // Encode this char (or surrogate pair) as UTF-8.
      const cp = s.codePointAt(i)!;
      const bytes = textEncoder.encode(String.fromCodePoint(cp));
      out.set(bytes, n);
      n += bytes.length;
      if (cp > 0xffff) i++;
    }
  }
  return out.slice(0, n);
}

/** The raw (still percent-encoded) path and query of a request URL. */
export function splitUrl(url: string): { path: string; query: string } {
  const schemeEnd = url.indexOf("://");
  const pathStart = url.indexOf("/", schemeEnd < 0 ? 0 : schemeEnd + 3);
  if (pathStart < 0) return { path: "/", query: "" };
  let end = url.indexOf("#", pathStart);
  if (end < 0) end = url.length;
  const q = url.indexOf("?", pathStart);
  if (q >= 0 && q < end) return { path: url.slice(pathStart, q), query: url.slice(q + 1, end) };
  return { path: url.slice(pathStart, end), query: "" };
}

/** The key of a `/kv/<key>` URL, as bytes; 400 unless 1..4096 bytes. */
export function keyFromUrl(url: string): Uint8Array {
  const { path } = splitUrl(url);
  if (!path.startsWith("/kv/")) throw new BadRequestError(`Not a key path: ${path}`);
  const key = percentDecodeBytes(path.slice(4));
  if (key.length < 1 || key.length > KEY_BYTES_MAX) {
    throw new BadRequestError(`A key must be 1 to ${KEY_BYTES_MAX} bytes, got ${key.length}`);
  }
  return key;
}

/** Query parameters as raw (percent-encoded) values; the first of repeated names wins. */
export function rawQuery(url: string): Map<string, string> {
  const params = new Map<string, string>();
  const { query } = splitUrl(url);
  if (query === "") return params;
  const parts = query.split("&");
  if (parts.length > 64) throw new BadRequestError("Too many query parameters (max 64)");
  for (const part of parts) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const name = lossyDecoder.decode(percentDecodeBytes(rawName, { plusAsSpace: true }));
    if (!params.has(name)) params.set(name, eq < 0 ? "" : part.slice(eq + 1));
  }
  return params;
}

/** A raw query value decoded as text (lossy UTF-8). */
export function queryText(raw: string): string {
  return lossyDecoder.decode(percentDecodeBytes(raw, { plusAsSpace: true }));
}

const ETAG_RE = /^"(\d{1,16})"$/;

/** Parses a comma-separated list of strong `"R"` ETags (our revisions). */
export function parseEtagList(header: string, name: string): number[] {
  const revisions: number[] = [];
  const parts = header.split(",");
  if (parts.length > 64) throw new BadRequestError(`${name} lists more than 64 entity tags`);
  for (const raw of parts) {
    const part = raw.trim();
    const m = ETAG_RE.exec(part);
    const revision = m ? Number(m[1]) : NaN;
    if (!Number.isSafeInteger(revision)) {
      throw new BadRequestError(
        `${name} must be * or a list of strong entity tags like "42", got ${JSON.stringify(part)}`,
      );
    }
    revisions.push(revision);
  }
  return revisions;
}

/** An entity tag for a revision: strong, `"R"`. */
export function etag(revision: number): string {
  return `"${revision}"`;
}

/**
 * Reads a request body, refusing (413) one over `limitBytes` without buffering more than that:
 * first by its Content-Length, then by counting the bytes of the stream.
 */
export async function readBodyLimited(req: Request, limitBytes: number): Promise<Uint8Array> {
  const lengthHeader = req.headers.get("content-length");
  if (lengthHeader !== null) {
    if (!/^\d{1,16}$/.test(lengthHeader.trim())) {
      throw new BadRequestError(`Bad Content-Length: ${JSON.stringify(lengthHeader)}`);
    }
    if (Number(lengthHeader) > limitBytes) throw new PayloadTooLargeError(limitBytes);
    // The HTTP server delivers exactly Content-Length bytes, so the body fits the limit: read it
    // in one go (a stream reader costs several times more CPU per request). Checked again for
    // in-process requests, whose header need not match their body.
    const body = new Uint8Array(await req.arrayBuffer());
    if (body.length > limitBytes) throw new PayloadTooLargeError(limitBytes);
    return body;
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    // Bounded: each turn adds bytes and we stop once past limitBytes.
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limitBytes) {
        await reader.cancel().catch(() => {});
        throw new PayloadTooLargeError(limitBytes);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Reads a JSON object body of at most `limitBytes`; 400 when it is not a JSON object. */
export async function readJsonObject(
  req: Request,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBodyLimited(req, limitBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new BadRequestError(
      `Request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError("Request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** A positive safe integer member id, from a path segment or a JSON value. */
export function parseId(value: unknown, what: string): number {
  const n = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new BadRequestError(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

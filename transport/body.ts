/** Reading request and response bodies with a bound on the bytes held in memory. */

/** The body is larger than the limit of its route; answered with 413. */
export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

/**
 * Reads the whole body of `req`, refusing (BodyTooLargeError) as soon as it exceeds `limitBytes`,
 * whatever the headers claim. A declared length (Content-Length, or the `lengthHeader` a streaming
 * sender sets since chunked requests carry none) lets it read into one buffer without a copy;
 * a body that turns out longer or shorter than declared is still read correctly.
 */
export async function readBodyLimited(
  req: Request,
  options: { limitBytes: number; lengthHeader?: string },
): Promise<Uint8Array> {
  const { limitBytes } = options;
  const declared = req.headers.get("content-length") ??
    (options.lengthHeader === undefined ? null : req.headers.get(options.lengthHeader));
  let expected = -1;
  if (declared !== null) {
    const n = Number(declared);
    if (Number.isSafeInteger(n) && n >= 0) expected = n;
  }
  if (expected > limitBytes) {
    await req.body?.cancel();
    throw new BodyTooLargeError(`Body of ${expected} bytes exceeds the limit of ${limitBytes}`);
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const tooLarge = async (n: number): Promise<never> => {
    await reader.cancel();
    throw new BodyTooLargeError(`Body of at least ${n} bytes exceeds the limit of ${limitBytes}`);
  };
  if (expected >= 0) {
    const buf = new Uint8Array(expected);
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > expected) {
        // More than declared: fall back to the chunked path's limit check.
        if (n + value.length > limitBytes) return await tooLarge(n + value.length);
        const rest = await readChunks(reader, limitBytes, n + value.length);
        if (rest === undefined) return await tooLarge(limitBytes + 1);
        return concat([buf.subarray(0, n), value, ...rest.chunks], rest.total);
      }
      buf.set(value, n);
      n += value.length;
    }
    return n === expected ? buf : buf.subarray(0, n);
  }
  const rest = await readChunks(reader, limitBytes, 0);
  if (rest === undefined) return await tooLarge(limitBytes + 1);
  return concat(rest.chunks, rest.total);
}

async function readChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limitBytes: number,
  already: number,
): Promise<{ chunks: Uint8Array[]; total: number } | undefined> {
  const chunks: Uint8Array[] = [];
  let total = already;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { chunks, total };
    total += value.length;
    if (total > limitBytes) return undefined;
    chunks.push(value);
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === total) return chunks[0]!;
  const buf = new Uint8Array(total);
  let n = 0;
  for (const c of chunks) {
    buf.set(c, n);
    n += c.length;
  }
  return buf;
}

/** Reads at most `maxBytes` of a response body as text (for error messages), then drops the rest. */
export async function readTextPrefix(res: Response, maxBytes: number): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = new TextDecoder().decode(concat(chunks, total).subarray(0, maxBytes));
  return text.length > 0 && total > maxBytes ? `${text}...` : text;
}

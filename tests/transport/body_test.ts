import assert from "node:assert/strict";
import { BodyTooLargeError, readBodyLimited } from "../../transport/body.ts";

function streamOf(...chunks: number[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      const n = chunks[i++];
      if (n === undefined) c.close();
      else c.enqueue(new Uint8Array(n).fill(i));
    },
  });
}

function post(body: BodyInit, headers: Record<string, string> = {}): Request {
  return new Request("http://x/raft/snapshot", { method: "POST", body, headers });
}

Deno.test("a chunked body is read whole, with or without a length hint", async () => {
  const expect = [...new Uint8Array(3).fill(1), ...new Uint8Array(5).fill(2)];
  const plain = await readBodyLimited(post(streamOf(3, 5)), { limitBytes: 8 });
  assert.deepStrictEqual([...plain], expect);
  for (const hint of ["8", "2", "100", "junk"]) {
    const b = await readBodyLimited(post(streamOf(3, 5), { "x-len": hint }), {
      limitBytes: 100,
      lengthHeader: "x-len",
    });
    assert.deepStrictEqual([...b], expect, `hint ${hint}`);
  }
});

Deno.test("a body over the limit is refused, whatever its headers claim", async () => {
  await assert.rejects(
    readBodyLimited(post(streamOf(4, 4, 4)), { limitBytes: 10 }),
    BodyTooLargeError,
  );
  await assert.rejects(
    readBodyLimited(post(streamOf(4, 4, 4), { "x-len": "4" }), {
      limitBytes: 10,
      lengthHeader: "x-len",
    }),
    BodyTooLargeError,
  );
  await assert.rejects(
    readBodyLimited(post(streamOf(1), { "x-len": "11" }), {
      limitBytes: 10,
      lengthHeader: "x-len",
    }),
    /11 bytes exceeds the limit of 10/,
  );
  await assert.rejects(
    readBodyLimited(post(new Uint8Array(11)), { limitBytes: 10 }),
    BodyTooLargeError,
  );
});

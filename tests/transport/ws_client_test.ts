import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, PeerSocket, SocketState } from "../../transport/ws_client.ts";

function serveSockets(onSocket: (socket: WebSocket, headers: Headers) => void, refuse?: number) {
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    if (refuse !== undefined) return new Response("refused", { status: refuse });
    const headers = new Headers(req.headers); // unreadable on the request once upgraded
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    onSocket(socket, headers);
    return response;
  });
}

Deno.test("ws client: binary messages of every length class arrive whole and in order", async () => {
  const received: Uint8Array[] = [];
  let from: string | null = null;
  let serverClosed!: (code: number) => void;
  const closedOnServer = new Promise<number>((resolve) => serverClosed = resolve);
  const server = serveSockets((socket, headers) => {
    from = headers.get("x-raftkv-from");
    socket.onmessage = (e) => received.push(new Uint8Array(e.data as ArrayBuffer));
    socket.onclose = (e) => serverClosed(e.code);
  });
  const sizes = [0, 1, 125, 126, 65535, 65536, 300_000];
  const ws = new PeerSocket(`ws://127.0.0.1:${server.addr.port}/raft/stream`, {
    headers: { "x-raftkv-from": "7" },
  });
  await new Promise<void>((resolve) => ws.onopen = resolve);
  assert.equal(ws.readyState, SocketState.Open);
  for (const [i, n] of sizes.entries()) ws.send(new Uint8Array(n).fill(i + 1));
  while (received.length < sizes.length) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(received.map((m) => m.length), sizes);
  for (const [i, m] of received.entries()) assert.ok(m.every((b) => b === i + 1), `message ${i}`);
  assert.equal(from, "7");
  assert.equal(ws.bufferedAmount, 0);
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  ws.close(4000, "done");
  assert.equal((await closed).code, 4000, "the server echoes the close code");
  assert.equal(await closedOnServer, 4000);
  assert.equal(ws.readyState, SocketState.Closed);
  await server.shutdown();
});

Deno.test("ws client: a refused handshake is an error then a close, and nothing is sent", async () => {
  const server = serveSockets(() => {}, 412);
  const ws = new PeerSocket(`ws://127.0.0.1:${server.addr.port}/raft/stream`, { headers: {} });
  const error = new Promise<ErrorEvent>((resolve) => ws.onerror = resolve);
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  ws.send(new Uint8Array(3)); // not open: ignored
  assert.match((await error).message, /HTTP 412/);
  assert.equal((await closed).code, 1006);
  assert.equal(ws.readyState, SocketState.Closed);
  await server.shutdown();
});

Deno.test("ws client: closing before the socket opens ends it at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // accepts, never answers
  const ws = new PeerSocket(`ws://127.0.0.1:${listener.addr.port}/`, { headers: {} });
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  ws.close();
  assert.equal((await closed).code, 1006);
  const conn = await listener.accept();
  conn.close();
  listener.close();
});

Deno.test("ws client: frames encode with the right length forms and decode back, masked or not", () => {
  for (const n of [0, 125, 126, 65535, 65536]) {
    const payload = new Uint8Array(n).map((_, i) => i & 0xff);
    const frame = encodeFrame(0x2, payload);
    assert.equal(frame[0], 0x82);
    assert.equal(frame[1]! & 0x80, 0x80, "client frames carry the mask bit");
    const decoded = decodeFrame(frame)!;
    assert.equal(decoded.opcode, 0x2);
    assert.equal(decoded.length, frame.length);
    assert.deepEqual(decoded.payload, payload);
    assert.equal(decodeFrame(frame.subarray(0, frame.length - 1)), undefined, "incomplete");
  }
  // A masked frame with a real key unmasks.
  const masked = new Uint8Array([0x89, 0x83, 1, 2, 3, 4, 0x61 ^ 1, 0x62 ^ 2, 0x63 ^ 3]);
  assert.deepEqual(decodeFrame(masked)?.payload, new Uint8Array([0x61, 0x62, 0x63]));
  // An oversized frame from the server is refused.
  const huge = new Uint8Array(10);
  huge.set([0x82, 127]);
  new DataView(huge.buffer).setBigUint64(2, 1n << 40n);
  assert.throws(() => decodeFrame(huge), /bytes from the server/);
});

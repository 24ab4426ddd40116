#!/usr/bin/env node
// A Switchboard gateway receiver in Node, no framework and no dependency (node:http and
// node:crypto only).
//
// It verifies each forwarded event's Standard Webhooks signature (HMAC-SHA256 of
// "{webhook-id}.{webhook-timestamp}.{body}" with the whsec_ secret, timestamp within 5 minutes,
// compared in constant time), and answers a message with a synchronous reply:
// {"messages": [{"text": "echo: ..."}]}. Switchboard queues that reply in the same transaction
// that marks the event delivered, so it is sent once even if something crashes.
//
// Run:  FORWARD_SECRET=whsec_... node examples/gateway/receiver.mjs 8082
// with  [[gateway.forward]] url = "http://127.0.0.1:8082/events", secrets = ["${FORWARD_SECRET}"]
// (and allow_private_targets = true for a local address).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const SECRET = Buffer.from(process.env.FORWARD_SECRET.replace(/^whsec_/, ""), "base64");
const TOLERANCE_SECONDS = 5 * 60;

function verified(headers, body) {
  const id = headers["webhook-id"] ?? "";
  const timestamp = headers["webhook-timestamp"] ?? "";
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) {
    return false;
  }
  const expected = createHmac("sha256", SECRET)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  return (headers["webhook-signature"] ?? "")
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .map((s) => Buffer.from(s.slice(3), "base64"))
    .some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    if (req.method !== "POST" || !verified(req.headers, body)) {
      res.writeHead(401).end();
      return;
    }
    const event = JSON.parse(body.toString("utf8"));
    let answer = {};
    if (event.type === "message.received") {
      answer = { messages: [{ text: `echo: ${event.data.kind.text ?? ""}` }] };
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
});

server.listen(Number(process.argv[2] ?? 8082), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});

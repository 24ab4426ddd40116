// Verifies forwarded requests with the official Standard Webhooks library (npm
// `standardwebhooks`), loaded from the node_modules directory SWITCHBOARD_NODE_MODULES names
// (.ci/run installs it there). Input: a JSON file of {"secret", "requests": [{"headers", "body"}]}.
// Prints "verified N"; exits 3 when the library is missing, 1 when a request does not verify.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const modules = process.env.SWITCHBOARD_NODE_MODULES ?? "node_modules";
let Webhook;
try {
  ({ Webhook } = createRequire(join(modules, "..", "verify.cjs"))("standardwebhooks"));
} catch (e) {
  console.error(`standardwebhooks is not installed under ${modules}: ${e.message}`);
  process.exit(3);
}
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const wh = new Webhook(cases.secret);
for (const r of cases.requests) {
  const payload = wh.verify(r.body, r.headers);
  if (!payload.data.id) {
    throw new Error(`no data.id in ${r.body}`);
  }
}
console.log(`verified ${cases.requests.length}`);

// Checks that the widget's markdown renderer keeps hostile text inert: only p, strong, em,
// code, a and br elements are made, links are only http(s), and no text becomes markup; and
// that a truncated history (`status history_truncated`) is noted once, before the records kept.
// Run with: node adapters/webchat/widget/widget.test.js (the crate's tests/widget.rs runs it
// when node is installed). A minimal DOM stands in for the browser's.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

class Node {
  constructor(type, name) { this.nodeType = type; this.nodeName = name; this.childNodes = []; this.attrs = {}; this.data = ""; }
  appendChild(c) {
    if (c.nodeName === "#fragment") { c.childNodes.forEach((x) => this.childNodes.push(x)); c.childNodes = []; }
    else this.childNodes.push(c);
    return c;
  }
  replaceChild(n, old) {
    const i = this.childNodes.indexOf(old);
    const add = n.nodeName === "#fragment" ? n.childNodes : [n];
    this.childNodes.splice(i, 1, ...add);
    if (n.nodeName === "#fragment") n.childNodes = [];
  }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  set textContent(t) { this.childNodes = [text(String(t))]; }
  get textContent() { return this.nodeType === 3 ? this.data : this.childNodes.map((c) => c.textContent).join(""); }
  set innerHTML(_) { throw new Error("innerHTML must never be used"); }
}
function text(t) { const n = new Node(3, "#text"); n.data = t; return n; }
const document = {
  createElement: (tag) => new Node(1, tag.toLowerCase()),
  createTextNode: text,
  createDocumentFragment: () => new Node(11, "#fragment"),
};
const window = { location: { href: "https://shop.example/page" }, addEventListener() {} };
const context = { window, document, URL, console };
vm.createContext(context);
vm.runInContext(fs.readFileSync(path.join(__dirname, "widget.js"), "utf8"), context);
const render = window.SwitchboardChat.renderMarkdown;

function walk(node, out) {
  node.childNodes.forEach((c) => { if (c.nodeType === 1) out.push(c); walk(c, out); });
  return out;
}

const allowed = new Set(["p", "strong", "em", "code", "a", "br"]);
let failures = 0;
function check(input, expectText) {
  const root = render(input);
  const elements = walk(root, []);
  for (const e of elements) {
    if (!allowed.has(e.nodeName)) { failures++; console.error(`FAIL ${JSON.stringify(input)}: made <${e.nodeName}>`); }
    if (e.nodeName === "a" && !/^https?:/.test(e.attrs.href || "")) { failures++; console.error(`FAIL ${JSON.stringify(input)}: link ${e.attrs.href}`); }
    if (Object.keys(e.attrs).some((k) => k.startsWith("on"))) { failures++; console.error(`FAIL ${JSON.stringify(input)}: event handler`); }
  }
  if (expectText !== undefined && !root.textContent.includes(expectText)) {
    failures++; console.error(`FAIL ${JSON.stringify(input)}: text ${JSON.stringify(root.textContent)} lacks ${JSON.stringify(expectText)}`);
  }
  return elements;
}

check("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>");
check("<script>alert(1)</script>", "<script>alert(1)</script>");
check("[click](javascript:alert(1))", "[click](javascript:alert(1))");
check("[click](JAVASCRIPT:alert(1))");
check("[x](data:text/html,<script>alert(1)</script>)");
check("[**b**](https://ok.example/\"onmouseover=alert(1))");
check("**<b>bold</b>** *<i>it</i>* `<code>`", "<b>bold</b>");
const links = check("see [docs](https://docs.example/a) and https://shop.example/x?y=1").filter((e) => e.nodeName === "a");
if (links.length !== 2 || links[0].attrs.href !== "https://docs.example/a" || links[0].attrs.rel.indexOf("noopener") < 0) {
  failures++; console.error("FAIL: safe links not made", links.map((l) => l.attrs));
}
const lines = check("one\ntwo\n\nthree");
if (lines.filter((e) => e.nodeName === "p").length !== 2 || lines.filter((e) => e.nodeName === "br").length !== 1) {
  failures++; console.error("FAIL: paragraphs and line breaks", lines.map((e) => e.nodeName));
}

// A mounted widget told `history_truncated` shows one notice (its string configurable) before
// the records kept, and moves its cursor to `up_to`: a repeat is not shown twice.
const sources = [];
class FakeEventSource {
  constructor(url) { this.url = url; this.listeners = {}; this.readyState = 1; sources.push(this); }
  addEventListener(name, f) { this.listeners[name] = f; }
  close() { this.readyState = 2; }
}
context.EventSource = FakeEventSource;
context.fetch = () => Promise.resolve({ ok: true, status: 200,
  json: () => Promise.resolve({ token: "t", conversation_id: "anon:x", expires_at: 1 }) });
context.setTimeout = setTimeout;
context.clearTimeout = clearTimeout;
Node.prototype.addEventListener = function () {};
Node.prototype.remove = function () {};
document.body = new Node(1, "body");
document.addEventListener = () => {};
window.localStorage = { getItem: () => null, setItem() {} };
const mounted = window.SwitchboardChat.mount({ server: "https://chat.example", channel: "site",
  strings: { truncated: "Older messages were removed" } });
setTimeout(() => {
  const es = sources[0];
  if (!es) { failures++; console.error("FAIL: the widget opened no stream"); return finish(); }
  const fire = (name, seq, data) => es.listeners[name]({ data: JSON.stringify(data), lastEventId: String(seq) });
  fire("status", 3, { code: "history_truncated", up_to: 3 });
  fire("status", 3, { code: "history_truncated", up_to: 3 });
  fire("message", 4, { id: "m4", from: { role: "bot" }, at: 1, text: "kept" });
  const shown = walk(document.body, []).filter((e) => e.attrs.class === "sbw-notice" || /sbw-msg/.test(e.attrs.class || ""));
  const kinds = shown.map((e) => (e.attrs.class === "sbw-notice" ? "notice:" : "message:") + e.textContent);
  if (JSON.stringify(kinds) !== JSON.stringify(["notice:Older messages were removed", "message:kept"])) {
    failures++; console.error("FAIL: truncated history", kinds);
  }
  if (mounted.state.lastSeq !== 4) { failures++; console.error("FAIL: cursor", mounted.state.lastSeq); }
  finish();
}, 50);

function finish() {
  if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
  console.log("widget: hostile markdown inert, safe links kept; a truncated history is noted once");
}

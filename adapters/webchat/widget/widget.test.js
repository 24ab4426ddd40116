// Checks that the widget's markdown renderer keeps hostile text inert: only p, strong, em,
// code, a and br elements are made, links are only http(s), and no text becomes markup.
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
if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
console.log("widget markdown: hostile content inert, safe links kept");

/*
 * Switchboard web chat widget: a client of the Switchboard Web Chat Protocol, version 1
 * (PROTOCOL.md beside this directory). One file, no dependencies, no build step.
 *
 *   <script src="https://chat.example/webchat/site/widget.js"
 *           data-server="https://chat.example" data-channel="site" defer></script>
 *
 * Optional attributes: data-user-id and data-user-hash (a verified user; the hash comes from
 * the website's backend), data-name, data-title, data-placeholder, data-send (strings).
 * Or call window.SwitchboardChat.mount({server, channel, ...}) yourself.
 *
 * What it guarantees: a message typed is posted with a client_id and retried with the same
 * client_id until the server answers (stored once); the stream resumes from the last sequence
 * number seen (EventSource's Last-Event-ID, or ?after= after a reload), so nothing is missed or
 * shown twice; text is never inserted as HTML and links are only http(s).
 */
(function () {
  "use strict";

  var DEFAULT_STRINGS = {
    title: "Chat with us",
    placeholder: "Write a message",
    send: "Send",
    connecting: "Connecting…",
    connected: "Connected",
    offline: "Offline: reconnecting…",
    paused: "Paused: open in another tab",
    typing: "typing…",
    failed: "Not sent: retrying",
    truncated: "Earlier messages are no longer available",
    you: "You",
  };

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }

  function safeUrl(raw, against) {
    try {
      var u = new URL(raw, against || window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  // A safe subset of markdown: paragraphs, **bold**, *italic*, `code`, [label](http(s) url) and
  // bare http(s) URLs. Every piece of text goes in through textContent.
  function renderMarkdown(text) {
    var root = document.createDocumentFragment();
    String(text).split(/\n{2,}/).forEach(function (para) {
      var p = el("p");
      var re = /(\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+))/g;
      var last = 0, m;
      while ((m = re.exec(para)) !== null) {
        if (m.index > last) p.appendChild(document.createTextNode(para.slice(last, m.index)));
        if (m[2]) p.appendChild(el("strong", { text: m[2] }));
        else if (m[3]) p.appendChild(el("em", { text: m[3] }));
        else if (m[4]) p.appendChild(el("code", { text: m[4] }));
        else {
          var label = m[5] || m[7], href = safeUrl(m[6] || m[7]);
          if (href) p.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: label }));
          else p.appendChild(document.createTextNode(m[0]));
        }
        last = re.lastIndex;
      }
      if (last < para.length) p.appendChild(document.createTextNode(para.slice(last)));
      var lines = p.childNodes;
      for (var i = 0; i < lines.length; i++) {
        if (lines[i].nodeType === 3 && lines[i].data.indexOf("\n") >= 0) {
          var parts = lines[i].data.split("\n"), frag = document.createDocumentFragment();
          parts.forEach(function (t, j) { if (j) frag.appendChild(el("br")); frag.appendChild(document.createTextNode(t)); });
          var n = frag.childNodes.length;
          p.replaceChild(frag, lines[i]);
          i += n - 1;
        }
      }
      root.appendChild(p);
    });
    return root;
  }

  function randomId() {
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function mount(opts) {
    var s = {};
    Object.keys(DEFAULT_STRINGS).forEach(function (k) { s[k] = (opts.strings && opts.strings[k]) || DEFAULT_STRINGS[k]; });
    var base = opts.server.replace(/\/$/, "") + "/webchat/" + encodeURIComponent(opts.channel) + "/";
    var storeKey = "switchboard-webchat:" + base;
    var saved = {};
    try { saved = JSON.parse(window.localStorage.getItem(storeKey) || "{}"); } catch (_) { saved = {}; }
    var state = { token: saved.token || null, lastSeq: 0, source: null, backoff: 1000, typingTimer: null };
    var shown = {}; // message id → element: each message shown once, edits replace it

    function save() {
      try { window.localStorage.setItem(storeKey, JSON.stringify({ token: state.token, lastSeq: state.lastSeq })); } catch (_) { /* private mode */ }
    }

    // The widget's DOM: a labelled region, a polite live log, a form.
    var status = el("div", { class: "sbw-status", role: "status", text: s.connecting });
    var log = el("div", { class: "sbw-log", role: "log", "aria-live": "polite", "aria-label": s.title, tabindex: "0" });
    var typing = el("div", { class: "sbw-typing", "aria-live": "polite" });
    var input = el("textarea", { class: "sbw-input", rows: "2", placeholder: s.placeholder, "aria-label": s.placeholder });
    var send = el("button", { type: "submit", class: "sbw-send", text: s.send });
    var form = el("form", { class: "sbw-form" }, [input, send]);
    var box = el("section", { class: "sbw", "aria-label": s.title }, [el("h2", { class: "sbw-title", text: s.title }), status, log, typing, form]);
    (opts.container || document.body).appendChild(box);

    function setStatus(text, cls) { status.textContent = text; status.className = "sbw-status " + (cls || ""); }

    function api(path, body, attempt) {
      attempt = attempt || 0;
      var headers = { "Content-Type": "application/json", "Webchat-Protocol": "1" };
      if (state.token) headers.Authorization = "Bearer " + state.token;
      return fetch(base + path, { method: "POST", headers: headers, body: JSON.stringify(body || {}) }).then(function (r) {
        if (r.status === 401 && path !== "sessions") {
          return session(true).then(function () { return api(path, body, attempt + 1); });
        }
        if (r.status === 429 || r.status >= 500) {
          var wait = (parseInt(r.headers.get("Retry-After"), 10) || Math.min(30, Math.pow(2, attempt))) * 1000;
          return new Promise(function (res) { setTimeout(res, wait); }).then(function () { return api(path, body, attempt + 1); });
        }
        if (r.status === 204) return null;
        return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || String(r.status)); return j; });
      }, function () {
        // The network failed: the request may or may not have arrived. Retrying with the same
        // body (the same client_id) is safe: the server stores it once.
        var wait = Math.min(30, Math.pow(2, attempt)) * 1000;
        return new Promise(function (res) { setTimeout(res, wait); }).then(function () { return api(path, body, attempt + 1); });
      });
    }

    function session(fresh) {
      var body = {};
      if (opts.userId) { body.user_id = opts.userId; body.user_hash = opts.userHash; }
      if (opts.name) body.name = opts.name;
      if (state.token && !fresh) body.token = state.token;
      var headers = { "Content-Type": "application/json", "Webchat-Protocol": "1" };
      return fetch(base + "sessions", { method: "POST", headers: headers, body: JSON.stringify(body) }).then(function (r) {
        return r.json().then(function (j) {
          if (r.ok) return j;
          if (body.token && r.status === 401) { state.token = null; state.lastSeq = 0; return session(true); }
          throw new Error(j.error || String(r.status));
        });
      }).then(function (j) {
        if (j.conversation_id && state.conversation && state.conversation !== j.conversation_id) state.lastSeq = 0;
        state.token = j.token; state.conversation = j.conversation_id; save();
        return j;
      });
    }

    // Files kept by the server (visitors' uploads, agents' files) are served to this
    // conversation's token only: their URLs get it as ?token=.
    var server = safeUrl(base), uploads = safeUrl(base + "uploads/");
    function fileUrl(raw) {
      var href = safeUrl(raw, server);
      if (href && uploads && href.indexOf(uploads) === 0 && state.token) {
        href += (href.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(state.token);
      }
      return href;
    }

    function renderMessage(seq, m) {
      var old = shown[m.id];
      if (m.deleted) { if (old) old.remove(); delete shown[m.id]; return; }
      var who = m.from && m.from.role === "visitor" ? s.you : (m.from && m.from.name) || "";
      var item = el("div", { class: "sbw-msg sbw-" + ((m.from && m.from.role) || "bot"), "data-seq": String(seq) });
      if (who) item.appendChild(el("div", { class: "sbw-who", text: who }));
      if (m.text) { var body = el("div", { class: "sbw-text" }); body.appendChild(renderMarkdown(m.text)); item.appendChild(body); }
      (m.attachments || []).forEach(function (a) {
        var href = fileUrl(a.url);
        if (!href) return;
        if (a.kind === "image") item.appendChild(el("img", { src: href, alt: a.caption || a.filename || "" }));
        else item.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: a.filename || a.caption || href }));
      });
      var buttons = el("div", { class: "sbw-buttons" });
      (m.buttons || []).forEach(function (b) {
        if (b.type === "link") {
          var href = safeUrl(b.url);
          if (href) buttons.appendChild(el("a", { class: "sbw-button", href: href, target: "_blank", rel: "noopener noreferrer", text: b.label }));
        } else if (b.type === "postback") {
          var btn = el("button", { type: "button", class: "sbw-button", text: b.label });
          btn.addEventListener("click", function () { act(b, "button", m.id); });
          buttons.appendChild(btn);
        }
      });
      if (buttons.childNodes.length) item.appendChild(buttons);
      if (m.quick_replies && m.quick_replies.length) {
        var qr = el("div", { class: "sbw-quick" });
        m.quick_replies.forEach(function (q) {
          var b = el("button", { type: "button", class: "sbw-button", text: q.label });
          b.addEventListener("click", function () { qr.remove(); act(q, "quick_reply", m.id); });
          qr.appendChild(b);
        });
        item.appendChild(qr);
      }
      if (old) log.replaceChild(item, old); else log.appendChild(item);
      shown[m.id] = item;
      log.scrollTop = log.scrollHeight;
    }

    function onRecord(seq, name, data) {
      if (seq && seq <= state.lastSeq) return; // already shown: never twice
      if (name === "message") { renderMessage(seq, data); typing.textContent = ""; }
      else if (name === "typing") {
        typing.textContent = data.active ? ((data.from && data.from.name) || "") + " " + s.typing : "";
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(function () { typing.textContent = ""; }, 6000);
      } else if (name === "status" && data.code === "session_expired") {
        session(false).then(connect);
      } else if (name === "status" && data.code === "history_truncated") {
        // The server no longer keeps the records before the ones that follow.
        log.appendChild(el("div", { class: "sbw-notice", role: "note", text: s.truncated }));
      } else if (name === "status" && data.code === "too_many_streams") {
        // Too many tabs of this session: this one stays closed until it is looked at again
        // (visibilitychange below reconnects it), so tabs never take turns closing each other.
        if (state.source) state.source.close();
        setStatus(s.paused, "sbw-off");
      }
      if (seq) { state.lastSeq = seq; save(); }
    }

    function connect() {
      if (state.source) state.source.close();
      var url = base + "events?token=" + encodeURIComponent(state.token) + "&after=" + state.lastSeq;
      var es = new EventSource(url);
      state.source = es;
      ["message", "typing", "receipt", "status"].forEach(function (name) {
        es.addEventListener(name, function (e) {
          var data;
          try { data = JSON.parse(e.data); } catch (_) { return; }
          onRecord(e.lastEventId ? parseInt(e.lastEventId, 10) : 0, name, data);
        });
      });
      es.onopen = function () { state.backoff = 1000; setStatus(s.connected, "sbw-ok"); };
      es.onerror = function () {
        setStatus(s.offline, "sbw-off");
        if (es.readyState === 2) {
          // Closed for good (a 401, a proxy error): open a new session, then reconnect from
          // the last sequence number seen.
          setTimeout(function () { session(false).then(connect, function () { setTimeout(connect, state.backoff); }); }, state.backoff);
          state.backoff = Math.min(30000, state.backoff * 2);
        }
      };
    }

    function act(button, source, messageId) {
      api("messages", { client_id: randomId(), action: { payload: button.payload, label: button.label, message_id: messageId, source: source } });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      api("messages", { client_id: randomId(), text: text }).catch(function () { setStatus(s.failed, "sbw-off"); });
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
    });
    var lastTyping = 0;
    input.addEventListener("input", function () {
      var now = Date.now();
      if (now - lastTyping > 3000) { lastTyping = now; api("typing", { active: true }).catch(function () {}); }
    });
    // A phone that slept or a network that came back: reconnect at once from the cursor.
    window.addEventListener("online", function () { if (state.token) connect(); });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && state.source && state.source.readyState === 2) connect();
    });

    session(false).then(connect, function () { setStatus(s.offline, "sbw-off"); });
    return { box: box, state: state };
  }

  window.SwitchboardChat = { mount: mount, renderMarkdown: renderMarkdown };

  var script = document.currentScript;
  if (script && script.dataset.server && script.dataset.channel) {
    var d = script.dataset;
    var go = function () {
      mount({ server: d.server, channel: d.channel, userId: d.userId, userHash: d.userHash, name: d.name,
        strings: { title: d.title, placeholder: d.placeholder, send: d.send } });
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go); else go();
  }
})();

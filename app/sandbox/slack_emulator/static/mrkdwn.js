// Slack mrkdwn to DOM nodes (docs.slack.dev/messaging/formatting-message-text): *bold*,
// _italic_, ~strike~, `code`, ```blocks```, > quotes, <url|text> links, <@U…> mentions,
// <#C…> channels, <!here>. Text arrives escaped (&amp; &lt; &gt;) as Slack requires; it is
// decoded into text nodes only. Nothing here ever sets innerHTML: hostile text stays text.
"use strict";
(function () {
  const ENTITY = /&(amp|lt|gt);/g;
  const DECODED = { amp: "&", lt: "<", gt: ">" };
  const decode = (text) => text.replace(ENTITY, (_, name) => DECODED[name]);
  const SAFE_LINK = /^(https?:|mailto:)/i;
  const INLINE = [
    { re: /`([^`\n]+)`/, tag: "code" },
    { re: /(^|[^\w*])\*([^*\n]+)\*(?![\w*])/, tag: "strong" },
    { re: /(^|[^\w_])_([^_\n]+)_(?![\w_])/, tag: "em" },
    { re: /(^|[^\w~])~([^~\n]+)~(?![\w~])/, tag: "del" },
  ];

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function entity(inner, ctx) {
    const [target, label] = splitOnce(inner, "|");
    if (target.startsWith("@")) {
      const id = target.slice(1);
      return el("span", "mention", "@" + (label || ctx.userName(id)));
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return el("span", "mention", "#" + (label || ctx.channelName(id)));
    }
    if (target.startsWith("!")) {
      const word = target.slice(1).split("^")[0];
      return el("span", "mention", "@" + (label || word));
    }
    const url = decode(target);
    if (!SAFE_LINK.test(url)) return document.createTextNode(decode(label || target));
    const link = el("a", "link", decode(label || target));
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }

  function splitOnce(text, sep) {
    const at = text.indexOf(sep);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
  }

  // Formatting inside a run of text that has no <…> entities.
  function inline(text, parent) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(text);
      if (m && (best === null || m.index + (m.length > 2 ? m[1].length : 0) < best.start)) {
        const lead = m.length > 2 ? m[1] : "";
        best = { start: m.index + lead.length, end: m.index + m[0].length, lead, rule, m };
      }
    }
    if (best === null) {
      appendText(text, parent);
      return;
    }
    appendText(text.slice(0, best.start), parent);
    const inner = best.m.length > 2 ? best.m[2] : best.m[1];
    const node = el(best.rule.tag);
    if (best.rule.tag === "code") node.textContent = decode(inner);
    else inline(inner, node);
    parent.appendChild(node);
    inline(text.slice(best.end), parent);
  }

  function appendText(text, parent) {
    const lines = decode(text).split("\n");
    lines.forEach((line, i) => {
      if (i > 0) parent.appendChild(document.createElement("br"));
      if (line) parent.appendChild(document.createTextNode(line));
    });
  }

  // A paragraph: entities first (their labels are not formatted), formatting between them.
  function paragraph(text, parent, ctx) {
    const re = /<([^<>\n]+)>/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      inline(text.slice(last, m.index), parent);
      parent.appendChild(entity(m[1], ctx));
      last = m.index + m[0].length;
    }
    inline(text.slice(last), parent);
  }

  function render(text, ctx) {
    const out = document.createDocumentFragment();
    const parts = String(text || "").split("```");
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        out.appendChild(el("pre", "code-block", decode(part.replace(/^\n/, ""))));
        return;
      }
      const lines = part.split("\n");
      let quote = null;
      let buffer = [];
      const flush = () => {
        if (!buffer.length) return;
        const span = el("span");
        paragraph(buffer.join("\n"), span, ctx);
        out.appendChild(span);
        buffer = [];
      };
      for (const line of lines) {
        if (line.startsWith("&gt; ") || line === "&gt;") {
          flush();
          if (quote === null) {
            quote = el("blockquote");
            out.appendChild(quote);
          } else quote.appendChild(document.createElement("br"));
          paragraph(line.replace(/^&gt; ?/, ""), quote, ctx);
        } else {
          if (quote !== null) {
            quote = null;
            if (line === "") continue;
          }
          buffer.push(line);
        }
      }
      flush();
    });
    return out;
  }

  window.Mrkdwn = { render, decode };
})();

// Block Kit to DOM, generically: any block and element the app sends is drawn from its JSON
// (docs.slack.dev/reference/block-kit/blocks). Text objects are plain_text or mrkdwn; every
// string goes into text nodes (Mrkdwn.render), never into HTML.
"use strict";
(function () {
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function textObject(obj, ctx) {
    if (!obj) return document.createTextNode("");
    if (typeof obj === "string") return Mrkdwn.render(obj, ctx);
    if (obj.type === "mrkdwn") return Mrkdwn.render(obj.text, ctx);
    return document.createTextNode(String(obj.text || ""));
  }

  function plain(obj) {
    if (!obj) return "";
    return typeof obj === "string" ? obj : String(obj.text || "");
  }

  function button(element, blockId, ctx, opts) {
    const b = el("button", "bk-button");
    b.type = "button";
    b.textContent = plain(element.text);
    if (element.style === "primary" || element.style === "danger") b.classList.add(element.style);
    if (element.accessibility_label) b.setAttribute("aria-label", element.accessibility_label);
    b.dataset.key = "btn:" + (opts.key || "") + ":" + blockId + ":" + (element.action_id || "");
    if (!opts.onAction) {
      b.disabled = true;
      b.title = "Buttons on private notes are not emulated";
      return b;
    }
    b.addEventListener("click", () => opts.onAction(blockId, element, b));
    return b;
  }

  function element(elementJson, blockId, ctx, opts) {
    switch (elementJson.type) {
      case "button":
        return button(elementJson, blockId, ctx, opts);
      case "image": {
        const img = el("span", "bk-image", "[image: " + (elementJson.alt_text || "") + "]");
        return img;
      }
      case "mrkdwn":
      case "plain_text": {
        const span = el("span", "bk-text");
        span.appendChild(textObject(elementJson, ctx));
        return span;
      }
      case "overflow":
      case "static_select":
      case "users_select":
      case "datepicker":
        return el("span", "bk-unsupported", "[" + elementJson.type + ": not emulated in the page]");
      default:
        return el("span", "bk-unsupported", "[" + (elementJson.type || "element") + "]");
    }
  }

  function input(block, ctx, opts) {
    const wrap = el("div", "bk-input");
    const blockId = block.block_id || "";
    const e = block.element || {};
    const id = "input-" + blockId + "-" + (e.action_id || "");
    const label = el("label", "bk-label", plain(block.label));
    label.htmlFor = id;
    if (block.optional) label.appendChild(el("span", "hint", " (optional)"));
    wrap.appendChild(label);
    let control;
    if (e.type === "plain_text_input") {
      control = e.multiline ? el("textarea") : el("input");
      if (e.multiline) control.rows = 4;
      if (e.initial_value) control.value = e.initial_value;
      if (e.placeholder) control.placeholder = plain(e.placeholder);
    } else if (e.type === "static_select") {
      control = el("select");
      control.appendChild(el("option", "", plain(e.placeholder) || "Choose…")).value = "";
      for (const option of e.options || []) {
        const o = el("option", "", plain(option.text));
        o.value = option.value;
        control.appendChild(o);
      }
    } else {
      control = el("span", "bk-unsupported", "[" + (e.type || "input") + ": not emulated]");
    }
    control.id = id;
    wrap.appendChild(control);
    const errorId = "error-" + blockId;
    if (block.hint) {
      const hint = el("p", "hint", plain(block.hint));
      hint.id = "hint-" + blockId;
      wrap.appendChild(hint);
    }
    const error = el("p", "field-error");
    error.id = errorId;
    error.setAttribute("role", "alert");
    wrap.appendChild(error);
    control.setAttribute("aria-describedby", (block.hint ? "hint-" + blockId + " " : "") + errorId);
    if (opts.inputs) opts.inputs.push({ block, element: e, control, error });
    return wrap;
  }

  function block(b, ctx, opts) {
    const blockId = b.block_id || "";
    switch (b.type) {
      case "header":
        return el("h3", "bk-header", plain(b.text));
      case "divider":
        return el("hr", "bk-divider");
      case "section": {
        const s = el("div", "bk-section");
        const body = el("div", "bk-section-body");
        if (b.text) {
          const t = el("div", "bk-section-text");
          t.appendChild(textObject(b.text, ctx));
          body.appendChild(t);
        }
        if (b.fields && b.fields.length) {
          const grid = el("div", "bk-fields");
          for (const f of b.fields) {
            const cell = el("div", "bk-field");
            cell.appendChild(textObject(f, ctx));
            grid.appendChild(cell);
          }
          body.appendChild(grid);
        }
        s.appendChild(body);
        if (b.accessory) {
          const acc = el("div", "bk-accessory");
          acc.appendChild(element(b.accessory, blockId, ctx, opts));
          s.appendChild(acc);
        }
        return s;
      }
      case "context": {
        const c = el("div", "bk-context");
        for (const e of b.elements || []) c.appendChild(element(e, blockId, ctx, opts));
        return c;
      }
      case "actions": {
        const a = el("div", "bk-actions");
        a.setAttribute("role", "group");
        a.setAttribute("aria-label", "Actions");
        for (const e of b.elements || []) a.appendChild(element(e, blockId, ctx, opts));
        return a;
      }
      case "input":
        return input(b, ctx, opts);
      case "image":
        return el("p", "bk-image", "[image: " + (b.alt_text || "") + "]");
      case "rich_text":
        return el("p", "bk-section-text", richText(b));
      default:
        return el("p", "bk-unsupported", "[" + (b.type || "block") + " block]");
    }
  }

  function richText(b) {
    const out = [];
    const walk = (node) => {
      if (!node || typeof node !== "object") return;
      if (typeof node.text === "string") out.push(node.text);
      if (node.type === "user") out.push("@" + node.user_id);
      if (node.type === "link") out.push(node.text || node.url);
      (node.elements || []).forEach(walk);
    };
    walk(b);
    return out.join("");
  }

  function render(blocks, ctx, opts) {
    const root = el("div", "bk");
    for (const b of blocks || []) root.appendChild(block(b, ctx, opts || {}));
    return root;
  }

  window.Blocks = { render, textObject, plain };
})();

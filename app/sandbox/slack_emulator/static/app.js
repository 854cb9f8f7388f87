// The sandbox workspace page: polls the emulator for changes, draws what the chosen user
// sees, and posts their clicks, dialog submissions and slash commands to the emulator, which
// has Slack send Countersign the same signed requests Slack would.
"use strict";
(function () {
  const POLL_MS = 500;
  const params = new URLSearchParams(location.search);
  const page = { me: params.get("as") || "", where: params.get("in") || "", thread: null };
  let state = null;
  let version = -1;
  let shownModal = "";
  let modalInputs = [];
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const reply = await fetch("/_emulator/ui/" + path, init);
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) throw new Error(data.error || "HTTP " + reply.status);
    return data;
  }

  function say(text) {
    $("status").textContent = text;
  }

  const ctx = {
    userName(id) {
      const u = state && state.users.find((x) => x.id === id);
      return u ? u.real_name : id;
    },
    channelName(id) {
      const c = state && state.channels.find((x) => x.id === id);
      return c ? c.name : id;
    },
  };

  // --- fetching ------------------------------------------------------------------------------

  async function refresh(force) {
    try {
      const v = await api("GET", "version");
      if (!force && v.version === version) return;
      const s = await api("GET", "state?user=" + encodeURIComponent(page.me));
      version = s.version;
      state = s;
      draw();
    } catch (error) {
      say("The emulator does not answer (" + error.message + "); is the sandbox running?");
    }
  }

  async function start() {
    const first = await fetch("/_emulator/directory").then((r) => r.json());
    if (!first.users.some((u) => u.id === page.me)) page.me = first.users[0].id;
    const viewer = $("viewer");
    for (const u of first.users) {
      const o = el("option", "", u.real_name + " (" + u.name + ", " + u.id + ")");
      o.value = u.id;
      viewer.appendChild(o);
    }
    viewer.value = page.me;
    viewer.addEventListener("change", () => {
      page.me = viewer.value;
      page.thread = null;
      say("");
      shownModal = "";
      remember();
      if (page.where === "home") openHome();
      refresh(true);
    });
    if (!page.where) page.where = Object.keys(first.channels)[0];
    wireComposer();
    wireModal();
    wireEvents();
    $("nav-home").addEventListener("click", () => go("home"));
    $("close-thread").addEventListener("click", () => {
      page.thread = null;
      draw();
    });
    await refresh(true);
    if (page.where === "home") openHome();
    setInterval(() => refresh(false), POLL_MS);
  }

  function remember() {
    const q = new URLSearchParams({ as: page.me, in: page.where });
    history.replaceState(null, "", "?" + q.toString());
  }

  function go(where) {
    page.where = where;
    page.thread = null;
    remember();
    if (where === "home") openHome();
    draw();
    $("conversation").focus();
  }

  async function openHome() {
    try {
      await api("POST", "home", { user: page.me });
    } catch (error) {
      say("Home tab: " + error.message);
    }
  }

  // --- drawing -------------------------------------------------------------------------------

  function draw() {
    if (!state) return;
    const focused = document.activeElement && document.activeElement.dataset.key;
    drawSidebar();
    drawConversation();
    drawThread();
    drawModal();
    if (focused) {
      const again = document.querySelector('[data-key="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function navButton(label, target, unread) {
    const li = el("li");
    const b = el("button", "nav", label);
    b.type = "button";
    b.dataset.key = "nav:" + target;
    if (page.where === target) b.setAttribute("aria-current", "page");
    if (unread) b.appendChild(el("span", "badge", String(unread)));
    b.addEventListener("click", () => go(target));
    li.appendChild(b);
    return li;
  }

  function drawSidebar() {
    const channels = $("channel-list");
    channels.replaceChildren(...state.channels.map((c) => navButton("# " + c.name, c.id)));
    $("dm-list").replaceChildren(navButton("Countersign (app)", state.dm));
    $("links").replaceChildren(
      ...Object.entries(state.links || {}).map(([name, url]) => {
        const li = el("li");
        const a = el("a", "", name + " ↗");
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener";
        li.appendChild(a);
        return li;
      })
    );
    const home = $("nav-home");
    if (page.where === "home") home.setAttribute("aria-current", "page");
    else home.removeAttribute("aria-current");
  }

  function conversationName() {
    if (page.where === "home") return "Countersign — Home";
    if (page.where === state.dm) return "Countersign (direct message)";
    return "# " + ctx.channelName(page.where);
  }

  function drawConversation() {
    $("conversation-title").textContent = conversationName();
    const list = $("messages");
    const composer = $("composer");
    if (page.where === "home") {
      composer.hidden = true;
      $("conversation-topic").textContent = "What Countersign published for you (views.publish).";
      const home = state.home;
      if (!home) {
        list.replaceChildren(el("li", "empty", "Countersign has not published a Home tab for you yet."));
        return;
      }
      const li = el("li", "home-view");
      li.appendChild(
        Blocks.render(home.blocks, ctx, {
          key: "home",
          onAction: (blockId, element, b) => act({ view_id: home.id, block_id: blockId, action_id: element.action_id, values: {} }, element, b),
        })
      );
      list.replaceChildren(li);
      return;
    }
    composer.hidden = false;
    $("composer-label").textContent = "Run a slash command in " + conversationName();
    $("conversation-topic").textContent =
      page.where === state.dm ? "Only you and Countersign are in this conversation." : "";
    const messages = (state.messages[page.where] || []).filter((m) => !m.thread_ts || m.thread_ts === m.ts);
    const notes = state.ephemerals.filter((e) => e.channel === page.where);
    const items = [
      ...messages.map((m) => ({ ts: m.ts, node: () => messageItem(m, true) })),
      ...notes.map((e) => ({ ts: e.ts || "0", node: () => ephemeralItem(e) })),
    ].sort((a, b) => Number(a.ts) - Number(b.ts));
    if (!items.length) {
      list.replaceChildren(el("li", "empty", "No messages yet. Send an example event to see a card."));
      return;
    }
    list.replaceChildren(...items.map((i) => i.node()));
  }

  function time(ts) {
    const d = new Date(Number(ts) * 1000);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function author(li, name, ts, extra) {
    const head = el("div", "message-head");
    head.appendChild(el("span", "author", name));
    head.appendChild(el("span", "app-badge", "APP"));
    const t = el("time", "when", time(ts));
    t.dateTime = new Date(Number(ts) * 1000).toISOString();
    head.appendChild(t);
    if (extra) head.appendChild(el("span", "hint", extra));
    li.appendChild(head);
  }

  function messageItem(m, withReplies) {
    const li = el("li", "message");
    li.dataset.ts = m.ts;
    author(li, "Countersign", m.ts, m.edits ? "(edited)" : "");
    const body = m.blocks && m.blocks.length ? null : el("div", "message-text");
    if (body) {
      body.appendChild(Mrkdwn.render(m.text, ctx));
      li.appendChild(body);
    } else {
      li.appendChild(
        Blocks.render(m.blocks, ctx, {
          key: m.ts,
          onAction: (blockId, element, b) => act({ channel: m.channel, ts: m.ts, block_id: blockId, action_id: element.action_id }, element, b),
        })
      );
    }
    if (withReplies) {
      const replies = (state.messages[m.channel] || []).filter((r) => r.thread_ts === m.ts && r.ts !== m.ts);
      if (replies.length) {
        const b = el("button", "replies", replies.length + (replies.length === 1 ? " reply" : " replies"));
        b.type = "button";
        b.dataset.key = "replies:" + m.ts;
        b.addEventListener("click", () => {
          page.thread = { channel: m.channel, ts: m.ts };
          draw();
          $("thread-title").focus();
        });
        li.appendChild(b);
      }
    }
    return li;
  }

  function ephemeralItem(e) {
    const li = el("li", "message ephemeral");
    author(li, "Countersign", e.ts || "0", "");
    li.appendChild(el("p", "only-you", "Only visible to you"));
    if (e.blocks && e.blocks.length) li.appendChild(Blocks.render(e.blocks, ctx, { key: "eph" + e.ts }));
    else {
      const body = el("div", "message-text");
      body.appendChild(Mrkdwn.render(e.text, ctx));
      li.appendChild(body);
    }
    return li;
  }

  function drawThread() {
    const aside = $("thread");
    if (!page.thread || page.where !== page.thread.channel) {
      aside.hidden = true;
      return;
    }
    const all = state.messages[page.thread.channel] || [];
    const parent = all.find((m) => m.ts === page.thread.ts);
    if (!parent) {
      aside.hidden = true;
      return;
    }
    aside.hidden = false;
    $("thread-title").tabIndex = -1;
    const replies = all.filter((r) => r.thread_ts === parent.ts && r.ts !== parent.ts);
    $("thread-messages").replaceChildren(messageItem(parent, false), ...replies.map((r) => messageItem(r, false)));
  }

  // --- acting --------------------------------------------------------------------------------

  async function act(target, element, b) {
    if (element.url) window.open(element.url, "_blank", "noopener");
    if (element.confirm && !(await confirmed(element.confirm))) return;
    if (b) b.setAttribute("aria-busy", "true");
    try {
      const answer = await api("POST", "click", { user: page.me, ...target });
      say(
        "Clicked " + Blocks.plain(element.text) + " as " + ctx.userName(page.me) +
        ": Countersign answered HTTP " + answer.status + (answer.status === 200 ? "" : " " + answer.body)
      );
    } catch (error) {
      say("Not sent: " + error.message);
    } finally {
      if (b) b.removeAttribute("aria-busy");
      refresh(true);
    }
  }

  function confirmed(confirm) {
    const dialog = $("confirm");
    $("confirm-title").textContent = Blocks.plain(confirm.title) || "Are you sure?";
    $("confirm-text").replaceChildren(Blocks.textObject(confirm.text, ctx));
    $("confirm-ok").textContent = Blocks.plain(confirm.confirm) || "Yes";
    $("confirm-deny").textContent = Blocks.plain(confirm.deny) || "Cancel";
    $("confirm-ok").className = confirm.style === "danger" ? "danger" : "primary";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    });
  }

  function wireComposer() {
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("composer-input");
      const text = input.value.trim();
      if (!text) return;
      try {
        const answer = await api("POST", "command", { user: page.me, channel: page.where, text });
        input.value = "";
        say("Ran " + text.split(" ")[0] + " as " + ctx.userName(page.me) + ": HTTP " + answer.status);
      } catch (error) {
        say(error.message);
      }
      refresh(true);
    });
  }

  // --- the open dialog (views.open) ----------------------------------------------------------

  function drawModal() {
    const dialog = $("modal");
    const view = state.modal;
    if (!view) {
      if (dialog.open) dialog.close();
      shownModal = "";
      return;
    }
    const key = view.id + ":" + JSON.stringify(view.blocks);
    if (key === shownModal && dialog.open) return;
    shownModal = key;
    $("modal-title").textContent = Blocks.plain(view.title);
    $("modal-submit").textContent = Blocks.plain(view.submit) || "Submit";
    $("modal-submit").hidden = !view.submit;
    $("modal-close").textContent = Blocks.plain(view.close) || "Cancel";
    $("modal-error").textContent = "";
    modalInputs = [];
    $("modal-body").replaceChildren(
      Blocks.render(view.blocks, ctx, {
        key: view.id,
        inputs: modalInputs,
        onAction: (blockId, element, b) => act({ view_id: view.id, block_id: blockId, action_id: element.action_id, values: values() }, element, b),
      })
    );
    dialog.dataset.viewId = view.id;
    if (!dialog.open) dialog.showModal();
    const first = modalInputs.length ? modalInputs[0].control : $("modal-submit");
    first.focus();
  }

  function values() {
    const out = {};
    for (const { block, element, control } of modalInputs) {
      const blockId = block.block_id || "";
      out[blockId] = out[blockId] || {};
      if (element.type === "static_select") {
        const option = (element.options || []).find((o) => o.value === control.value);
        out[blockId][element.action_id] = { type: "static_select", selected_option: option || null };
      } else {
        out[blockId][element.action_id] = { type: element.type, value: control.value === "" ? null : control.value };
      }
    }
    return out;
  }

  // What Slack's client checks before it submits: required inputs (docs.slack.dev/reference/
  // block-kit/blocks/input-block: `optional` defaults to false), and a plain_text_input's
  // min_length / max_length (docs.slack.dev/reference/block-kit/block-elements/
  // plain-text-input-element).
  function checkInputs() {
    let ok = true;
    for (const { block, element, control, error } of modalInputs) {
      let problem = "";
      const value = control.value || "";
      if (!block.optional && value === "") problem = "Please complete this required field.";
      else if (element.min_length && value.length < element.min_length)
        problem = "Please enter at least " + element.min_length + " characters.";
      else if (element.max_length && value.length > element.max_length)
        problem = "Please enter at most " + element.max_length + " characters.";
      showFieldError(control, error, problem);
      if (problem && ok) {
        control.focus();
        ok = false;
      }
    }
    return ok;
  }

  function showFieldError(control, error, text) {
    error.textContent = text;
    if (text) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }

  function wireModal() {
    const dialog = $("modal");
    $("modal-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!checkInputs()) return;
      const viewId = dialog.dataset.viewId;
      $("modal-submit").setAttribute("aria-busy", "true");
      try {
        const answer = await api("POST", "submit", { user: page.me, view_id: viewId, values: values() });
        if (answer.response_action === "errors" || answer.errors) {
          const errors = answer.errors || {};
          let shown = false;
          for (const { block, control, error } of modalInputs) {
            const text = errors[block.block_id || ""] || "";
            showFieldError(control, error, text);
            if (text && !shown) {
              control.focus();
              shown = true;
            }
          }
          if (!shown) $("modal-error").textContent = Object.values(errors).join(" ");
        } else {
          say("Submitted as " + ctx.userName(page.me) + ": Countersign answered HTTP " + answer.status);
        }
      } catch (error) {
        $("modal-error").textContent = error.message;
      } finally {
        $("modal-submit").removeAttribute("aria-busy");
        refresh(true);
      }
    });
    const cancel = async () => {
      const viewId = dialog.dataset.viewId;
      dialog.close();
      try {
        await api("POST", "close", { user: page.me, view_id: viewId });
      } catch (error) {
        say(error.message);
      }
      refresh(true);
    };
    $("modal-close").addEventListener("click", cancel);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      cancel();
    });
  }

  // --- billing events ------------------------------------------------------------------------

  function wireEvents() {
    const dialog = $("events");
    const select = $("events-example");
    let examples = [];
    $("open-events").addEventListener("click", async () => {
      try {
        examples = await api("GET", "examples");
      } catch (error) {
        say(error.message);
      }
      select.replaceChildren(
        ...examples.map((e, i) => {
          const o = el("option", "", e.name);
          o.value = String(i);
          return o;
        }),
        Object.assign(el("option", "", "(paste your own)"), { value: "" })
      );
      if (examples.length) $("events-body").value = examples[0].body;
      $("events-answer").textContent = "";
      dialog.showModal();
      select.focus();
    });
    select.addEventListener("change", () => {
      const chosen = examples[Number(select.value)];
      $("events-body").value = select.value === "" ? "" : chosen ? chosen.body : "";
    });
    $("events-close").addEventListener("click", () => dialog.close());
    $("events-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = $("events-answer");
      out.textContent = "Sending…";
      try {
        const answer = await api("POST", "billing-event", { body: $("events-body").value });
        out.textContent = answer.status + " " + answer.body;
      } catch (error) {
        out.textContent = error.message;
      }
      refresh(true);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();

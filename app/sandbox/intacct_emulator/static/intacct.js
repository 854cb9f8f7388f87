// The Intacct emulator's page: invoices, queued failures and the API calls received, polled;
// a form per invoice to change its total, one to queue failures. Text only via textContent.
"use strict";
(function () {
  const POLL_MS = 700;
  const $ = (id) => document.getElementById(id);
  const editing = new Set();
  let lastSeen = "";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function call(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const reply = await fetch("/_emulator/" + path, init);
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) throw new Error(data.error || "HTTP " + reply.status);
    return data;
  }

  const say = (text) => ($("status").textContent = text);

  function describe(request) {
    const path = request.path.replace(/^\/ia\/api\/v1/, "");
    if (path === "/oauth2/token") return ["token", "—"];
    const read = path.match(/^\/objects\/accounts-receivable\/invoice\/(.+)$/);
    if (read) return ["read invoice", decodeURIComponent(read[1])];
    if (path.endsWith("/invoice/submit")) return ["submit (post)", (request.body && request.body.key) || "?"];
    return [request.method + " " + path, "—"];
  }

  function invoiceRow(invoice, submissions) {
    const tr = el("tr");
    tr.dataset.key = invoice.key;
    const head = el("th", "", invoice.invoiceNumber + " ");
    head.scope = "row";
    head.appendChild(el("span", "hint", invoice.key));
    tr.appendChild(head);
    tr.appendChild(el("td", "", invoice.customer.name));
    tr.appendChild(el("td", "money", invoice.totalTxnAmount + " " + invoice.currency.txnCurrency));
    tr.appendChild(linesCell(invoice));
    tr.appendChild(el("td", "state state-" + invoice.state, invoice.state));
    tr.appendChild(el("td", "count", String(submissions[invoice.key] || 0)));
    const cell = el("td");
    const form = el("form", "inline");
    const id = "total-" + invoice.key;
    const label = el("label", "sr-only", "New total for " + invoice.invoiceNumber);
    label.htmlFor = id;
    const input = el("input");
    input.id = id;
    input.inputMode = "decimal";
    input.value = invoice.totalTxnAmount;
    input.size = 10;
    input.addEventListener("focus", () => editing.add(invoice.key));
    input.addEventListener("blur", () => editing.delete(invoice.key));
    const save = el("button", "", "Save total");
    save.type = "submit";
    save.setAttribute("aria-label", "Save the total of " + invoice.invoiceNumber);
    form.append(label, input, save);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const changed = await call("PATCH", "invoices/" + encodeURIComponent(invoice.key), { amount: input.value.trim() });
        say(invoice.invoiceNumber + " now totals " + changed.totalTxnAmount + " " + changed.currency.txnCurrency + ".");
      } catch (error) {
        say("Not changed: " + error.message);
      }
      editing.delete(invoice.key);
      refresh(true);
    });
    cell.appendChild(form);
    tr.appendChild(cell);
    return tr;
  }

  function linesCell(invoice) {
    const cell = el("td", "lines");
    const lines = invoice.lines || [];
    const list = el("ul", "line-list");
    for (const line of lines) {
      const account = line.glAccount ? "GL " + line.glAccount.id + " · " : "";
      list.appendChild(el("li", "", line.lineNumber + ". " + account + line.txnAmount + " · " + (line.memo || "")));
    }
    cell.appendChild(lines.length ? list : el("span", "hint", "no lines"));
    return cell;
  }

  async function refresh(force) {
    try {
      const [invoices, submissions, requests, failures] = await Promise.all([
        call("GET", "invoices"), call("GET", "submissions"), call("GET", "requests"), call("GET", "failures"),
      ]);
      const seen = JSON.stringify([invoices, submissions, requests.requests.length, failures]);
      if (!force && seen === lastSeen) return;
      lastSeen = seen;
      const body = $("invoices").tBodies[0];
      const rows = invoices.invoices.map((inv) => {
        if (editing.has(inv.key)) return body.querySelector('tr[data-key="' + CSS.escape(inv.key) + '"]') || invoiceRow(inv, submissions.byKey);
        return invoiceRow(inv, submissions.byKey);
      });
      body.replaceChildren(...rows);
      const calls = requests.requests.map((r, i) => {
        const [what, key] = describe(r);
        const tr = el("tr");
        tr.append(el("td", "", String(i + 1)), el("td", "", what), el("td", "", key),
          el("td", "mono", r.idempotency_key || ""), el("td", r.status >= 400 ? "bad" : "", String(r.status)));
        return tr;
      }).reverse();
      $("calls").tBodies[0].replaceChildren(...(calls.length ? calls : [emptyRow("No API calls yet.")]));
      const queued = Object.entries(failures.queued).filter(([, list]) => list.length)
        .map(([op, list]) => op + ": " + list.join(", "));
      $("failures-queued").textContent = queued.length ? "Queued: " + queued.join("; ") : "No failures queued.";
    } catch (error) {
      say("The emulator does not answer (" + error.message + ").");
    }
  }

  function emptyRow(text) {
    const tr = el("tr");
    const td = el("td", "hint", text);
    td.colSpan = 5;
    tr.appendChild(td);
    return tr;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("failure-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        operation: $("failure-operation").value,
        kind: $("failure-kind").value,
        times: Number($("failure-times").value || 1),
      };
      try {
        await call("POST", "failures", body);
        say("Queued: the next " + body.times + " " + body.operation + " call(s) answer " + body.kind + ".");
      } catch (error) {
        say("Not queued: " + error.message);
      }
      refresh(true);
    });
    refresh(true);
    setInterval(() => refresh(false), POLL_MS);
  });
})();

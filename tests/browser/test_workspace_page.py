"""The README walkthrough done by clicking in headless Chromium, against `countersign sandbox
up` as a real process: events sent from the page, cards drawn from the Block Kit Countersign
sent, clicks and dialogs delivered to it signed as Slack delivers them, the Intacct page."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import SCREENSHOTS, WRITE_SCREENSHOTS
from tests.browser.pages import EXAMPLES, IntacctPage, WorkspacePage
from tests.e2e.harness import assert_at_rest
from tests.e2e.test_sandbox_walkthrough import SandboxProcess


def slack_url(box: SandboxProcess) -> str:
    return f"http://127.0.0.1:{box.ports[1]}/"


def intacct_url(box: SandboxProcess) -> str:
    return f"http://127.0.0.1:{box.ports[2]}/"


def shoot(page: Page, name: str) -> None:
    """With COUNTERSIGN_WRITE_SCREENSHOTS=1, keep this view as docs/screenshots/<name>.png."""
    if WRITE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_walkthrough_by_clicking(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """Send → card → outsider refused privately → two approvals → decided card → posted once."""
    opening = f"Open the sandbox workspace in your browser: {slack_url(sandbox)}"
    printed = sandbox.text
    assert printed.index(opening) < printed.index("Countersign sandbox is running")
    slack = WorkspacePage(context, slack_url(sandbox), "U0BILLOPS1")
    answer = slack.send_event("discount.json")
    assert answer.startswith("202 ")
    assert '"exception":"BX-000001"' in answer
    card = slack.card("BX-000001")
    expect(card).to_contain_text("Waiting for approval")
    expect(card).to_contain_text("Acme Corp")
    expect(card).to_contain_text("@Sam Sales")  # <@U0REQUEST1> shown as the person's name
    expect(card.get_by_role("button", name="Approve")).to_be_visible()

    slack.view_as("U0OUTSIDER")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.private_notes()).to_contain_text("not an approver")
    expect(slack.private_notes()).to_contain_text("Only visible to you")

    slack.view_as("U0FINMGR1")
    expect(slack.card("BX-000001")).to_be_visible()
    expect(slack.private_notes()).to_have_count(0)  # the outsider's note is the outsider's
    shoot(slack.page, "card")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.card("BX-000001")).to_contain_text("Step 2 of 2")

    slack.view_as("U0CFO1")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    decided = slack.card("BX-000001")
    expect(decided).to_contain_text("Approved and released in Intacct")
    expect(slack.buttons(decided)).to_have_count(0)
    expect(decided).to_contain_text("(edited)")

    slack.view_as("U0REQUEST1")
    slack.open("Countersign (app)")
    expect(slack.page.locator("#messages")).to_contain_text("INV-1001 was released in Intacct")

    intacct = IntacctPage(context, intacct_url(sandbox))
    row = intacct.invoice("INV-1001")
    expect(row.get_by_role("cell", name="posted")).to_be_visible()
    expect(row.locator("td.count")).to_have_text("1")
    submits = intacct.calls().get_by_role("row").filter(has_text="submit (post)")
    expect(submits).to_have_count(1)
    expect(submits.first).to_contain_text("INV-KEY-1001")
    key = submits.first.locator("td.mono").text_content() or ""
    assert len(key) > 8  # the Idempotency-Key Countersign sent with it
    shoot(intacct.page, "intacct")
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_reject_through_the_dialog(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """Reject opens the dialog; a blank reason is refused under the field, then it rejects."""
    slack = WorkspacePage(context, slack_url(sandbox), "U0BILLOPS1")
    assert '"exception":"BX-000001"' in slack.send_event("dispute.json")
    slack.open("# ar-disputes")
    slack.card("BX-000001").get_by_role("button", name="Reject").click()
    dialog = slack.page.get_by_role("dialog", name="Reject BX-000001")
    expect(dialog).to_be_visible()
    reason = dialog.get_by_label("Why are you rejecting it?")
    expect(reason).to_be_focused()

    dialog.get_by_role("button", name="Reject").click()  # empty: Slack's client refuses it
    expect(dialog.get_by_role("alert")).to_have_text("Please complete this required field.")

    reason.fill("  x  ")  # long enough for the client, too short for Countersign
    dialog.get_by_role("button", name="Reject").click()
    expect(dialog.get_by_role("alert")).to_have_text("Please say why, in a few words.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_be_visible()

    reason.fill("Credit note instead")
    reason.press("Tab")
    slack.page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Reject")).to_be_focused()
    slack.page.keyboard.press("Enter")  # the keyboard alone submits it
    expect(dialog).to_be_hidden()
    card = slack.card("BX-000001")
    expect(card).to_contain_text("Rejected — the invoice stays held")
    expect(slack.buttons(card)).to_have_count(0)
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_edited_invoice_is_not_posted_and_asked_again(
    sandbox: SandboxProcess, context: BrowserContext
) -> None:
    """A total changed on the Intacct page after the card was sent is not posted: the release
    finds the change and (on_invoice_change: reapprove, the default) asks step 1 again."""
    slack = WorkspacePage(context, slack_url(sandbox), "U0FINMGR1")
    slack.send_event("discount.json")
    expect(slack.card("BX-000001")).to_contain_text("USD 48,250.00")

    intacct = IntacctPage(context, intacct_url(sandbox))
    expect(intacct.invoice("INV-1001").locator("td.lines")).to_contain_text("GL 4000 · 48250.00")
    # the opening snapshot has read the invoice: an edit from here on comes after it
    expect(intacct.calls().get_by_role("row").filter(has_text="read invoice").first).to_be_visible()
    intacct.set_total("INV-1001", "52000.00")
    expect(intacct.invoice("INV-1001")).to_contain_text("52000.00 USD")
    expect(intacct.invoice("INV-1001").locator("td.lines")).to_contain_text("52000.00")

    slack.page.bring_to_front()
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.card("BX-000001")).to_contain_text("Step 2 of 2")
    slack.view_as("U0CFO1")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    card = slack.card("BX-000001")
    expect(card).to_contain_text("The invoice changed after approval")
    expect(card).to_contain_text("Step 1 of 2")
    expect(slack.buttons(card)).to_have_count(4)  # Approve, Reject, Request changes, Details
    card.get_by_role("button", name="1 reply").click()  # the thread says why
    thread = slack.page.get_by_role("complementary", name="Thread")
    expect(thread).to_contain_text("changed")

    intacct.page.bring_to_front()
    row = intacct.invoice("INV-1001")
    expect(row.get_by_role("cell", name="draft")).to_be_visible()
    expect(row.locator("td.count")).to_have_text("0")
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_home_tab_and_slash_command(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """Home shows what Countersign published for the viewer; the composer runs a command."""
    slack = WorkspacePage(context, slack_url(sandbox), "U0FINMGR1")
    slack.send_event("discount.json")
    expect(slack.card("BX-000001")).to_be_visible()
    slack.open("Home")
    home = slack.page.locator("#messages")
    expect(home).to_contain_text("Countersign — your queue")
    expect(home).to_contain_text("BX-000001")
    expect(home).to_contain_text("Acme Corp")
    shoot(slack.page, "home")

    slack.view_as("U0OUTSIDER")  # the Home tab is per person: the outsider waits on nothing
    expect(home).to_contain_text("Nothing is waiting for you")

    slack.open("# billing-exceptions")
    composer = slack.page.get_by_label("Run a slash command in # billing-exceptions")
    composer.fill("/billing-exceptions help")
    composer.press("Enter")
    expect(slack.private_notes().last).to_contain_text("/billing-exceptions")
    slack.view_as("U0FINMGR1")
    expect(slack.private_notes()).to_have_count(0)
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_hostile_text_stays_text(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """Markup in a customer's name is shown as typed; nothing in it runs or becomes an element."""
    event = json.loads((EXAMPLES / "discount.json").read_text())
    event["event_id"] = "hostile-1"
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> *Evil* & Co'
    event["customer"]["name"] = hostile
    slack = WorkspacePage(context, slack_url(sandbox), "U0FINMGR1")
    slack.send_event(pasted=json.dumps(event))
    card = slack.card("BX-000001")
    expect(card).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(card).to_contain_text("& Co")
    assert card.locator("img, script").count() == 0
    assert slack.page.evaluate("window.pwned") is None
    policy = httpx.get(slack_url(sandbox), timeout=5).headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert_at_rest(f"sqlite:///{sandbox.db}")


GENERIC_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Any card at all"}},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*bold* _italic_ ~gone~ `code` <https://example.com/doc|the doc> "
            "for <@U0CFO1> in <#C0BILLING> &lt;b&gt;not bold&lt;/b&gt;",
        },
        "fields": [
            {"type": "mrkdwn", "text": "*Left*\none"},
            {"type": "plain_text", "text": "Right *as typed*"},
        ],
    },
    {"type": "divider"},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "a _context_ line"}]},
    {
        "type": "actions",
        "block_id": "b_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "b_archive",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Archive"},
                "confirm": {
                    "title": {"type": "plain_text", "text": "Archive it?"},
                    "text": {"type": "mrkdwn", "text": "This *cannot* be undone."},
                    "confirm": {"type": "plain_text", "text": "Archive"},
                    "deny": {"type": "plain_text", "text": "Keep it"},
                },
            }
        ],
    },
]


def test_any_block_kit_is_drawn(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """Header, mrkdwn, fields, context, a confirm dialog and a thread, from any app's blocks."""
    from slack_sdk import WebClient

    from app.sandbox.slack_emulator.models import DEFAULT_BOT_TOKEN

    client = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack_url(sandbox) + "api/")
    posted = client.chat_postMessage(channel="C0BILLING", text="any", blocks=GENERIC_BLOCKS)
    client.chat_postMessage(channel="C0BILLING", text="a reply in *thread*", thread_ts=posted["ts"])
    slack = WorkspacePage(context, slack_url(sandbox), "U0CTRL1")
    card = slack.card("Any card at all")
    expect(card.locator("strong").first).to_have_text("bold")
    expect(card.locator("em").first).to_have_text("italic")
    expect(card.locator("del")).to_have_text("gone")
    expect(card.locator("code")).to_have_text("code")
    link = card.get_by_role("link", name="the doc")
    expect(link).to_have_attribute("href", "https://example.com/doc")
    expect(card).to_contain_text("for @Morgan CFO in #billing-exceptions")
    expect(card).to_contain_text("<b>not bold</b>")
    expect(card).to_contain_text("Right *as typed*")
    expect(card.get_by_role("separator")).to_have_count(1)
    archive = card.get_by_role("button", name="Archive")
    expect(archive).to_have_class("bk-button danger")

    clicks: list[str] = []
    slack.page.on(
        "request",
        lambda request: clicks.append(request.url) if "/ui/click" in request.url else None,
    )
    archive.click()
    confirm = slack.page.get_by_role("dialog", name="Archive it?")
    expect(confirm).to_contain_text("This cannot be undone.")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    expect(archive).to_be_focused()  # focus goes back to the button
    assert clicks == []  # denied: nothing was sent
    archive.click()
    confirm.get_by_role("button", name="Archive").click()
    expect(slack.status()).to_contain_text("Clicked Archive as Casey Controller")
    assert len(clicks) == 1

    card.get_by_role("button", name="1 reply").click()
    thread = slack.page.get_by_role("complementary", name="Thread")
    expect(thread.get_by_role("listitem").last.locator("strong")).to_have_text("thread")
    assert_at_rest(f"sqlite:///{sandbox.db}")


def test_failures_injected_on_the_intacct_page(
    sandbox: SandboxProcess, context: BrowserContext
) -> None:
    """A 429 queued on the page meets the release; the retry posts once, with the same key."""
    intacct = IntacctPage(context, intacct_url(sandbox))
    intacct.page.get_by_label("Operation", exact=True).select_option("submit")
    intacct.page.get_by_label("Failure", exact=True).select_option("429")
    intacct.page.get_by_label("For the next N calls").fill("1")
    intacct.page.get_by_role("button", name="Queue failure").click()
    expect(intacct.page.get_by_text("Queued: submit: 429")).to_be_visible()

    slack = WorkspacePage(context, slack_url(sandbox), "U0FINMGR1")
    slack.send_event("discount.json")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.card("BX-000001")).to_contain_text("Step 2 of 2")
    slack.view_as("U0CFO1")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.card("BX-000001")).to_contain_text("Approved and released in Intacct")

    intacct.page.bring_to_front()
    submits = intacct.calls().get_by_role("row").filter(has_text="submit (post)")
    expect(submits).to_have_count(2)
    expect(submits.nth(1)).to_contain_text("429")  # newest first: the refused one is older
    expect(submits.nth(0)).to_contain_text("200")
    keys = {row.locator("td.mono").text_content() for row in submits.all()}
    assert len(keys) == 1  # the retry carried the same Idempotency-Key
    expect(intacct.invoice("INV-1001").locator("td.count")).to_have_text("1")
    expect(intacct.page.get_by_text("No failures queued.")).to_be_visible()
    assert_at_rest(f"sqlite:///{sandbox.db}")

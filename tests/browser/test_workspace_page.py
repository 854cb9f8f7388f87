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


def test_edited_invoice_is_blocked(sandbox: SandboxProcess, context: BrowserContext) -> None:
    """A total changed on the Intacct page after the card was sent blocks the release."""
    slack = WorkspacePage(context, slack_url(sandbox), "U0FINMGR1")
    slack.send_event("discount.json")
    expect(slack.card("BX-000001")).to_contain_text("USD 48,250.00")

    intacct = IntacctPage(context, intacct_url(sandbox))
    intacct.set_total("INV-1001", "52000.00")
    expect(intacct.invoice("INV-1001")).to_contain_text("52000.00 USD")

    slack.page.bring_to_front()
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    expect(slack.card("BX-000001")).to_contain_text("Step 2 of 2")
    slack.view_as("U0CFO1")
    slack.card("BX-000001").get_by_role("button", name="Approve").click()
    card = slack.card("BX-000001")
    expect(card).to_contain_text("Approved but NOT released — the invoice changed")
    expect(slack.buttons(card)).to_have_count(0)
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
    expect(home).to_contain_text("Your queue")
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

"""The sandbox pages as a person uses them: by role and label, as a screen reader would."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Locator, Page, expect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class WorkspacePage:
    """The Slack emulator's page (:3001 in the sandbox)."""

    def __init__(self, context: BrowserContext, url: str, as_user: str) -> None:
        self.page: Page = context.new_page()
        self.page.goto(f"{url}?as={as_user}")
        expect(self.page.get_by_label("Viewing as")).to_have_value(as_user)

    def view_as(self, user: str) -> None:
        self.page.get_by_label("Viewing as").select_option(user)
        expect(self.page.get_by_label("Viewing as")).to_have_value(user)

    def open(self, name: str) -> None:
        """A channel (`# billing-exceptions`), the app's DM, or `Home`."""
        button = self.page.get_by_role("navigation", name="Workspace").get_by_role(
            "button", name=name, exact=True
        )
        button.click()
        expect(button).to_have_attribute("aria-current", "page")

    def send_event(self, example: str | None = None, pasted: str | None = None) -> str:
        """Send an example (or pasted) event from the page; Countersign's answer."""
        page = self.page
        page.get_by_role("button", name="Send a billing event…").click()
        dialog = page.get_by_role("dialog", name="Send a billing event")
        expect(dialog).to_be_visible()
        if example is not None:
            dialog.get_by_label("Example").select_option(label=example)
        if pasted is not None:
            dialog.get_by_label("Event (JSON; edit it or paste your own)").fill(pasted)
        answer = dialog.locator("output")
        dialog.get_by_role("button", name="Send event").click()
        expect(answer).to_contain_text("{")
        said = answer.text_content() or ""
        dialog.get_by_role("button", name="Close", exact=True).click()
        expect(dialog).to_be_hidden()
        return said

    def card(self, label: str) -> Locator:
        """The message whose header names the exception `label` (BX-000001)."""
        return self.page.locator("#messages > li.message").filter(
            has=self.page.get_by_role("heading", name=label)
        )

    @staticmethod
    def buttons(message: Locator) -> Locator:
        """The Block Kit buttons on a message (not its "N replies" link)."""
        return message.locator(".bk").get_by_role("button")

    def private_notes(self) -> Locator:
        return self.page.locator("#messages > li.ephemeral")

    def status(self) -> Locator:
        return self.page.get_by_role("status").first


class IntacctPage:
    """The Intacct emulator's page (:3002 in the sandbox)."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.page: Page = context.new_page()
        self.page.goto(url)
        expect(self.page.get_by_role("heading", name="Invoices")).to_be_visible()

    def invoice(self, number: str) -> Locator:
        return self.page.get_by_role("row").filter(
            has=self.page.get_by_role("rowheader", name=number)
        )

    def set_total(self, number: str, total: str) -> None:
        self.page.get_by_label(f"New total for {number}").fill(total)
        self.page.get_by_role("button", name=f"Save the total of {number}").click()
        expect(self.page.get_by_role("status")).to_contain_text(f"{number} now totals {total}")

    def calls(self) -> Locator:
        return self.page.get_by_role("table", name="Newest first; credentials are redacted.")

"""The local sandbox: Slack and Intacct emulators on loopback, Countersign wired to them.
Everything uses obviously fake secrets; nothing leaves the machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.sandbox.intacct_emulator import IntacctEmulator
    from app.sandbox.slack_emulator import SlackEmulator

SIGNING_SECRET = "sandbox-signing-secret-not-real"
WEBHOOK_SECRET = "sandbox-webhook-secret-not-real"
INTACCT_USERNAME = "countersign@sandbox"


def emulator_settings(
    slack: SlackEmulator,
    intacct: IntacctEmulator,
    *,
    signing_secret: str = SIGNING_SECRET,
    webhook_secret: str = WEBHOOK_SECRET,
) -> dict[str, str]:
    """The settings that wire Countersign to the two running emulators (fake secrets)."""
    from app.sandbox.intacct_emulator.emulator import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_KEY

    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack.api_url,
        "BILLING_WEBHOOK_SECRET": webhook_secret,
        "INTACCT_API_URL": intacct.base_url,
        "INTACCT_CLIENT_ID": SANDBOX_CLIENT_ID,
        "INTACCT_CLIENT_SECRET": SANDBOX_CLIENT_KEY,
        "INTACCT_USERNAME": INTACCT_USERNAME,
    }


@dataclass(frozen=True)
class SandboxInvoice:
    key: str
    number: str
    customer_id: str
    customer_name: str
    currency: str
    amount: str


# Draft invoices the example events in examples/ refer to.
INVOICES = (
    SandboxInvoice("INV-KEY-1001", "INV-1001", "C-ACME", "Acme Corp", "USD", "48250.00"),
    SandboxInvoice("INV-KEY-1002", "INV-1002", "C-GLOBEX", "Globex GmbH", "EUR", "1200.00"),
    SandboxInvoice("INV-KEY-1003", "INV-1003", "C-INITECH", "Initech", "USD", "980.00"),
)


@dataclass(frozen=True)
class Ports:
    app: int = 3000
    slack: int = 3001
    intacct: int = 3002

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app}"

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.slack}/"


def walkthrough(ports: Ports) -> str:
    """What to type next, printed when the sandbox is up."""
    return f"""
Countersign sandbox is running (no real Slack or Intacct is contacted).
  app            {ports.app_url}   (POST /billing-events, /slack/events, GET /healthz /readyz)
  Slack emulator {ports.slack_url}_emulator/state
  Intacct        http://127.0.0.1:{ports.intacct}/ia/api/v1   (draft invoices INV-KEY-1001..1003)

In another terminal (source .venv/bin/activate first):
  countersign sandbox send examples/discount.json        # a 25% discount needs two approvals
  countersign sandbox show                               # the cards in the emulated channels
  countersign sandbox click BX-000001 approve --as U0FINMGR1   # step 1: a finance manager
  countersign sandbox click BX-000001 approve --as U0CFO1      # step 2: the CFO -> posted
  countersign sandbox click BX-000001 approve --as U0OUTSIDER  # refused, privately
  countersign sandbox send examples/dispute.json         # routed to #ar-disputes
  countersign sandbox click BX-000002 reject --as U0BILLOPS1 --reason "credit note instead"
  DATABASE_URL=sqlite:///./countersign-sandbox.db countersign audit verify   # the evidence
Stop with Ctrl-C.
"""

"""The local sandbox: Slack and Intacct emulators on loopback, Countersign wired to them.
Everything uses obviously fake secrets; nothing leaves the machine."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
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
        # No weekly reconciliation notice in a fresh sandbox (or test) database: run
        # `countersign reconcile --since …` to see one; set RECONCILE_WEEKDAY to schedule it.
        "RECONCILE_WEEKDAY": "off",
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


# `sandbox send`, `click` and `show` read the ports from these when no option is given, so the
# hints of a sandbox on other ports work as printed.
APP_PORT_ENV = "COUNTERSIGN_SANDBOX_PORT"
SLACK_PORT_ENV = "COUNTERSIGN_SANDBOX_SLACK_PORT"
DEFAULT_DB = "./countersign-sandbox.db"


def start_emulators(ports: Ports) -> tuple[SlackEmulator, IntacctEmulator]:
    """Both emulators on their ports, the Intacct one holding the sandbox's draft invoices.
    OSError when a port is taken (nothing is left running then)."""
    from app.sandbox.intacct_emulator import IntacctEmulator
    from app.sandbox.slack_emulator import SlackEmulator

    slack = SlackEmulator(port=ports.slack).start()
    try:
        intacct = IntacctEmulator(port=ports.intacct).start()
    except OSError:
        slack.stop()
        raise
    connect_page(slack, ports)
    for invoice in INVOICES:
        intacct.add_invoice(
            invoice.key,
            number=invoice.number,
            customer_id=invoice.customer_id,
            customer_name=invoice.customer_name,
            currency=invoice.currency,
            amount=invoice.amount,
        )
    return slack, intacct


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SLASH_COMMANDS = ("/billing-exceptions",)


def example_events(folder: Path = EXAMPLES) -> tuple[tuple[str, str], ...]:
    """(file name, text) of each examples/*.json, for the page's "send an event" list."""
    if not folder.is_dir():
        return ()
    return tuple((path.name, path.read_text()) for path in sorted(folder.glob("*.json")))


def connect_page(slack: SlackEmulator, ports: Ports) -> None:
    """Point the workspace page at Countersign: clicks and commands signed with the sandbox's
    Slack signing secret, billing events with its webhook secret (the emulator learns neither
    scheme from the app: it is handed a target and a signer)."""
    import time

    from app import webhook

    def sign_event(body: bytes) -> dict[str, str]:
        return webhook.signed_headers(WEBHOOK_SECRET, int(time.time()), body)

    slack.connect_app(f"{ports.app_url}/slack/events", SIGNING_SECRET, SLASH_COMMANDS)
    slack.connect_billing(f"{ports.app_url}/billing-events", sign_event, example_events())
    slack.link_page("The Intacct page", ports.intacct_url)


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

    @property
    def intacct_url(self) -> str:
        return f"http://127.0.0.1:{self.intacct}/"

    def env(self) -> dict[str, str]:
        """The variables the other commands need to find these ports (none for the defaults)."""
        default = Ports()
        return {
            name: str(port)
            for name, port, usual in (
                (APP_PORT_ENV, self.app, default.app),
                (SLACK_PORT_ENV, self.slack, default.slack),
            )
            if port != usual
        }


def start_clean(database: Path) -> None:
    """Delete the sandbox's SQLite file and its journal files: the next start is a fresh one,
    matching the emulators, which keep nothing between runs."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def sqlite_url(path: str) -> str:
    """`sqlite:///` + the path as given (relative stays relative, absolute gives four slashes)."""
    return f"sqlite:///{path}"


# The commands to type in a second terminal, in order. `make run` prints them, the README shows
# them (tests/e2e/test_sandbox_walkthrough.py checks both, and runs them one after the other).
WALKTHROUGH = """\
countersign sandbox send examples/discount.json        # BX-000001: a 25 % discount, two steps
countersign sandbox show                               # the card in #billing-exceptions
countersign sandbox click BX-000001 approve --as U0OUTSIDER  # refused: not an approver
countersign sandbox click BX-000001 approve --as U0FINMGR1   # step 1 of 2: a finance manager
countersign sandbox home --as U0CFO1                   # the CFO's Home: BX-000001 waits there
countersign sandbox click BX-000001 details --as U0CFO1      # the event, route, Intacct context
countersign sandbox command "/billing-exceptions list overdue" --as U0FINMGR1  # nothing overdue
countersign sandbox command "/billing-exceptions show BX-000001" --as U0OUTSIDER  # not allowed
countersign sandbox click BX-000001 approve --as U0CFO1      # step 2 of 2: the CFO -> released
countersign sandbox show                               # card updated in place; requester DM'd
countersign sandbox send examples/dispute.json         # BX-000002, in #ar-disputes
countersign sandbox click BX-000002 reject --as U0BILLOPS1 --reason "credit note instead"
countersign sandbox send examples/small-discount.json  # BX-000003: 3 %, approved at once
countersign policies reload                            # after editing policies/: apply them
countersign audit verify                               # audit chain intact: N entries
"""


def walkthrough(
    ports: Ports, database: str = DEFAULT_DB, extra_env: dict[str, str] | None = None
) -> str:
    """What `sandbox up` prints once running: where things are, then what to type next."""
    env = {"DATABASE_URL": sqlite_url(database), **ports.env(), **(extra_env or {})}
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    commands = "".join(f"  {line}\n" for line in WALKTHROUGH.splitlines())
    return f"""
Open the sandbox workspace in your browser: {ports.slack_url}
  (Slack as any sandbox user: cards, clicks, dialogs, Home tab, send an example event)
  Intacct page   {ports.intacct_url}   (invoices, API calls, edit a total, inject failures)

sandbox: started from a clean database at {database} (emptied at every start)

Countersign sandbox is running (no real Slack or Intacct is contacted).
  app            {ports.app_url}   (POST /billing-events, /slack/events, GET /healthz /readyz)
  Slack emulator {ports.slack_url}_emulator/state
  Intacct        {ports.intacct_url}ia/api/v1   (draft invoices INV-KEY-1001..1003)
  database       {database}   (emptied at every start)

In another terminal, in this folder:
  source .venv/bin/activate
  export {exports}
{commands}Stop with Ctrl-C.
"""

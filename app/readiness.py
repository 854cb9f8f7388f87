"""What `/readyz` reports: can this instance do its work right now?

Not ready (503) when the database does not answer, its schema is not at the head migration,
or the outbox worker or timer sweep has stopped running. Slack is reported but does not make
the instance unready: it is the same Slack for every instance, and taking them all out of the
load balancer would stop the billing webhook too; while Slack is away the cards wait in the
outbox and go out when it answers again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.scheduler import HEALTH, OUTBOX, TIMERS, one_line
from app.store.migrate import revision_of, schema_problem

if TYPE_CHECKING:
    from app.runtime import Runtime

OK = "ok"
GATING = ("database", "schema", "outbox_worker", "timer_sweep")


def database_checks(runtime: Runtime) -> dict[str, str]:
    """One round trip: the database answers, and at which schema revision."""
    try:
        with runtime.db.engine.connect() as connection:
            revision = revision_of(connection)
    except Exception as error:  # any failure to answer is "not answering", with its reason
        return {"database": f"not answering ({one_line(error)})", "schema": "unknown"}
    return {"database": OK, "schema": schema_problem(revision) or OK}


def slack_delivery(runtime: Runtime) -> str:
    """The last Slack job parked for a person to fix (reported, never gating)."""
    problem = runtime.worker.attention
    if problem is None or not problem.kind.startswith("slack."):
        return OK
    return (
        f"job {problem.job} parked at {problem.at:%Y-%m-%d %H:%M:%S} UTC: {problem.reason};"
        f" then `countersign outbox retry {problem.job}`"
    )


def policy_change(runtime: Runtime) -> str:
    """A policy version waiting for approval under change_control, or "none" (never gating:
    the policy in force keeps working meanwhile)."""
    from app.store import policy_versions

    try:
        with runtime.db.transaction() as session:
            waiting = policy_versions.pending(session)
    except Exception as error:  # the database check above already says why
        return f"unknown ({one_line(error)})"
    if not waiting:
        return "none"
    row = waiting[-1]
    return (
        f"pending approval: {row.content_hash[:12]} (loaded {row.loaded_at:%Y-%m-%d %H:%M:%S}"
        f" UTC by {row.host}/{row.pid}; asked in {row.channel})"
    )


def readiness(runtime: Runtime) -> tuple[bool, dict[str, Any]]:
    """(ready, body): each check is "ok" or the reason it is not."""
    checks = database_checks(runtime)
    stalled = runtime.scheduler.problems()
    checks["outbox_worker"] = stalled.get(OUTBOX, OK)
    checks["timer_sweep"] = stalled.get(TIMERS, OK)
    slack = runtime.slack_health.state
    checks["slack"] = (OK if slack.ready else f"not ready: {slack.reason}") + (
        f" (health probe: {stalled[HEALTH]})" if HEALTH in stalled else ""
    )
    checks["slack_delivery"] = slack_delivery(runtime)
    ready = all(checks[name] == OK for name in GATING)
    policies = runtime.policies.current()
    body: dict[str, Any] = {
        "status": ("ready" if slack.ready else "ready, Slack not ready") if ready else "not ready",
        **checks,
        "policies": policies.content_hash,
        "routes": len(policies.routes),
        "policy_change": policy_change(runtime) if checks["schema"] == OK else "unknown",
    }
    return ready, body

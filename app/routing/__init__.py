"""Routing policies: strict loading with every error placed, compiled router, explain, backtest."""

from app.routing.errors import PolicyLoadError, Problem
from app.routing.explain import Explanation, RouteTrial, explain_event, render_explain
from app.routing.loader import content_hash, load_policy_files, load_policy_set
from app.routing.policy_set import (
    ChangeControl,
    CompiledRoute,
    EscalationLevel,
    PolicySet,
    RouteDecision,
    StepPlan,
)

__all__ = [
    "ChangeControl",
    "CompiledRoute",
    "EscalationLevel",
    "Explanation",
    "PolicyLoadError",
    "PolicySet",
    "Problem",
    "RouteDecision",
    "RouteTrial",
    "StepPlan",
    "content_hash",
    "explain_event",
    "load_policy_files",
    "load_policy_set",
    "render_explain",
]

"""Check a calendar's holiday country (ISO 3166 code) and subdivision against `holidays`."""

from __future__ import annotations

from functools import lru_cache

import holidays as holidays_lib

from app.routing.errors import Problem
from app.routing.schema import Ref


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    countries = holidays_lib.list_supported_countries()
    return {code: tuple(subdivs) for code, subdivs in countries.items()}


def check_holidays(country: Ref, subdiv: Ref | None, problems: list[Problem]) -> bool:
    """True if the country (and subdivision, if given) have a public-holiday calendar."""
    supported = _supported()
    if country.value not in supported:
        hint = "use an ISO 3166 country code such as US, GB, DE or CA"
        problems.append(
            country.pos.problem(f"no public holidays known for {country.value!r}", hint)
        )
        return False
    if subdiv is not None and subdiv.value not in supported[country.value]:
        known = ", ".join(supported[country.value][:12]) or "none"
        problems.append(
            subdiv.pos.problem(
                f"{country.value} has no subdivision {subdiv.value!r}", f"known: {known}"
            )
        )
        return False
    return True

"""Money: Decimal from strings, never float; ISO 4217 currency codes."""

from __future__ import annotations

import re
from decimal import Decimal

# What the amount columns hold on both databases (NUMERIC(24, 6) on PostgreSQL): fewer than
# 18 digits before the point, at most 6 after it.
MAX_INTEGER_DIGITS = 18
MAX_PLACES = 6
MAX_AMOUNT = Decimal(10) ** MAX_INTEGER_DIGITS  # exclusive
_DECIMAL = re.compile(r"[+-]?[0-9]{1,100}(?:\.[0-9]{1,100})?", re.ASCII)

# Active ISO 4217 alphabetic codes (ISO 4217 amendment 178 list, funds and metals excluded).
_ACTIVE_CODES = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES
    KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
    TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
    ZWG
"""
ISO_4217 = frozenset(_ACTIVE_CODES.split())


class MoneyError(ValueError):
    """An amount or currency that cannot be accepted."""


def parse_amount(text: str) -> Decimal:
    """Parse a decimal string such as "1234.50" exactly: ASCII digits, an optional point, at
    most 6 significant decimal places, less than 10^18 in size. No floats, exponents, NaN."""
    if not isinstance(text, str):
        raise MoneyError('amount must be a decimal string such as "1234.50", not a number')
    cleaned = text.strip()
    if not _DECIMAL.fullmatch(cleaned):
        raise MoneyError(f'amount {_show(text)} is not a decimal string such as "1234.50"')
    value = Decimal(cleaned)
    check_amount(value)
    return value


def check_amount(value: Decimal) -> None:
    """Refuse an amount the database columns cannot hold exactly (see MAX_INTEGER_DIGITS)."""
    if not value.is_finite():
        raise MoneyError(f"amount {value} is not a finite number")
    if abs(value) >= MAX_AMOUNT:
        raise MoneyError(f"amount {value:.0e} is too large: at most {MAX_INTEGER_DIGITS} digits")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if -(exponent + trailing) > MAX_PLACES and any(digits):
        raise MoneyError(f"amount {value} has more than {MAX_PLACES} decimal places")


def _show(text: str) -> str:
    return repr(text[:40]) + ("…" if len(text) > 40 else "")


def check_currency(code: str) -> str:
    """Return the ISO 4217 code if it is one, upper-case only."""
    if code not in ISO_4217:
        raise MoneyError(f"currency {code!r} is not an ISO 4217 code such as USD or EUR")
    return code


def format_money(amount: Decimal, currency: str) -> str:
    """Show an amount for people: thousands separators, at least two decimals."""
    exponent = amount.as_tuple().exponent
    places = 2
    if isinstance(exponent, int):  # the other values, n/N/F, mean not finite
        places = max(2, -exponent)
    return f"{currency} {amount:,.{places}f}"

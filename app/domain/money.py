"""Money: Decimal from strings, never float; ISO 4217 currency codes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
    """Parse a decimal string such as "1234.50" exactly; reject floats, NaN and infinities."""
    if not isinstance(text, str):
        raise MoneyError('amount must be a decimal string such as "1234.50", not a number')
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise MoneyError(f"amount {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise MoneyError(f"amount {text!r} is not a finite number")
    return value


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

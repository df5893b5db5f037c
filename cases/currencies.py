"""ISO 4217 currency codes in use, with their minor units (how many decimals an amount may have)."""

from __future__ import annotations

from decimal import Decimal

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF "
    "CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL "
    "HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
    "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS "
    "VES WST XCD YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in _TWO.split()},
    **{code: 0 for code in _ZERO.split()},
    **{code: 3 for code in _THREE.split()},
}

CURRENCY_CHOICES = [(code, code) for code in sorted(MINOR_UNITS)]


def is_currency(code: str) -> bool:
    """Whether code is an ISO 4217 currency the portal accepts."""
    return code in MINOR_UNITS


def plain_amount(amount: Decimal | None, currency: str) -> str | None:
    """The amount as a string with exactly the currency's minor units ("980.00" for USD, "41250" for JPY),
    as the API sends it; None stays None."""
    if amount is None:
        return None
    places = MINOR_UNITS.get(currency, 2)
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


def money(amount: Decimal | None, currency: str, language: str | None = None) -> str:
    """An amount as a reader of `language` (default: the active one) writes it, through Babel: $1,290.00,
    ￥41,250, 1 290,00 $. The one way the portal shows money, on its pages and in its e-mails."""
    if amount is None:
        return ""
    from babel.numbers import format_currency, format_decimal
    from django.conf import settings
    from django.utils import translation

    locale = translation.to_locale(language or translation.get_language() or settings.LANGUAGE_CODE)
    if not currency:
        return format_decimal(amount, locale=locale)
    return format_currency(amount, currency, locale=locale)

"""Money: one currency, formatted the same way in the report, the spreadsheet and the CLI.

A :class:`Currency` is an ISO 4217 code with the symbol and the number of minor-unit
digits people expect to see (``"EUR"`` -> ``€1,234.56``, ``"JPY"`` -> ``¥1,235``). Codes
without a well-known symbol are written before the amount (``CHF 1,234.56``). The grouping
is the English one (``1,234.56``), like the rest of the report.

Two styles of number:

- :meth:`Currency.format` for tables and spreadsheets: every minor unit
  (``€702,728.05``);
- :meth:`Currency.prose` for sentences and headline figures: rounded for people
  (``€703,000``, ``€2.50 million``, ``€85``, ``€4.97``).

``Currency(None)`` stands for an unstated currency: amounts carry no symbol.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Currency", "check_currency", "ISO_4217", "round_for_people"]

#: Active ISO 4217 codes (plus the X.. funds and metals codes), as of 2024.
ISO_4217: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR
    PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW
    UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS
    XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()
)

#: Symbols written before the amount without a space (well known and unambiguous in
#: an English report). Other codes are written as ``CODE 1,234.56``.
_SYMBOLS: dict[str, str] = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹", "KRW": "₩",
    "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "MXN": "MX$", "BRL": "R$",
    "ILS": "₪", "VND": "₫", "NGN": "₦", "PHP": "₱", "UAH": "₴", "TRY": "₺", "RUB": "₽",
    "THB": "฿", "TWD": "NT$",
}

#: Minor-unit digits that differ from 2 (ISO 4217).
_DECIMALS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4, "UYW": 4,
}

_CODE = re.compile(r"[A-Za-z]{3}")


def check_currency(code: Any, name: str = "currency") -> str | None:
    """Return ``code`` as an upper-case ISO 4217 code, ``None`` for ``None``/``""``.

    Parameters
    ----------
    code : str or None
        A currency code such as ``"EUR"`` (any case).
    name : str, default="currency"
        How the argument is named in the error message (``"--currency"`` on the CLI).

    Returns
    -------
    str or None

    Raises
    ------
    ValueError
        ``code`` is not a three-letter ISO 4217 code.

    Examples
    --------
    >>> check_currency("eur")
    'EUR'
    """
    if code is None or (isinstance(code, str) and code.strip() == ""):
        return None
    text = str(code).strip()
    if not _CODE.fullmatch(text) or text.upper() not in ISO_4217:
        hint = ""
        if text.upper() in {"EURO", "EUROS", "€"}:
            hint = " (did you mean EUR?)"
        elif text in {"$", "US$", "DOLLAR", "DOLLARS", "dollar", "dollars"}:
            hint = " (did you mean USD?)"
        elif text in {"£", "POUND", "pound", "pounds"}:
            hint = " (did you mean GBP?)"
        raise ValueError(
            f"{name} must be a three-letter ISO 4217 currency code such as EUR, USD, GBP or "
            f"JPY; got {text!r}{hint}."
        )
    return text.upper()


def round_for_people(value: float, *, small_decimals: int = 2) -> tuple[float, int]:
    """Round an amount the way a person would say it; return ``(rounded, decimals)``.

    At least 1,000: three significant digits (702,728.05 -> 703,000); 10 to 1,000:
    whole units (84.93 -> 85); below 10: ``small_decimals`` decimals (4.97). Millions
    are left to the caller (:meth:`Currency.prose` writes ``2.50 million``).
    """
    v = float(value)
    a = abs(v)
    if a >= 1000:
        digits = int(math.floor(math.log10(a))) + 1
        step = 10.0 ** (digits - 3)
        return _half_up(v / step) * step, 0
    if a >= 10:
        return _half_up(v), 0
    return round(v, small_decimals), small_decimals


def _half_up(v: float) -> float:
    """Round to a whole number, halves away from zero (10.5 -> 11, as people do)."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _grouped(value: float, decimals: int) -> str:
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and text.strip("0.,") != ""  # never "-0.00"
    return ("-" if negative else "") + text


@dataclass(frozen=True)
class Currency:
    """How amounts are written: ISO code, symbol and minor-unit digits.

    Parameters
    ----------
    code : str or None
        ISO 4217 code (checked with :func:`check_currency`); ``None``: currency not stated.
    """

    code: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", check_currency(self.code))

    @property
    def symbol(self) -> str:
        """Symbol written before the amount (``"€"``), the code for codes without one."""
        if self.code is None:
            return ""
        return _SYMBOLS.get(self.code, self.code)

    @property
    def decimals(self) -> int:
        """Minor-unit digits shown in tables (2 for most currencies, 0 for JPY)."""
        return 2 if self.code is None else _DECIMALS.get(self.code, 2)

    @property
    def _prefix(self) -> str:
        if self.code is None:
            return ""
        return self.symbol if self.code in _SYMBOLS else f"{self.code} "

    def _with_symbol(self, number: str) -> str:
        if number.startswith("-"):
            return "-" + self._prefix + number[1:]
        return self._prefix + number

    def format(self, value: Any, decimals: int | None = None, *, missing: str = "—") -> str:
        """Write an amount with every minor unit (tables): ``€1,234.56``."""
        if not _finite(value):
            return missing
        d = self.decimals if decimals is None else decimals
        return self._with_symbol(_grouped(float(value), d))

    def prose(self, value: Any, *, missing: str = "—") -> str:
        """Write an amount rounded for people (sentences, headline figures).

        ``€2.50 million``, ``€703,000``, ``€85``, ``€4.97``.
        """
        if not _finite(value):
            return missing
        v = float(value)
        if abs(v) >= 999_500:
            return self._with_symbol(_grouped(v / 1e6, 2) + " million")
        rounded, d = round_for_people(v, small_decimals=min(2, self.decimals))
        return self._with_symbol(_grouped(rounded, d))

    def excel_format(self, decimals: int | None = None) -> str:
        """Spreadsheet number format with the symbol, e.g. ``"€"#,##0.00``."""
        d = self.decimals if decimals is None else decimals
        number = "#,##0" + ("." + "0" * d if d > 0 else "")
        if self.code is None:
            return number
        prefix = self._prefix.replace('"', "")
        quoted = f'"{prefix}"'
        return f"{quoted}{number};-{quoted}{number}"

    @property
    def label(self) -> str:
        """``"EUR (€)"``, ``"CHF"``, or ``"not stated"``."""
        if self.code is None:
            return "not stated"
        return f"{self.code} ({self.symbol})" if self.code in _SYMBOLS else self.code

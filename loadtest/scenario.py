"""What the load test is made of, shared by the runner (which creates it) and the locustfile (which plays it).

Plain Python: no Django, no locust, so both sides can import it.
"""

from __future__ import annotations

import math

LANGUAGES = ["en", "zh-hant", "zh-hans", "ja", "ru"]

# Words to search the guidance for, one per language (each matches the seed article in that language).
SEARCH_TERMS = {
    "en": "billing",
    "zh-hant": "帳單",
    "zh-hans": "计费",
    "ja": "請求",
    "ru": "счет",
}

# Four partners on different clouds and support plans; customers in every language the portal speaks.
PARTNERS = [
    {
        "name": "Contoso Load",
        "mpn_id": "9100001",
        "case_prefix": "CON",
        "cloud": "global",
        "support_plan": "premier",
        "currency": "USD",
        "customers": [
            ("Northwind Traders", "northwind", "en"),
            ("Tailspin Toys 株式会社", "tailspin", "ja"),
            ("Wide World Importers ООО", "wideworld", "ru"),
            ("Litware 有限公司", "litware", "zh-hant"),
        ],
    },
    {
        "name": "Fabrikam China Load",
        "mpn_id": "9100002",
        "case_prefix": "FAB",
        "cloud": "21vianet",
        "support_plan": "none",
        "currency": "CNY",
        "customers": [
            ("Adatum 科技有限公司", "adatum", "zh-hans"),
            ("Proseware 股份有限公司", "proseware", "zh-hant"),
            ("Woodgrove Bank", "woodgrove", "en"),
        ],
    },
    {
        "name": "Lucerne Publishing KK",
        "mpn_id": "9100003",
        "case_prefix": "LUC",
        "cloud": "global",
        "support_plan": "advanced",
        "currency": "JPY",
        "customers": [
            ("Fourth Coffee 合同会社", "fourthcoffee", "ja"),
            ("Alpine Ski House", "alpineski", "en"),
        ],
    },
    {
        "name": "Trey Research GmbH",
        "mpn_id": "9100004",
        "case_prefix": "TRE",
        "cloud": "germany",
        "support_plan": "signature",
        "currency": "EUR",
        "customers": [
            ("Graphic Design Institute", "graphicdesign", "en"),
            ("Coho Winery ООО", "cohowinery", "ru"),
            ("Margie's Travel 有限公司", "margiestravel", "zh-hans"),
        ],
    },
]

# Technical escalation needs the matching plan; the commercial vehicle is open to every partner.
PLAN_VEHICLES = {"premier": "premier", "advanced": "advanced", "signature": "signature"}

# Disputed amounts per currency, in the currency's minor units (JPY has none); credits are smaller.
AMOUNTS = {
    "USD": ("412.50", "125.00"),
    "CNY": ("2980.00", "980.00"),
    "JPY": ("58000", "12000"),
    "EUR": ("389.90", "89.90"),
}

# The locust user classes: (role, how they reach the portal, weight). Locust shares users out by weight.
USER_CLASSES = {
    "HelpdeskAgentWeb": ("helpdesk_agent", "web", 3),
    "HelpdeskAgentApi": ("helpdesk_agent", "api", 3),
    "BillingAdminWeb": ("billing_admin", "web", 2),
    "BillingAdminApi": ("billing_admin", "api", 2),
    "SalesAgentWeb": ("sales_agent", "web", 1),
}


def accounts_needed(users: int) -> dict[str, int]:
    """How many accounts each user class gets, so every simulated user signs in as a person of its own."""
    total = sum(weight for _role, _mode, weight in USER_CLASSES.values())
    return {
        name: max(len(PARTNERS), math.ceil(users * weight / total) + 1)
        for name, (_role, _mode, weight) in USER_CLASSES.items()
    }


def guidance_cloud(cloud: str) -> str:
    """The guidance library a partner reads: 21Vianet's own, or the global one (also US Gov and Germany)."""
    return "21vianet" if cloud == "21vianet" else "global"

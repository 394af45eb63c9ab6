"""The 41 CUAD clause categories, with our own short descriptions.

Category names follow CUAD v1 (The Atticus Project, CC BY 4.0,
https://www.atticusprojectai.org/cuad): `name` is the column name used in CUAD's
`master_clauses.csv`; `aliases` holds the spellings used elsewhere in CUAD (its
README and question templates). Descriptions are written for DocIntel, not copied.

`kind` says what a matching span usually looks like:
- "title"   : the contract's own name (a heading)
- "party"   : names of the contracting parties
- "date"    : a date or a term expressed as a date / duration
- "value"   : a short answer such as a jurisdiction or a period
- "clause"  : a yes/no category; the span is the clause that triggers it
"""
from __future__ import annotations

from dataclasses import dataclass

ATTRIBUTION = "CUAD v1, The Atticus Project, CC BY 4.0 (https://www.atticusprojectai.org/cuad)"


@dataclass(frozen=True)
class Category:
    index: int
    name: str
    kind: str  # title | party | date | value | clause
    group: str  # CUAD's grouping of related categories ("-" when independent)
    description: str
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "index": self.index, "name": self.name, "kind": self.kind, "group": self.group,
            "description": self.description, "aliases": list(self.aliases),
        }


_RAW: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("Document Name", "title", "-", "The title the contract gives itself.", ()),
    ("Parties", "party", "-", "Who is bound by the contract: the people or companies that sign it.", ()),
    ("Agreement Date", "date", "1", "The date the contract is dated or signed.", ()),
    ("Effective Date", "date", "1", "When the contract's obligations start to apply.", ()),
    ("Expiration Date", "date", "1", "When the initial term ends (or that it runs indefinitely).", ()),
    ("Renewal Term", "date", "1", "How the contract continues after the first term: automatic or optional extensions and their length.", ()),
    ("Notice Period to Terminate Renewal", "value", "1", "How far in advance a party must object to stop a renewal.", ("Notice to Terminate Renewal",)),
    ("Governing Law", "value", "-", "Which jurisdiction's law is chosen to interpret the contract.", ()),
    ("Most Favored Nation", "clause", "-", "A promise that this counterparty gets terms at least as good as those offered to anyone else.", ()),
    ("Competitive Restriction Exception", "clause", "2", "Carve-outs that limit a non-compete, exclusivity or customer non-solicit restriction.", ()),
    ("Non-Compete", "clause", "2", "Limits on a party competing with the other, or on working in some market, territory or field.", ()),
    ("Exclusivity", "clause", "2", "Exclusive dealing: buying only from, selling only to, or working only with the counterparty.", ()),
    ("No-Solicit of Customers", "clause", "2", "A ban on approaching or taking over the other party's customers or partners.", ()),
    ("No-Solicit of Employees", "clause", "-", "A ban on recruiting or hiring the other party's staff or contractors.", ()),
    ("Non-Disparagement", "clause", "-", "A duty not to speak badly of the other party.", ()),
    ("Termination for Convenience", "clause", "-", "A right to end the contract without any breach, just by giving notice.", ()),
    ("Rofr/Rofo/Rofn", "clause", "-", "A first right to buy, license or negotiate for something before third parties may.", ("Right of First Refusal, Offer or Negotiation (ROFR/ROFO/ROFN)", "ROFR/ROFO/ROFN")),
    ("Change of Control", "clause", "3", "What happens (termination, consent, notice) if a party is acquired, merged or changes ownership.", ()),
    ("Anti-Assignment", "clause", "3", "Limits on transferring the contract to someone else without the other party's consent or notice.", ()),
    ("Revenue/Profit Sharing", "clause", "-", "Payments computed as a share of revenue or profit, such as royalties.", ()),
    ("Price Restrictions", "clause", "-", "Limits on raising or lowering prices.", ("Price Restriction",)),
    ("Minimum Commitment", "clause", "-", "A floor on what must be bought, sold or paid over a period.", ()),
    ("Volume Restriction", "clause", "-", "A ceiling or threshold on quantity or usage, with consequences when it is exceeded.", ()),
    ("IP Ownership Assignment", "clause", "-", "Intellectual property created under the contract becomes the property of one party.", ()),
    ("Joint IP Ownership", "clause", "-", "Intellectual property that the parties will own together.", ()),
    ("License Grant", "clause", "4", "One party grants the other a licence to use its intellectual property.", ()),
    ("Non-Transferable License", "clause", "4", "A licence that may not be transferred or sublicensed.", ()),
    ("Affiliate License-Licensor", "clause", "4", "A licence that includes intellectual property owned by the licensor's affiliates.", ("Affiliate IP License-Licensor",)),
    ("Affiliate License-Licensee", "clause", "4", "A licence that also covers the licensee's affiliates as users.", ("Affiliate IP License-Licensee",)),
    ("Unlimited/All-You-Can-Eat-License", "clause", "4", "A licence with no cap on the number of users, copies or uses.", ("Unlimited/All-You-Can-Eat License",)),
    ("Irrevocable or Perpetual License", "clause", "4", "A licence that cannot be withdrawn or that never expires.", ()),
    ("Source Code Escrow", "clause", "-", "Source code deposited with a third party and released on triggers such as insolvency.", ()),
    ("Post-Termination Services", "clause", "-", "Duties that continue after the contract ends, e.g. transition help, sell-off or wind-down.", ()),
    ("Audit Rights", "clause", "-", "A right to inspect the other party's books, records or facilities to check compliance.", ()),
    ("Uncapped Liability", "clause", "5", "Liability that is not limited, often as an exception to a cap for certain breaches.", ()),
    ("Cap on Liability", "clause", "5", "A limit on damages or liability, by amount or by type of loss, or a time limit on claims.", ("Cap On Liability",)),
    ("Liquidated Damages", "clause", "-", "A fixed sum or formula payable on breach or early termination.", ()),
    ("Warranty Duration", "value", "-", "How long a warranty on products or services lasts.", ()),
    ("Insurance", "clause", "-", "A duty to carry insurance, often with minimum amounts or named insureds.", ()),
    ("Covenant Not to Sue", "clause", "-", "A promise not to challenge the other party's rights (e.g. its IP) or bring claims.", ()),
    ("Third Party Beneficiary", "clause", "-", "Whether a non-party may enforce the contract.", ()),
]

CATEGORIES: tuple[Category, ...] = tuple(
    Category(i, name, kind, group, desc, aliases) for i, (name, kind, group, desc, aliases) in enumerate(_RAW)
)
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
N_CATEGORIES = len(CATEGORIES)
assert N_CATEGORIES == 41

_BY_KEY = {}
for _c in CATEGORIES:
    for _n in (_c.name, *_c.aliases):
        _BY_KEY[_n.lower()] = _c


def get_category(name: str) -> Category:
    """Look a category up by CUAD name or alias (case-insensitive)."""
    try:
        return _BY_KEY[name.strip().lower()]
    except KeyError:
        raise KeyError(f"unknown CUAD category {name!r}") from None


def taxonomy_json() -> dict:
    return {"attribution": ATTRIBUTION, "categories": [c.to_dict() for c in CATEGORIES]}

"""The pure policy engine: no Django imports here."""

from .distribute import Distribution, distribute
from .evaluate import (
    InvoiceClaims,
    Plan,
    Result,
    batch_claim,
    compile_policy,
    evaluate,
    evaluate_many,
    explain,
)
from .facts import CompanyFacts, Expense, PriorPayout, facts_from_mapping
from .loader import PolicyError, load_all, load_policy
from .schema import Mode, Period, Policy, Role

__all__ = [
    "CompanyFacts",
    "Distribution",
    "Expense",
    "InvoiceClaims",
    "Mode",
    "Period",
    "Plan",
    "Policy",
    "PolicyError",
    "PriorPayout",
    "Result",
    "Role",
    "batch_claim",
    "compile_policy",
    "distribute",
    "evaluate",
    "evaluate_many",
    "explain",
    "facts_from_mapping",
    "load_all",
    "load_policy",
]

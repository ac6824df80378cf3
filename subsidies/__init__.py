"""Policy engine and subsidy middle layer (issue 5).

``subsidies.engine`` is pure Python (no Django): policies are versioned YAML files in ``subsidies/policies``,
compiled once into plans and evaluated per company × period with a clause-by-clause trace.
"""

"""Declarative YAML scenarios: schema, loading (`extends:`), conditions, plans, test sets."""

from robustbench_liver.scenarios.conditions import PARAMS, Condition
from robustbench_liver.scenarios.load import Scenario, load_scenario, scenario_from_dict
from robustbench_liver.scenarios.plan import CaseSpec, Plan, base_scans, make_plan

__all__ = [
    "PARAMS",
    "CaseSpec",
    "Condition",
    "Plan",
    "Scenario",
    "base_scans",
    "load_scenario",
    "make_plan",
    "scenario_from_dict",
]

"""Scenario files: a load test's options written down in TOML, versioned beside the code it tests.

`load_scenario` reads and validates one (`model` is its schema); `apply.merge` lays it under the
command line's options and says what the run's meta records of it.
"""

from evtool.scenario.apply import Merged, ScenarioRecord, merge
from evtool.scenario.loader import ScenarioError, load_scenario
from evtool.scenario.model import Scenario

__all__ = ["Merged", "Scenario", "ScenarioError", "ScenarioRecord", "load_scenario", "merge"]

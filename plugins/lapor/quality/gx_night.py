"""The night's Great Expectations: one file context for both checkpoints, Data Docs built once.

The checks stage validates the coordinator's checks (lapor.quality.checks) and the warehouse
suites (lapor.quality.suites) through GX checkpoints whose results are kept under
`LAPOR_HOME/gx` and published in the Data Docs site there. Its cost did not depend on the
data (issue 17; docs/benchmarks.md, "Fifth session"); per night it went to:

- importing GX (40% of the CPU): GX imports `altair` and `scipy.stats` at import time for one
  expectation (`expect_column_kl_divergence_to_be_less_than`) and two KS-test metrics that
  no suite here uses; `import_gx` defers those two modules until something uses them
  (about 1 s of CPU and 75 MB of memory a night);
- building the Data Docs once per validation result (six times a night, an
  `UpdateDataDocsAction` per checkpoint): each build renders with fresh Jinja environments
  (every template compiled again) and rebuilds the index page, which reads every stored
  validation result of every earlier night (about 1 ms of CPU each: 2.4 s a build after a
  year of nights, six builds a night). `Night.publish` builds the site once, after both
  checkpoints, for the night's results and suites: the same pages, the index once;
- a second file context for the second checkpoint (`Night.context` is shared).

What the checkpoints validate and the results they store are unchanged.
"""
from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lapor.settings import Settings

# Imported by GX at import time, used only inside the functions of expectations and metrics
# no suite of this project has (KL divergence, KS tests) and their charts.
DEFERRED_MODULES = ("altair", "scipy.stats")


class _Deferred(types.ModuleType):
    """A module that imports itself on first use: its first attribute looked up replaces it in
    sys.modules by the real module, to which every later lookup is forwarded. `__spec__` is
    None so that `import name` (whose machinery reads `__spec__`) does not load it."""

    def __getattr__(self, attr: str) -> Any:
        real = sys.modules.get(self.__name__)
        if real is None or real is self:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def import_gx():
    """`great_expectations`, imported with DEFERRED_MODULES left for first use (when GX is
    already imported in this process, it is returned as it is).

    GX's own INFO lines (about 300 a night in LAPOR_HOME/logs/lapor.log: "Skipping registering
    function … because it is a closure" on import, "… missing `config_provider`, skipping config
    substitution" on every datasource it saves) say nothing about the night: its loggers keep
    their warnings and errors only, unless a level was set for them already."""
    quiet = logging.getLogger("great_expectations")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_MODULES:
            if name not in sys.modules:
                module = _Deferred(name)
                module.__spec__ = None
                sys.modules[name] = module
    import great_expectations

    return great_expectations


class Night:
    """The GX file context of a night's checks, shared by its checkpoints; the Data Docs built
    once, by `publish`, for the results of every checkpoint run through `run`.

    `docs_each_checkpoint=True` is GX's usual way instead, the night's slow path kept for
    the test that the fast one decides the same (tests/test_checks_and_alerts.py): an
    `UpdateDataDocsAction` in each checkpoint (`actions`), nothing left for `publish`.

    The context is made on first use (`context`), so that a failure to make it is raised
    inside the caller's own error handling (a check or suite that cannot run is recorded as
    such); a later use tries again."""

    def __init__(self, settings: Settings, docs_each_checkpoint: bool = False):
        self.settings = settings
        self.docs_each_checkpoint = docs_each_checkpoint
        self._context = None
        self._resources: list = []

    @property
    def context(self):
        if self._context is None:
            gx = import_gx()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.settings.home.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(self.settings.home))
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._context = context
        return self._context

    def actions(self) -> list:
        """The actions of the night's checkpoints."""
        if not self.docs_each_checkpoint:
            return []
        from great_expectations.checkpoint import UpdateDataDocsAction

        return [UpdateDataDocsAction(name="update_data_docs")]

    def run(self, checkpoint, **kwargs):
        """checkpoint.run(**kwargs); its validation results and their suites are published by
        `publish`."""
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        result = checkpoint.run(**kwargs)
        if self.docs_each_checkpoint:
            return result
        for identifier, outcome in result.run_results.items():
            self._resources += [identifier, ExpectationSuiteIdentifier(name=outcome.suite_name)]
        return result

    def publish(self) -> None:
        """Build the Data Docs site for the night's validation results and suites (their pages
        and the index page), once. Raises when the site cannot be built."""
        if self._resources:
            self.context.build_data_docs(resource_identifiers=self._resources)
            self._resources = []

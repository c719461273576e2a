"""The step matcher that the three funnel modes share.

Every mode asks one question of a set of a user's events (the events at one instant, or in one
window): how many consecutive steps, starting at step i, can they take, each step its own
event? Steps that compare the same way (same event type and filters) share a *condition*; an
event may meet several conditions when filters of one event type overlap. By Hall's marriage
theorem, steps i..i+r-1 can take distinct events of the set exactly when, for every set C of
conditions, the events meeting some condition in C are at least as many as those steps whose
condition is in C. Conditions of different event types never share an event, so only sets
within one event type need checking: for the usual funnel of distinct event types, that is
one count per condition.
"""

from collections import Counter
from itertools import combinations

import polars as pl

from metrics.funnel_spec import FunnelSpec, FunnelStep


def step_at(number: int) -> str:
    """Name of the column holding the time a step (1-based) was reached."""
    return f"step_{number}_at"


def first_of_run(column: str) -> pl.Expr:
    """True on the first row of each run of equal values of `column` (in a frame sorted by it)."""
    return pl.col(column).ne_missing(pl.col(column).shift(1)) | (pl.int_range(pl.len()) == 0)


def last_of_run(column: str) -> pl.Expr:
    """True on the last row of each run of equal values of `column` (in a frame sorted by it)."""
    return pl.col(column).ne_missing(pl.col(column).shift(-1)) | (pl.int_range(pl.len()) == pl.len() - 1)


def numbered_instants(events: pl.DataFrame) -> pl.DataFrame:
    """`events` sorted by user_id, then event_time (stably), plus `_instant`: the number of the
    row's (user_id, event_time), counting from 1 in that order.

    The funnel modes take events and entries numbered so: one instant is one `_instant`, whose
    order is the users' and times' order, so they group, join and look ahead on that one column.
    """
    return events.sort("user_id", "event_time", maintain_order=True).with_columns(
        _instant=(first_of_run("user_id") | first_of_run("event_time")).cum_sum()
    )


def _power_set(items: list[int]):
    return (subset for size in range(1, len(items) + 1) for subset in combinations(items, size))


class StepMatcher:
    """Which events match which steps, and how many consecutive steps a set of events can take.

    `with_conditions(events)` adds one boolean column per counted condition set; a frame that
    holds the per-set counts of some events (`_count_{n}`: the events of a group meeting set n)
    gets from `run_from(i)` the number of consecutive steps from step i those events can take.
    """

    def __init__(self, spec: FunnelSpec):
        self.spec = spec
        self.step_count = len(spec.steps)
        first_step_of: dict[tuple, FunnelStep] = {}
        for step in spec.steps:
            first_step_of.setdefault((step.event_type, step.filters), step)
        keys = list(first_step_of)
        self._conditions = [first_step_of[key].condition() for key in keys]
        self._step_condition = tuple(keys.index((step.event_type, step.filters)) for step in spec.steps)
        by_event_type: dict[str, list[int]] = {}
        for index, (event_type, _) in enumerate(keys):
            by_event_type.setdefault(event_type, []).append(index)
        self._counted_sets = [subset for indexes in by_event_type.values() for subset in _power_set(indexes)]
        self.set_count = len(self._counted_sets)

    def with_conditions(self, events: pl.DataFrame) -> pl.DataFrame:
        """`events` plus `_meets_{n}` per counted condition set and `_is_step` (meets any step)."""
        meets = self._conditions
        return events.with_columns(
            *(pl.any_horizontal([meets[c] for c in subset]).alias(f"_meets_{n}") for n, subset in enumerate(self._counted_sets)),
            _is_step=pl.any_horizontal(meets),
        )

    def demand(self, set_index: int, first_step: int, run: int) -> int:
        """How many of steps first_step..first_step+run-1 need an event of counted set `set_index`."""
        subset = self._counted_sets[set_index]
        return sum(self._step_condition[s - 1] in subset for s in range(first_step, first_step + run))

    def run_from(self, first_step: int) -> pl.Expr:
        """Consecutive steps from `first_step` that the counted events (`_count_{n}`) can take."""
        longest = self.step_count - first_step + 1
        limits = []
        for n in range(self.set_count):
            if self.demand(n, first_step, longest) == 0:
                continue
            # The runs set n's count allows: one per run whose demand it meets. Runs share
            # demands, so count them per demand and compare once per distinct demand.
            runs_per_demand = Counter(self.demand(n, first_step, run) for run in range(1, longest + 1))
            limits.append(
                pl.sum_horizontal(
                    (pl.col(f"_count_{n}") >= demand).cast(pl.Int64) * runs
                    for demand, runs in sorted(runs_per_demand.items())
                )
            )
        return pl.min_horizontal(limits)

    def within_windows(self, first_step: int, elapsed: pl.Expr) -> pl.Expr:
        """Consecutive steps from `first_step` whose windows admit `elapsed` time since step 1.

        SPEC: "tj - t1 <= W" and, with per-step windows, each step j within its own window
        of t1 (both inclusive).
        """
        windows = [self.spec.step_window(step) for step in range(first_step, self.step_count + 1)]
        return pl.sum_horizontal(
            (elapsed <= min(windows[:run])).cast(pl.Int64) for run in range(1, len(windows) + 1)
        )

    def simultaneous_groups(self, events: pl.DataFrame) -> pl.DataFrame:
        """One row per instant of `events` (user_id, event_time, `_instant`), with
        `_run_from_{i}` for every step.

        Events at one instant are unordered, so "different events at the same time may match
        consecutive steps" in any order; the run counts how many. `events` come from
        `numbered_instants` (maybe filtered): sorted by `_instant`, and so are the groups. An
        instant's counts are the running counts at its last event less those at the last
        event of the instant before.
        """
        counts = range(self.set_count)
        return (
            events.select(
                "user_id",
                "event_time",
                "_instant",
                *(pl.col(f"_meets_{n}").cum_sum().alias(f"_count_{n}") for n in counts),
            )
            .filter(last_of_run("_instant"))
            .with_columns((pl.col(f"_count_{n}") - pl.col(f"_count_{n}").shift(1, fill_value=0)) for n in counts)
            .with_columns(self.run_from(step).alias(f"_run_from_{step}") for step in range(1, self.step_count + 1))
        )

    def start_at_entries(self, entries: pl.DataFrame, groups: pl.DataFrame, *carried: str) -> pl.DataFrame:
        """Entries with the steps their own instant already takes: `reached` and `step_{j}_at`.

        Every entry's instant is one of the groups' (its s1 event is a step event); `carried`
        names more group columns to bring along. Both frames are sorted by `_instant`, so an
        as-of join that takes exact matches only finds it by merging, where hashing the groups
        would cost more.
        """
        started = entries.join_asof(
            groups.select("_instant", *carried, reached="_run_from_1"),
            on="_instant",
            strategy="backward",
            tolerance=0,
            check_sortedness=False,
        )
        return started.with_columns(
            pl.when(pl.col("reached") >= step).then(pl.col("entry_time")).alias(step_at(step))
            for step in range(1, self.step_count + 1)
        )


def last_step_at(step_count: int) -> pl.Expr:
    """The time of the furthest step an entry reached."""
    return pl.coalesce(step_at(step) for step in range(step_count, 0, -1))


def with_exclusion_flag(matched: pl.DataFrame, exclusions: pl.DataFrame, step_count: int) -> pl.DataFrame:
    """`matched` plus `excluded`: an excluded event strictly between step 1 and the last step.

    SPEC: "an entry with an excluded event between two of its matched steps does not count".
    The matched steps are the earliest ones (see the modes), so the span is the shortest any
    matching to the same furthest step has: if some matching avoids the exclusion, this one does.
    Without excluded events nothing is excluded, and `matched` keeps its row order.
    """
    if exclusions.is_empty():
        return matched.with_columns(excluded=pl.lit(False))
    with_next = matched.sort("user_id", "entry_time").join_asof(
        exclusions.rename({"event_time": "_next_excluded_at"}),
        left_on="entry_time",
        right_on="_next_excluded_at",
        by="user_id",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    return with_next.with_columns(
        excluded=(pl.col("_next_excluded_at") < last_step_at(step_count)).fill_null(False)
    ).drop("_next_excluded_at")


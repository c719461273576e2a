"""What a funnel asks for: its steps, window, mode, exclusions and breakdown (SPEC section 3).

A `FunnelSpec` is checked once, when it is made, by the named validations in `VALIDATIONS`;
the metric functions in `metrics.funnel` can then trust it.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

MODES = ("ordered", "strict", "unordered")
DEFAULT_WINDOW = timedelta(days=7)

FILTER_OPERATORS = {
    "==": lambda column, value: column == value,
    "!=": lambda column, value: column != value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "in": lambda column, values: column.is_in(list(values)),
    "not in": lambda column, values: ~column.is_in(list(values)),
}
_LIST_OPERATORS = ("in", "not in")


@dataclass(frozen=True)
class FunnelStep:
    """One step: an event type, optional property filters and an optional window of its own.

    `filters` are (column, operator, value) triples, e.g. ("channel", "==", "email") or
    ("product_id", "in", (1, 2)); an event matches when all of them hold (a null property
    matches no filter). `window` is the time from step 1 allowed to reach this step; without
    it the funnel's window applies.
    """

    event_type: str
    filters: tuple[tuple[str, str, object], ...] = ()
    window: timedelta | None = None

    def __post_init__(self):
        # Lists become tuples so that a spec stays hashable (a cache key for the pages).
        filters = tuple(
            (column, operator, tuple(value) if operator in _LIST_OPERATORS and not isinstance(value, str) else value)
            for column, operator, value in self.filters
        )
        object.__setattr__(self, "filters", filters)

    def condition(self) -> pl.Expr:
        """True for the events this step matches."""
        matches = pl.col("event_type") == self.event_type
        for column, operator, value in self.filters:
            matches = matches & FILTER_OPERATORS[operator](pl.col(column), value)
        return matches.fill_null(False)

    def describe(self) -> str:
        """The step as a reader would say it, e.g. "product_view (channel == email)"."""
        if not self.filters:
            return self.event_type
        conditions = ", ".join(f"{column} {operator} {value!r}" for column, operator, value in self.filters)
        return f"{self.event_type} ({conditions})"


@dataclass(frozen=True)
class FunnelSpec:
    """A funnel: steps s1..sk, conversion window W, mode, excluded event types, breakdown.

    `mode` is "ordered" (the default), "strict" or "unordered"; `exclusions` are event types
    that must not happen between an entry's matched steps; `breakdown` names one property, an
    events column (its value at step 1) or, when the events lack it, a column of the `users`
    frame. Steps may be given as event-type strings for unfiltered steps, and a single
    excluded type as a string.
    """

    steps: tuple[FunnelStep, ...]
    window: timedelta = DEFAULT_WINDOW
    mode: str = "ordered"
    exclusions: tuple[str, ...] = field(default_factory=tuple)
    breakdown: str | None = None

    def __post_init__(self):
        steps = tuple(FunnelStep(step) if isinstance(step, str) else step for step in self.steps)
        object.__setattr__(self, "steps", steps)
        exclusions = (self.exclusions,) if isinstance(self.exclusions, str) else tuple(self.exclusions)
        object.__setattr__(self, "exclusions", exclusions)
        for validate in VALIDATIONS:
            validate(self)

    def step_window(self, number: int) -> timedelta:
        """The window of step `number` (1-based): its own, else the funnel's."""
        return self.steps[number - 1].window or self.window

    def columns_used(self) -> set[str]:
        """Event columns the step filters read."""
        return {column for step in self.steps for column, _, _ in step.filters}


def require_two_steps(spec: FunnelSpec) -> None:
    if len(spec.steps) < 2:
        raise ValueError("a funnel needs at least two steps")


def require_known_mode(spec: FunnelSpec) -> None:
    if spec.mode not in MODES:
        raise ValueError(f"unknown funnel mode {spec.mode!r}: use one of {', '.join(MODES)}")


def require_positive_window(spec: FunnelSpec) -> None:
    if spec.window <= timedelta(0):
        raise ValueError(f"the conversion window must be positive, not {spec.window}")


def require_known_filter_operators(spec: FunnelSpec) -> None:
    for number, step in enumerate(spec.steps, start=1):
        for column, operator, value in step.filters:
            if operator not in FILTER_OPERATORS:
                raise ValueError(
                    f"step {number} filters {column!r} with unknown operator {operator!r}: "
                    f"use one of {', '.join(FILTER_OPERATORS)}"
                )
            if operator in _LIST_OPERATORS and isinstance(value, str):
                raise ValueError(f"step {number}: {column!r} {operator} needs a list of values, not a string")


def require_no_window_on_first_step(spec: FunnelSpec) -> None:
    if spec.steps[0].window is not None:
        raise ValueError("step 1 is the entry: windows count from it, so it takes no window of its own")


def require_step_windows_within_funnel_window(spec: FunnelSpec) -> None:
    for number, step in enumerate(spec.steps, start=1):
        if step.window is None:
            continue
        if step.window <= timedelta(0):
            raise ValueError(f"step {number}'s window must be positive, not {step.window}")
        if step.window > spec.window:
            raise ValueError(
                f"step {number}'s window ({step.window}) is larger than the funnel's "
                f"conversion window ({spec.window})"
            )


def require_no_step_windows_when_unordered(spec: FunnelSpec) -> None:
    if spec.mode == "unordered" and any(step.window is not None for step in spec.steps):
        raise ValueError(
            "per-step windows need an ordered or strict funnel: unordered steps have no "
            "step-1 time to count them from"
        )


def require_exclusions_apart_from_steps(spec: FunnelSpec) -> None:
    overlap = sorted({step.event_type for step in spec.steps} & set(spec.exclusions))
    if overlap:
        raise ValueError(f"an excluded event type cannot also be a step: {', '.join(overlap)}")


VALIDATIONS = (
    require_two_steps,
    require_known_mode,
    require_positive_window,
    require_known_filter_operators,
    require_no_window_on_first_step,
    require_step_windows_within_funnel_window,
    require_no_step_windows_when_unordered,
    require_exclusions_apart_from_steps,
)

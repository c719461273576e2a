"""The three funnel modes, each over the shared step matcher (SPEC section 3, Funnel).

Each takes the matcher, the relevant events of the entering users (with the matcher's
condition columns), the entries (user_id, entry_time, `_instant`: one per user and instant of
an s1 event in the period) and the users' excluded events (user_id, event_time, sorted by
both), and returns the entries with `reached` (the furthest step, >= 1), `step_1_at`..
`step_k_at` (null past `reached`) and `excluded` (the entry does not count), in no particular
order. Events and entries carry the `_instant` numbers of `numbered_instants` and are sorted by
them (the events maybe filtered after numbering).
"""

from typing import Literal

import polars as pl

from metrics.funnel_matching import (
    StepMatcher,
    first_of_run,
    step_at,
    with_exclusion_flag,
)


def _next_instants(groups: pl.DataFrame, step: int) -> pl.DataFrame:
    """Instants with an event of `step`, as candidates for an asof join on `_next_at`."""
    return groups.filter(pl.col(f"_run_from_{step}") > 0).select(
        "user_id", _next_at=pl.col("event_time"), _run=pl.col(f"_run_from_{step}")
    )


def _advance(matcher: StepMatcher, matched: pl.DataFrame, first_step: int) -> pl.DataFrame:
    """Take steps from `first_step` at `_next_at`, as many as `_run` and the windows allow."""
    taken = pl.min_horizontal(
        pl.col("_run"), matcher.within_windows(first_step, pl.col("_next_at") - pl.col("entry_time"))
    ).fill_null(0)
    return matched.with_columns(reached=pl.col("reached") + taken).with_columns(
        pl.when(pl.col("reached") >= step).then(pl.col("_next_at")).otherwise(pl.col(step_at(step))).alias(step_at(step))
        for step in range(first_step, matcher.step_count + 1)
    )


def match_ordered(matcher: StepMatcher, events: pl.DataFrame, entries: pl.DataFrame, exclusions: pl.DataFrame) -> pl.DataFrame:
    """Ordered funnel: from each entry, match every step at the earliest instant it can.

    SPEC: "The user reaches step j when some s1 event at t1 is followed by events of s2..sj,
    each a different event of the user (a repeated step type needs a repeated event; different
    events at the same time may match consecutive steps), at t1 <= t2 <= ... <= tj with
    tj - t1 <= W".

    Instant by instant, an entry takes as many consecutive steps as the instant's events can
    (the matcher's run), then looks for its next step strictly later. Earliest is best: a
    matching that is further along at any instant can follow any continuation of one behind
    it, and the earliest times satisfy every window that later ones do, per-step windows
    included (all count from t1). The earliest matching also spans the least time, so it is
    the one to test for exclusions.
    """
    groups = matcher.simultaneous_groups(events)
    matched = matcher.start_at_entries(entries, groups)
    for step in range(2, matcher.step_count + 1):
        waiting = pl.col("reached") == step - 1
        advanced = (
            matched.filter(waiting)
            .sort("user_id", step_at(step - 1))
            .join_asof(
                _next_instants(groups, step),
                left_on=step_at(step - 1),
                right_on="_next_at",
                by="user_id",
                strategy="forward",
                allow_exact_matches=False,
                check_sortedness=False,
            )
        )
        advanced = _advance(matcher, advanced, step).drop("_next_at", "_run")
        matched = pl.concat([matched.filter(~waiting), advanced])
    return with_exclusion_flag(matched, exclusions, matcher.step_count)


def match_strict(matcher: StepMatcher, events: pl.DataFrame, entries: pl.DataFrame, exclusions: pl.DataFrame) -> pl.DataFrame:
    """Strict funnel: each matched step is the user's very next event after the previous one.

    SPEC: "strict mode (each matched step is the user's very next event after the previous
    one, so any other event in between breaks the chain)". Events at one instant have no
    order, so "in between" means strictly between in time: the chain must take at least one
    step at each of the user's successive instants (any event type counts as an instant) and
    may leave other events of an instant it uses unmatched.

    Taking the most steps at an instant is not always best here (the next instant must then
    fit the following step), so every possible count of steps taken so far is tracked
    (`_can_{m}`) over the k - 1 instants after the entry, the most a chain can use. A step's
    time is the earliest instant at which any chain from the entry had taken that many steps.
    """
    step_count = matcher.step_count
    # The user's successive instants are successive groups: the one `offset` instants after
    # an entry's is `offset` rows further on, if it is still the same user's.
    groups = matcher.simultaneous_groups(events).with_row_index("_position")
    # (An entry without a group, which only a null user_id can have, is dropped.)
    matched = matcher.start_at_entries(entries, groups, "_position").filter(pl.col("_position").is_not_null())
    matched = matched.with_columns(
        (pl.col("reached") >= taken).alias(f"_can_{taken}") for taken in range(1, step_count + 1)
    )
    runs = [f"_run_from_{step}" for step in range(2, step_count + 1)]
    for offset in range(1, step_count):
        ahead = (matched["_position"] + offset).clip(upper_bound=max(groups.height - 1, 0))
        following = groups.select(pl.col("user_id", "event_time", *runs).gather(ahead)).rename(
            {"user_id": "_next_user", "event_time": "_next_at"}
        )
        same_user = (pl.col("_position") + offset < groups.height) & (pl.col("_next_user") == pl.col("user_id"))
        matched = pl.concat([matched, following], how="horizontal").with_columns(
            pl.when(same_user).then(pl.col("_next_at", *runs)).name.keep()
        )
        elapsed = pl.col("_next_at") - pl.col("entry_time")
        takes = {
            before: pl.min_horizontal(
                pl.col(f"_run_from_{before + 1}"), matcher.within_windows(before + 1, elapsed)
            ).fill_null(0)
            for before in range(1, step_count)
        }
        can = {
            taken: pl.any_horizontal(
                pl.col(f"_can_{before}") & (takes[before] >= taken - before) for before in range(1, taken)
            )
            for taken in range(2, step_count + 1)
        }
        matched = matched.with_columns(
            pl.lit(False).alias("_can_1"), *(value.alias(f"_can_{taken}") for taken, value in can.items())
        ).with_columns(
            pl.coalesce(step_at(taken), pl.when(f"_can_{taken}").then("_next_at")).alias(step_at(taken))
            for taken in range(2, step_count + 1)
        ).drop("_next_user", "_next_at", *runs)
    matched = matched.with_columns(
        reached=pl.sum_horizontal(pl.col(step_at(step)).is_not_null().cast(pl.Int64) for step in range(1, step_count + 1))
    ).drop("_position", *(f"_can_{taken}" for taken in range(1, step_count + 1)))
    return with_exclusion_flag(matched, exclusions, step_count)


def match_unordered(matcher: StepMatcher, events: pl.DataFrame, entries: pl.DataFrame, exclusions: pl.DataFrame) -> pl.DataFrame:
    """Unordered funnel: steps s1..sj in any order, within one window holding the entry.

    SPEC: "step j is reached when events of s1..sj, each a different event, all fall in one
    window of length W that also holds an s1 event whose day is in the period". That s1 event
    is the entry. A matching that does not use it can use it instead of its own s1 event, so
    the entry is always one of the matched events; exclusions are judged on such matchings.

    A best window can start at one of the user's step events, so every step event's instant
    τ is a window start; its run is the prefix of steps that the events in [τ, τ + W] can
    take. An entry at t0 reaches step j when a window start τ in [t0 - W, t0] has a run of at
    least j. With exclusions the window also ends at the first excluded event after τ and may
    not start before the last one before t0; an entry that reaches less with those cuts than
    without them has an exclusion inside every matching to its furthest step, and does not
    count. Step times are those of the earliest window start that reaches the furthest step:
    step_j_at is when s1..sj had all happened in that window.
    """
    # The events are in instant order already, so an instant's first event starts it.
    step_events = events.with_columns(
        pl.col(f"_meets_{n}").cum_sum().alias(f"_cum_{n}") for n in range(matcher.set_count)
    )
    starts = step_events.filter(first_of_run("_instant")).select(
        "user_id",
        "event_time",
        *((pl.col(f"_cum_{n}") - pl.col(f"_meets_{n}")).alias(f"_before_{n}") for n in range(matcher.set_count)),
    )
    window = matcher.spec.window
    free = _furthest_windows(matcher, step_events, starts.with_columns(_end=pl.col("event_time") + window), entries.with_columns(_lowest=pl.col("entry_time") - window))
    if exclusions.is_empty():
        return free.with_columns(excluded=pl.lit(False))
    cut_starts = _asof_exclusion(starts, "event_time", exclusions, "forward").with_columns(
        _end=pl.min_horizontal(pl.col("event_time") + window, pl.col("_excluded_at"))
    ).drop("_excluded_at")
    cut_entries = _asof_exclusion(entries, "entry_time", exclusions, "backward").with_columns(
        _lowest=pl.max_horizontal(pl.col("entry_time") - window, pl.col("_excluded_at"))
    ).drop("_excluded_at")
    cut = _furthest_windows(matcher, step_events, cut_starts, cut_entries)
    return cut.join(
        free.select("user_id", "entry_time", _reached_freely=pl.col("reached")), on=["user_id", "entry_time"]
    ).with_columns(excluded=pl.col("reached") < pl.col("_reached_freely")).drop("_reached_freely")


def _asof_exclusion(
    frame: pl.DataFrame, on: str, exclusions: pl.DataFrame, strategy: Literal["forward", "backward"]
) -> pl.DataFrame:
    """`frame` plus `_excluded_at`: the user's excluded event strictly after (or before) `on`."""
    return frame.sort("user_id", on).join_asof(
        exclusions.rename({"event_time": "_excluded_at"}),
        left_on=on,
        right_on="_excluded_at",
        by="user_id",
        strategy=strategy,
        allow_exact_matches=False,
        check_sortedness=False,
    )


def _furthest_windows(matcher: StepMatcher, step_events: pl.DataFrame, starts: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """Entries with the furthest step of a window starting in [`_lowest`, entry_time].

    `starts` are window starts (user_id, event_time, `_end`, `_before_{n}`: the user's
    events of counted set n before the start, as cumulative counts over `step_events`).
    """
    step_count = matcher.step_count
    at_end = step_events.select("user_id", *(pl.col(f"_cum_{n}") for n in range(matcher.set_count)), _end_at=pl.col("event_time"))
    windows = (
        starts.sort("user_id", "_end")
        .join_asof(at_end, left_on="_end", right_on="_end_at", by="user_id", strategy="backward", check_sortedness=False)
        .with_columns(
            (pl.col(f"_cum_{n}") - pl.col(f"_before_{n}")).alias(f"_count_{n}") for n in range(matcher.set_count)
        )
        .with_columns(_run=matcher.run_from(1))
        .sort("user_id", "event_time")
    )
    entries = entries.sort("user_id", "_lowest")
    for step in range(1, step_count + 1):
        entries = entries.join_asof(
            windows.filter(pl.col("_run") >= step).select("user_id", pl.col("event_time").alias(f"_start_{step}")),
            left_on="_lowest",
            right_on=f"_start_{step}",
            by="user_id",
            strategy="forward",
            check_sortedness=False,
        )
    reached = pl.sum_horizontal(
        (pl.col(f"_start_{step}") <= pl.col("entry_time")).fill_null(False).cast(pl.Int64) for step in range(1, step_count + 1)
    )
    chosen_start = pl.coalesce(
        pl.when(reached == step).then(pl.col(f"_start_{step}")) for step in range(1, step_count + 1)
    )
    entries = entries.with_columns(reached=reached, _start=chosen_start).drop(
        "_lowest", *(f"_start_{step}" for step in range(1, step_count + 1))
    )
    entries = entries.join(
        windows.select("user_id", pl.col("event_time").alias("_start"), *(pl.col(f"_before_{n}") for n in range(matcher.set_count))),
        on=["user_id", "_start"],
        how="left",
    )
    return _with_completion_times(matcher, step_events, entries).drop(
        "_start", *(f"_before_{n}" for n in range(matcher.set_count))
    )


def _with_completion_times(matcher: StepMatcher, step_events: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """`step_{j}_at` = when the window from `_start` first held events for s1..sj.

    That is the latest, over the counted sets, of the time of the set's d-th event in the
    window, d being how many of s1..sj need an event of the set.
    """
    times = {n: step_events.filter(pl.col(f"_meets_{n}"))["event_time"] for n in range(matcher.set_count)}
    completion = {}
    for step in range(1, matcher.step_count + 1):
        reached = pl.col("reached") >= step
        candidates = [
            times[n].gather(entries.select(pl.when(reached).then(pl.col(f"_before_{n}") + (needed - 1))).to_series())
            for n in range(matcher.set_count)
            if (needed := matcher.demand(n, 1, step)) > 0
        ]
        completion[step_at(step)] = pl.DataFrame({str(i): c for i, c in enumerate(candidates)}).max_horizontal()
    return entries.with_columns(pl.Series(name, values) for name, values in completion.items())

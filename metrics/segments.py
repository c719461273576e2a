"""The global channel, device and region filters, applied the same way for every view."""

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Segment:
    """Channels, devices and regions to keep; an empty tuple keeps all.

    A session (and so each of its events) is in the segment by its channel and device, which
    are its first event's (SPEC: "a session's channel is its first event's"); an order by its
    attributed channel (its own, else its user's acquisition channel) and its user's device;
    a user by acquisition channel and device. Region is where the user lives (`users.region`),
    so it keeps the events, sessions and orders of the users of those regions.
    """

    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def is_everything(self) -> bool:
        return not self.channels and not self.devices and not self.regions

    def _keep(self, channel_column: str, device_column: str) -> pl.Expr:
        keep = pl.lit(True)
        if self.channels:
            keep &= pl.col(channel_column).is_in(self.channels)
        if self.devices:
            keep &= pl.col(device_column).is_in(self.devices)
        return keep

    def apply(
        self,
        events: pl.DataFrame,
        sessions: pl.DataFrame,
        orders: pl.DataFrame,
        users: pl.DataFrame,
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The four frames restricted to the segment."""
        if self.is_everything:
            return events, sessions, orders, users
        users = _with_missing(users, "channel", "device", "region")
        events = events.filter(self._keep("session_channel", "session_device"))
        sessions = sessions.filter(self._keep("channel", "device"))
        orders = _with_missing(orders, "channel", "device").filter(self._keep("channel", "device"))
        if self.regions:
            users = users.filter(pl.col("region").is_in(self.regions))
            residents = users["user_id"].implode()
            events = events.filter(pl.col("user_id").is_in(residents))
            sessions = sessions.filter(pl.col("user_id").is_in(residents))
            orders = orders.filter(pl.col("user_id").is_in(residents))
        return events, sessions, orders, users.filter(self._keep("channel", "device"))


def _with_missing(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`frame` with absent columns added as nulls, so a filter on them keeps nothing."""
    return frame.with_columns(
        pl.lit(None, pl.String).alias(column) for column in columns if column not in frame.columns
    )

"""The global channel and device filters, applied the same way for every view."""

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Segment:
    """Channels and devices to keep; an empty tuple keeps all.

    A session (and so each of its events) is in the segment by its channel and device, which
    are its first event's (SPEC: "a session's channel is its first event's"); an order by its
    attributed channel (its own, else its user's acquisition channel) and its user's device;
    a user by acquisition channel and device.
    """

    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    @property
    def is_everything(self) -> bool:
        return not self.channels and not self.devices

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
        users = _with_missing(users, "channel", "device")
        return (
            events.filter(self._keep("session_channel", "session_device")),
            sessions.filter(self._keep("channel", "device")),
            _with_missing(orders, "channel", "device").filter(self._keep("channel", "device")),
            users.filter(self._keep("channel", "device")),
        )


def _with_missing(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`frame` with absent columns added as nulls, so a filter on them keeps nothing."""
    return frame.with_columns(
        pl.lit(None, pl.String).alias(column) for column in columns if column not in frame.columns
    )

"""Deployment settings: business time zone, currency, session gap (SPEC section 2), targets,
the default language, the predicted-LTV horizon (SPEC: "Horizon is a setting")."""

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shop_analytics.i18n import DEFAULT_LANGUAGE, check_language


@dataclass(frozen=True)
class Settings:
    """What a deployment sets once; every field has the SPEC's default."""

    time_zone: str = "Asia/Shanghai"
    currency: str = "¥"
    session_gap_minutes: int = 30
    cpc_target: float = 1.0
    roi_target: float = 0.05
    default_margin: float = 0.30
    language: str = DEFAULT_LANGUAGE
    ltv_horizon_days: int = 365

    @property
    def session_gap(self) -> timedelta:
        return timedelta(minutes=self.session_gap_minutes)

    @classmethod
    def from_mapping(cls, values: dict | None) -> "Settings":
        """Settings from the `[settings]` table of secrets.toml; unknown keys are an error."""
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(sorted(unknown))} in [settings]; "
                f"known: {', '.join(cls.__dataclass_fields__)}"
            )
        settings = cls(**values)
        check_time_zone(settings.time_zone)
        check_language(settings.language)
        if settings.session_gap_minutes <= 0:
            raise ValueError("session_gap_minutes must be a positive number of minutes")
        if isinstance(settings.ltv_horizon_days, bool) or not isinstance(settings.ltv_horizon_days, int) or settings.ltv_horizon_days <= 0:
            raise ValueError(f"ltv_horizon_days must be a positive whole number of days, not {settings.ltv_horizon_days!r}")
        return settings


def check_time_zone(name: str) -> str:
    """`name` if it is an IANA time zone, else ValueError saying so."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like Asia/Shanghai") from None
    return name

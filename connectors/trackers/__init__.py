"""Readers of the exports of the trackers shops use (GA4, Snowplow, Segment, RudderStack, PostHog)."""

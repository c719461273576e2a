"""The scheduler: sends each report subscription's report when it is due, exactly once, and
runs the daily alerts check, with its state in the alert database; and refreshes the shop's
extract before its time-to-live ends, so that a visitor's page does not wait for it.

It runs as its own process (`python cli.py schedule`, started beside the dashboard by
`make run`), not as a thread inside the Streamlit server, because:
- the server has no moment of its own to start it: its code runs when a visitor opens a
  page, so a thread would wait for the first visit after a restart, and it would stop and
  restart with every server reload;
- making a report is seconds of CPU in Python; in the server it would hold the GIL that
  every visitor's page needs (the benchmarks measure pages in tenths of a second);
- a process can be watched, restarted and run on another machine by whatever runs services
  (systemd, a container), or replaced by cron (`python cli.py schedule --once`).
Exactly once does not rest on there being one scheduler: runs, deliveries and the daily check
are claimed through unique rows in the alert database, so two schedulers (or a scheduler and
the page's "send now") never send the same delivery twice.

`subscriptions` says who gets what when, `state` keeps it, `runner` does the work.
"""

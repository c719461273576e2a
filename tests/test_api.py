"""The HTTP API served by uvicorn on loopback, read with httpx: every table equals what
`cli.py export` prints for the same parameters on the small generated shop (in JSON, CSV and
Parquet, whole and in pages); tokens made with `cli.py token` give the dashboard's roles (401
without one, 403 for a viewer asking for users); bad parameters, from a list and from
hypothesis, get a 4xx RFC 9457 problem naming the parameter, never a 500."""

import io
import json
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager, redirect_stderr
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from shop_analytics.alerts.store import AlertStore
from shop_analytics.api.app import create_app
from shop_analytics.api.catalog import TABLES
from shop_analytics.api.tokens import digest
from shop_analytics.cli import main
from shop_analytics.exports import EXPORTS
from shop_analytics.targets import TargetStore, checked_target

START, END = "2026-10-01", "2026-10-14"
PROBLEM = "application/problem+json"
ROLES = ("viewer", "manager", "analyst", "admin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_app(app):
    """`app` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


def write_secrets(folder: Path, shop: str, *, api: str = "", extra: str = "") -> Path:
    """A secrets file reading `shop` (a SQLAlchemy URL) with its tokens and alerts in `folder`."""
    path = folder / "secrets.toml"
    path.write_text(
        f'[connections.shop]\nurl = "{shop}"\n{extra}\n'
        f'[api]\ntokens_database = "{folder / "tokens.db"}"\n{api}\n'
        f'[alerts]\ndatabase = "{folder / "alerts.db"}"\n'
    )
    return path


def cli(*arguments: str) -> bytes:
    """What `python cli.py ARGUMENTS` prints on stdout, run in this process (AssertionError with
    its message when it exits with an error)."""
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="utf-8")
    errors = io.StringIO()
    import sys

    saved = sys.stdout
    sys.stdout = stdout
    try:
        with redirect_stderr(errors):
            main(list(arguments))
    except SystemExit as exit:
        raise AssertionError(f"cli.py {' '.join(arguments)} exited {exit.code}: {errors.getvalue()}") from None
    finally:
        stdout.flush()
        sys.stdout = saved
    return buffer.getvalue()


def new_token(secrets: Path, name: str, role: str) -> str:
    printed = cli("token", "add", name, "--role", role, "--secrets", str(secrets)).decode()
    return printed.splitlines()[0]


@pytest.fixture(scope="module")
def api(small_shop_db, tmp_path_factory):
    """The API over the small shop with a token per role; yields (base URL, secrets, tokens)."""
    folder = tmp_path_factory.mktemp("api")
    secrets = write_secrets(folder, f"sqlite:///{small_shop_db}", api="requests_per_minute = 100000")
    # a month's GMV target, so that the targets table has a row to serve
    TargetStore(AlertStore(folder / "alerts.db").engine).set(checked_target("gmv", "month", date.fromisoformat(START), 50_000.0), set_by="api-test")
    tokens = {role: new_token(secrets, f"{role}-bot", role) for role in ROLES}
    with serve_app(create_app(secrets)) as url:
        yield url, secrets, tokens


CLIENT = httpx.Client(timeout=120)
"""One client for the module's requests (a client per request would make an SSL context each)."""


def get(api, path: str, role: str = "admin", **options) -> httpx.Response:
    url, _, tokens = api
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    headers |= options.pop("headers", {})
    return CLIENT.get(f"{url}{path}", params=options.pop("params", None), headers=headers)


def approx_rows(rows: list[dict]) -> list[dict]:
    # sums of floats may differ in the last bit between two computations (parallel order)
    return [{key: pytest.approx(value, rel=1e-12) if isinstance(value, float) else value for key, value in row.items()} for row in rows]


CASES = [
    ("kpis", {}),
    ("kpis", {"channel": "email,social"}),
    ("kpis", {"device": "app", "region": "Guangdong,Zhejiang"}),
    ("channels", {}),
    ("channels", {"device": "mobile_web"}),
    ("products", {"channel": "organic"}),
    ("funnel", {}),
    ("funnel", {"steps": "product_view,add_to_cart,purchase", "window": "3d", "mode": "strict", "channel": "email"}),
    ("funnel", {"mode": "unordered", "window": "12h"}),
    ("funnel-drop-offs", {"steps": "product_view,checkout", "window": "2d"}),
    ("periods", {"device": "desktop"}),
    ("compare", {}),
    ("compare", {"campaign": "4"}),
    ("retention", {}),
    ("retention", {"period": "month", "cohort": "signup", "measure": "purchase", "retention_mode": "on_or_after"}),
    ("lifecycle", {"period": "week"}),
    ("anomalies", {}),
    ("paths", {}),
    ("search", {}),
    ("payments", {"region": "Beijing,Shanghai,Guangdong"}),
    ("coupons", {}),
    ("service", {}),
    ("review-words", {"by": "product"}),
    ("segments", {}),
    ("forecast", {}),
    ("decomposition", {}),
    ("decomposition", {"by": "category", "compare": "week_before", "device": "app"}),
    ("repeat-orders", {"channel": "email"}),
    ("repurchase", {"period": "week"}),
    ("abandonment", {"by": "device"}),
    ("abandoning-users", {"stage": "cart", "region": "Guangdong,Zhejiang,Beijing,Shanghai"}),
    ("attribution", {}),
    ("channels", {"attribution": "position_based"}),
    ("targets", {}),
]


def cli_arguments(name: str, options: dict, secrets: Path, output: str) -> list[str]:
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    return ["export", name, "--from", START, "--to", END, *flags, "--format", output, "--secrets", str(secrets)]


def test_every_export_is_served_and_has_a_case():
    assert set(TABLES) == {*EXPORTS, "ltv"}
    assert {name for name, _ in CASES} == set(EXPORTS)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{name}-{index}" for index, (name, _) in enumerate(CASES)])
def test_every_table_equals_the_cli_export(api, name, options):
    _, secrets, _ = api
    printed = json.loads(cli(*cli_arguments(name, options, secrets, "json")))
    answer = get(api, f"/v1/{name}", params={"from": START, "to": END, "limit": 100000, **options})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(printed) == len(body["rows"]) and body["total"] > 0
    assert body["rows"] == approx_rows(printed)
    assert [column["name"] for column in body["columns"]] == list(printed[0])
    assert body["parameters"]["from"] == START and body["data"]["source"].startswith("SQLite file")


def test_segment_filters_change_the_numbers_as_the_dashboard_filters_do(api):
    whole = get(api, "/v1/kpis", params={"from": START, "to": END}).json()["rows"]
    parts = [get(api, "/v1/kpis", params={"from": START, "to": END, "channel": channel}).json()["rows"] for channel in ("email", "social")]
    both = get(api, "/v1/kpis", params=[("from", START), ("to", END), ("channel", "email"), ("channel", "social")]).json()["rows"]
    for day, first, second, together in zip(whole, *parts, both):
        assert together["gmv"] == pytest.approx(first["gmv"] + second["gmv"])
        assert together["sessions"] == first["sessions"] + second["sessions"] < day["sessions"]


def test_the_ltv_document_equals_the_cli_export(api):
    _, secrets, _ = api
    printed = json.loads(cli("export", "ltv", "--calibration-end", "2026-08-31", "--horizon-days", "90", "--format", "json", "--secrets", str(secrets)))
    answer = get(api, "/v1/ltv", params={"calibration_end": "2026-08-31", "horizon_days": 90})
    assert answer.status_code == 200, answer.text
    assert json.dumps(answer.json()["result"], sort_keys=True) == json.dumps(printed, sort_keys=True)


def test_csv_and_parquet_by_accept_hold_the_cli_numbers(api):
    _, secrets, _ = api
    for output, media in (("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet")):
        printed = cli(*cli_arguments("channels", {}, secrets, output))
        answer = get(api, "/v1/channels", params={"from": START, "to": END}, headers={"Accept": media})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
        read = pl.read_csv if output == "csv" else pl.read_parquet
        assert_frame_equal(read(io.BytesIO(answer.content)), read(io.BytesIO(printed)))
    # a preference list picks the first format offered, by quality
    answer = get(api, "/v1/payments", params={"from": START, "to": END}, headers={"Accept": "application/xml;q=1, text/csv;q=0.5"})
    assert answer.headers["content-type"].startswith("text/csv")


def test_a_format_not_offered_is_406_naming_those_that_are(api):
    answer = get(api, "/v1/kpis", params={"from": START, "to": END}, headers={"Accept": "application/xml"})
    assert answer.status_code == 406 and answer.headers["content-type"] == PROBLEM
    assert "text/csv" in answer.json()["detail"] and "application/vnd.apache.parquet" in answer.json()["detail"]
    assert get(api, "/v1/ltv", params={"calibration_end": "2026-08-31"}, headers={"Accept": "text/csv"}).status_code == 406


def test_pages_of_rows_add_up_to_the_table(api):
    whole = get(api, "/v1/products", params={"from": START, "to": END}).json()
    rows, params = [], {"from": START, "to": END, "limit": 7}
    answer = get(api, "/v1/products", params=params)
    while True:
        assert answer.status_code == 200 and answer.headers["x-total-count"] == str(whole["total"])
        rows += answer.json()["rows"]
        if "link" not in answer.headers:
            break
        next_url = answer.headers["link"].split(">")[0].lstrip("<")
        answer = get(api, next_url)
    assert whole["total"] > 14 and rows == whole["rows"]
    csv_page = get(api, "/v1/products", params={"from": START, "to": END, "limit": 5, "offset": 5}, headers={"Accept": "text/csv"})
    assert pl.read_csv(io.BytesIO(csv_page.content))["product_id"].to_list() == [row["product_id"] for row in whole["rows"][5:10]]


def test_without_a_token_401_and_a_viewer_gets_403_for_user_rows(api):
    url, _, _ = api
    refused = httpx.get(f"{url}/v1/kpis", params={"from": START, "to": END})
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    assert refused.headers["www-authenticate"].startswith("Bearer") and "token add" in refused.json()["detail"]
    assert get(api, "/v1/kpis", headers={"Authorization": "Bearer sa_not-a-token"}, role=None, params={"from": START, "to": END}).status_code == 401
    assert get(api, "/v1/kpis", headers={"Authorization": "Basic dXNlcjpwdw=="}, role=None, params={"from": START, "to": END}).status_code == 401
    drop_offs = get(api, "/v1/funnel-drop-offs", role="viewer", params={"from": START, "to": END})
    assert drop_offs.status_code == 403 and drop_offs.headers["content-type"] == PROBLEM
    assert "analyst" in drop_offs.json()["detail"]
    assert get(api, "/v1/funnel-drop-offs", role="manager", params={"from": START, "to": END}).status_code == 403
    assert get(api, "/v1/ltv", role="viewer", params={"calibration_end": "2026-08-31"}).status_code == 403
    assert get(api, "/v1/funnel-drop-offs", role="analyst", params={"from": START, "to": END}).json()["total"] > 0
    assert get(api, "/v1/kpis", role="viewer", params={"from": START, "to": END}).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_the_tables_of_its_dashboard_pages(api, role):
    from shop_analytics.access.roles import may_open, may_see_users

    status = get(api, "/v1/status", role=role).json()
    assert status["you"] == {"name": f"{role}-bot", "role": role, "pages": status["you"]["pages"]}
    for table in TABLES.values():
        allowed = may_open(role, table.page) and (not table.user_level or may_see_users(role))
        assert (table.name in status["tables"]) == allowed
    for name, expected in (("paths", may_open(role, "paths")), ("payments", True)):
        assert get(api, f"/v1/{name}", role=role, params={"from": START, "to": END}).status_code == (200 if expected else 403)
    assert (get(api, "/v1/alerts", role=role).status_code == 200)
    assert get(api, "/v1/alerts", role=role, params={"status": "all"}).status_code == (200 if role == "admin" else 403)


def test_a_manager_downloads_the_report_files(api):
    _, secrets, _ = api
    folder = Path(secrets).parent / "reports"
    written = Path(cli("report", "--period", "week", "--date", "2026-10-07", "--format", "xlsx", "--out", str(folder), "--secrets", str(secrets)).decode().strip())
    answer = get(api, "/v1/reports/week", role="manager", params={"date": "2026-10-07", "format": "xlsx"})
    assert answer.status_code == 200 and written.name in answer.headers["content-disposition"]
    import openpyxl

    def sheets(content: bytes) -> dict:
        book = openpyxl.load_workbook(io.BytesIO(content))
        return {sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()] for sheet in book.worksheets}

    assert sheets(answer.content) == sheets(written.read_bytes())
    html = get(api, "/v1/reports/week", role="manager", params={"date": "2026-10-07"})
    assert html.headers["content-type"].startswith("text/html") and b"<html" in html.content[:500].lower()
    assert get(api, "/v1/reports/month", role="viewer", params={"date": "2026-10-07"}).status_code == 403
    wrong = get(api, "/v1/reports/year", role="manager", params={"date": "2026-10-07"})
    assert wrong.status_code == 422 and wrong.json()["parameter"] == "period"


def test_the_open_alerts_are_the_stored_ones(api):
    from datetime import UTC, date, datetime

    from shop_analytics.alerts.evaluate import Evaluation, Finding
    from shop_analytics.alerts.store import AlertStore

    _, secrets, _ = api
    store = AlertStore(Path(secrets).parent / "alerts.db")
    day = date(2026, 10, 14)
    details = {"z": -5.0, "direction": "down", "compared_with": "ordinary days", "contributors": []}
    finding = Finding(key="anomaly:gmv", kind="anomaly", metric="gmv", day=day, value=10.0, reference=100.0, details=details)
    store.record(Evaluation(day=day, findings=[finding], values={}), now=datetime(2026, 10, 15, 1, tzinfo=UTC))
    answer = get(api, "/v1/alerts", role="viewer").json()
    assert [(row["metric"], row["status"], row["value"], row["first_seen_day"]) for row in answer["rows"]] == [("gmv", "open", 10.0, "2026-10-14")]
    printed = cli("alerts", "list", "--secrets", str(secrets)).decode()
    assert answer["rows"][0]["text"] in printed


@pytest.mark.parametrize(
    "path, params, parameter, words",
    [
        ("/v1/kpis", {"to": END}, "from", "is required"),
        ("/v1/kpis", {"from": "2026-02-30", "to": END}, "from", "'2026-02-30' is not a date in the form YYYY-MM-DD"),
        ("/v1/kpis", {"from": END, "to": START}, "from", f"from {END} is after to {START}"),
        ("/v1/kpis", {"from": "1000-01-01", "to": END}, "from", "outside the days"),
        ("/v1/kpis", {"from": "1990-01-01", "to": "2026-01-01"}, "to", "longer than 3660 days"),
        ("/v1/kpis", {"from": START, "to": END, "tz": "Asia/Shenzhen"}, "tz", "unknown time zone 'Asia/Shenzhen'"),
        ("/v1/kpis", {"from": START, "to": END, "chanel": "email"}, "chanel", "is not a parameter of /v1/kpis"),
        ("/v1/kpis", {"from": START, "to": END, "limit": "0"}, "limit", "0 must be above zero"),
        ("/v1/kpis", {"from": START, "to": END, "limit": "1000001"}, "limit", "page with offset"),
        ("/v1/kpis", {"from": START, "to": END, "offset": "-1"}, "offset", "below 0"),
        ("/v1/retention", {"from": START, "to": END, "period": "day"}, "period", "period must be one of week, month, not 'day'"),
        ("/v1/funnel", {"from": START, "to": END, "steps": "purchase"}, "steps", "at least two steps"),
        ("/v1/funnel", {"from": START, "to": END, "window": "0d"}, "window", "is not a window"),
        ("/v1/funnel", {"from": START, "to": END, "window": "9999999999d"}, "window", "at most 366d"),
        ("/v1/channels", {"from": START, "to": END, "channel": "email"}, "channel", "is not a parameter of /v1/channels"),
        ("/v1/compare", {"from": START, "to": END, "campaign": "999"}, "campaign", "no campaign"),
        ("/v1/ltv", {}, "calibration_end", "is required"),
        ("/v1/ltv", {"calibration_end": "2026-08-31", "horizon_days": "-3"}, "horizon_days", "above zero"),
        ("/v1/reports/week", {"date": "someday"}, "date", "not a date"),
    ],
)
def test_a_bad_parameter_is_a_problem_naming_it_and_the_fix(api, path, params, parameter, words):
    answer = get(api, path, params=params)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "urn:shop-analytics:problem:bad-parameter" and problem["status"] == 422
    assert problem["parameter"] == parameter and words in problem["detail"] and problem["instance"] == path


def test_unknown_paths_and_other_methods_are_problems_too(api):
    url, _, tokens = api
    missing = get(api, "/v1/gmv")
    assert missing.status_code == 404 and "/v1/kpis" in missing.json()["detail"]
    posted = httpx.post(f"{url}/v1/kpis", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert posted.status_code == 405 and "read-only" in posted.json()["detail"] and posted.headers["allow"] == "GET"


PARAMETER_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "2026-02-30", "0001-01-01", "9999-12-31", "2026-13-01", "-1", "0", "1e9", "99999999999999999999", "7d", "0s",
                     "week", "null", "[]", "%00", "Asia/Shanghai", "../etc/passwd", "email,,social", "NaN", "\u200b", "２０２６-１０-０１"]),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.dates().map(str),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_bad_parameters_always_get_a_4xx_problem(api, data):
    table = data.draw(st.sampled_from([*TABLES.values()]), label="table")
    params = {param.name: str(param.default) if param.kind == "count" and param.default is not None else None for param in table.params}
    params = {name: value for name, value in params.items() if value is not None}
    params |= {"from": START, "to": END} if not table.document else {"calibration_end": "2026-08-31"}
    for name in data.draw(st.lists(st.sampled_from([param.name for param in table.params] + ["bogus"]), min_size=1, max_size=3, unique=True), label="spoiled"):
        params[name] = data.draw(PARAMETER_VALUES, label=name)
    answer = get(api, table.path, params=params)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        problem = answer.json()
        assert answer.headers["content-type"] == PROBLEM and problem["status"] == answer.status_code and problem["detail"]
        if answer.status_code == 422:
            assert problem["parameter"] in {*params, "bogus"}


def test_the_openapi_document_quotes_each_metric_definition_and_unit(api):
    import inspect

    url, _, _ = api
    schema = httpx.get(f"{url}/openapi.json").json()  # public: no data in it
    assert httpx.get(f"{url}/docs").status_code == 200
    for table in TABLES.values():
        description = schema["paths"][table.path]["get"]["description"]
        for metric in table.metrics:
            assert inspect.cleandoc(metric.__doc__).splitlines()[0] in description
    kpis = schema["paths"]["/v1/kpis"]["get"]["description"]
    assert "gmv: money (¥); sum of the amount of valid orders" in kpis and "conversion_rate: ratio 0-1" in kpis
    parameters = {param["name"]: param for param in schema["paths"]["/v1/retention"]["get"]["parameters"]}
    assert parameters["from"]["required"] and parameters["period"]["schema"]["enum"] == ["week", "month"]
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_tokens_are_stored_as_digests_listed_without_them_and_revoked(api):
    _, secrets, tokens = api
    token = new_token(secrets, "erp-job", "viewer")
    assert token.startswith("sa_") and len(token) > 40
    stored = (Path(secrets).parent / "tokens.db").read_bytes()
    assert token.encode() not in stored and digest(token).encode() in stored
    listing = cli("token", "list", "--secrets", str(secrets)).decode()
    assert "erp-job" in listing and "viewer" in listing and token not in listing and tokens["admin"] not in listing
    assert get(api, "/v1/status", headers={"Authorization": f"Bearer {token}"}, role=None).status_code == 200
    with pytest.raises(AssertionError, match="already a token named erp-job"):
        cli("token", "add", "erp-job", "--role", "admin", "--secrets", str(secrets))
    cli("token", "revoke", "erp-job", "--secrets", str(secrets))
    assert get(api, "/v1/status", headers={"Authorization": f"Bearer {token}"}, role=None).status_code == 401
    with pytest.raises(AssertionError, match="no API token named erp-job"):
        cli("token", "revoke", "erp-job", "--secrets", str(secrets))


def test_every_request_is_logged_without_its_token(api, caplog):
    caplog.set_level("INFO", logger="shop_analytics.api")
    get(api, "/v1/payments", role="analyst", params={"from": START, "to": END, "api_key": "hunter2"})
    # the server logs a request once its response is sent: the client may read it first
    deadline = time.monotonic() + 10
    while True:
        lines = [record.getMessage() for record in caplog.records if record.name == "shop_analytics.api"]
        if any("/v1/payments" in line for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    line = next(line for line in lines if "/v1/payments" in line)
    assert "analyst-bot(analyst) GET /v1/payments?from=2026-10-01" in line and " 422 " in line
    assert "hunter2" not in line and "api_key=%2A%2A%2A" in line
    assert all(token not in " ".join(lines) for token in api[2].values())


def test_a_token_over_its_limit_gets_429_and_a_changed_configuration_is_read_again(small_shop_db, tmp_path):
    secrets = write_secrets(tmp_path, f"sqlite:///{small_shop_db}", api="requests_per_minute = 3")
    busy, other = new_token(secrets, "busy", "viewer"), new_token(secrets, "other", "viewer")
    with serve_app(create_app(secrets)) as url:
        def ask(token):
            return httpx.get(f"{url}/v1/payments", params={"from": START, "to": END}, headers={"Authorization": f"Bearer {token}"}, timeout=60)

        assert [ask(busy).status_code for _ in range(3)] == [200, 200, 200]
        refused = ask(busy)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["type"].endswith("too-many-requests") and "requests_per_minute" in refused.json()["detail"]
        assert ask(other).status_code == 200
        # a new configuration is read on the next request: the limit, and the shop when its zone moves
        before = httpx.get(f"{url}/v1/payments", params={"from": START, "to": END}, headers={"Authorization": f"Bearer {new_token(secrets, 'third', 'viewer')}"}).json()
        secrets.write_text(secrets.read_text().replace("requests_per_minute = 3", "requests_per_minute = 1000") + '\n[settings]\ntime_zone = "UTC"\n')
        after = ask(busy)
        assert after.status_code == 200 and after.json()["parameters"]["tz"] == "UTC" and before["parameters"]["tz"] == "Asia/Shanghai"
        assert after.json()["data"]["loaded_at"] > before["data"]["loaded_at"]


def test_without_tokens_only_this_machine_is_answered(small_shop_db, tmp_path):
    secrets = write_secrets(tmp_path, f"sqlite:///{small_shop_db}")
    with serve_app(create_app(secrets)) as url:
        answer = httpx.get(f"{url}/v1/status", timeout=60)
        assert answer.status_code == 200 and answer.json()["you"]["role"] == "admin"
        for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"Host": "api.example.com"}):
            refused = httpx.get(f"{url}/v1/status", headers=headers)
            assert refused.status_code == 403 and "token add" in refused.json()["detail"]


def test_a_source_that_cannot_be_read_is_503_with_the_reason(tmp_path):
    secrets = write_secrets(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/shop", extra=f'extract_folder = "{tmp_path / "extract"}"')
    with serve_app(create_app(secrets)) as url:
        answer = httpx.get(f"{url}/v1/kpis", params={"from": START, "to": END}, timeout=60)
        assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM and "retry-after" in answer.headers
        assert "127.0.0.1" in answer.json()["detail"] and "Traceback" not in answer.text
        assert httpx.get(f"{url}/openapi.json").status_code == 200


def test_a_missing_table_is_a_409_naming_it(tmp_path, small_shop_db):
    copy = tmp_path / "no_tickets.db"
    copy.write_bytes(Path(small_shop_db).read_bytes())
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TABLE tickets")
    secrets = write_secrets(tmp_path, f"sqlite:///{copy}")
    with serve_app(create_app(secrets)) as url:
        answer = httpx.get(f"{url}/v1/service", params={"from": START, "to": END}, timeout=60)
        assert answer.status_code == 409 and "tickets" in answer.json()["detail"]
        assert httpx.get(f"{url}/v1/payments", params={"from": START, "to": END}).status_code == 200


def test_the_kpi_table_is_the_export_whether_sliced_from_the_history_or_computed(small_shop_db, tmp_path):
    from datetime import date

    from shop_analytics.api.state import ShopState
    from shop_analytics.exports import ExportRequest, build_export

    state = ShopState(write_secrets(tmp_path, f"sqlite:///{small_shop_db}"))
    served = state.current()
    request = ExportRequest(date(2026, 10, 1), date(2026, 10, 30), "Asia/Shanghai", {"channel": ("social", "email")}, served.config)
    expected = build_export("kpis", served.shop, request)
    computed = state.daily_kpis(served, request.start, request.end, request.tz, request.segment)  # no history yet
    history = state.kpi_history(served, request.tz, request.segment)  # what the background prepared, or now
    sliced = state.daily_kpis(served, request.start, request.end, request.tz, request.segment)
    assert history.height == 365 and state.histories.peek((served.key, request.tz, request.segment.__class__(("email", "social")))) is history
    assert_frame_equal(computed, expected, rtol=1e-12)
    assert_frame_equal(sliced, expected, rtol=1e-12)
    outside = ExportRequest(date(2026, 11, 15), date(2026, 12, 14), "Asia/Shanghai", {}, served.config)  # past the data's end
    assert_frame_equal(state.daily_kpis(served, outside.start, outside.end, outside.tz, outside.segment), build_export("kpis", served.shop, outside), rtol=1e-12)

"""Issue 21: the alert rule form. Enter in Threshold saved the rule and Save then added it a
second time; Delete asked nothing. Now the form saves only on its button, a rule the store
already holds is not added again (said in the reader's language), and Delete asks first."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import AlertStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def alerts_page(small_shop_db, database, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(database)}
    at.secrets["settings"] = {"language": lang}
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    return at


def fill_in(at, metric: str, operator: str, threshold: float) -> None:
    at.selectbox(key="rule_metric").set_value(metric)
    at.selectbox(key="rule_operator").set_value(operator)
    at.number_input(key="rule_threshold").set_value(threshold)


def test_enter_in_the_form_does_not_submit_it(small_shop_db, tmp_path):
    at = alerts_page(small_shop_db, tmp_path / "alerts.db", "en")
    assert [form.proto.form.enter_to_submit for form in at.get("form")] == [False]


@pytest.mark.parametrize(("lang", "words"), [("en", "Not saved: rule #{id} is already"), ("zh", "未保存：规则 #{id} 已是")])
def test_saving_the_same_rule_twice_keeps_one(small_shop_db, tmp_path, lang, words):
    database = tmp_path / "alerts.db"
    at = alerts_page(small_shop_db, database, lang)
    fill_in(at, "cpc", ">", 1.0)
    at.button(key="rule_save").click().run()
    fill_in(at, "cpc", ">", 1.0)
    at.button(key="rule_save").click().run()
    store = AlertStore(database)
    assert [(rule.metric, rule.operator, rule.threshold) for rule in store.rules()] == [("cpc", ">", 1.0)]
    assert any(words.format(id=store.rules()[0].id) in info.value for info in at.info)
    # a different threshold is a different rule
    fill_in(at, "cpc", ">", 1.5)
    at.button(key="rule_save").click().run()
    assert [rule.threshold for rule in store.rules()] == [1.0, 1.5]


@pytest.mark.parametrize(("lang", "question"), [("en", "Delete rule #{id}"), ("zh", "删除规则 #{id}")])
def test_delete_asks_first(small_shop_db, tmp_path, lang, question):
    database = tmp_path / "alerts.db"
    store = AlertStore(database)
    kept = store.add_rule(AlertRule("roi", "<", 0.05))
    at = alerts_page(small_shop_db, database, lang)
    at.button(key=f"rule_delete_{kept}").click().run()
    assert [rule.id for rule in store.rules()] == [kept]  # not yet
    assert any(warning.value.startswith(question.format(id=kept)) for warning in at.warning)
    at.button(key=f"rule_delete_no_{kept}").click().run()
    assert [rule.id for rule in store.rules()] == [kept] and not at.warning
    at.button(key=f"rule_delete_{kept}").click().run()
    at.button(key=f"rule_delete_yes_{kept}").click().run()
    assert store.rules() == []

"""Review words on a few Chinese and English reviews whose words were checked by hand
against what jieba 0.42.1 segments."""

from datetime import date

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.review_words import review_words, words_of

TZ = "Asia/Shanghai"
RESULT_SCHEMA = {"group": pl.String, "word": pl.String, "count": pl.Int64, "share": pl.Float64}

REVIEWS = pl.DataFrame(
    {
        "review_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "product_id": [100, 100, 101, 101, 102, 100, 102, 101],
        "created_at": [
            utc("2026-03-01 02:00"),
            utc("2026-03-01 15:59"),  # 03-01 23:59 local
            utc("2026-03-01 16:00"),  # 03-02 00:00 local
            utc("2026-03-02 09:00"),
            utc("2026-03-02 10:00"),
            utc("2026-03-02 11:00"),
            utc("2026-03-02 12:00"),
            utc("2026-03-02 13:00"),
        ],
        "rating": [5, 4, 1, 2, 3, 5, 3, None],
        "text": [
            "质量很好，物流很快",
            "物流很快，物流很快！",  # the same words twice count once
            "质量很差，不推荐。",
            "Poor quality, not recommended.",
            "It is an average product, and the price is OK.",
            "Great quality, great price!",
            None,  # a neutral review without text: not among the reviews words are shared over
            "No rating, no band.",
        ],
    },
    schema_overrides={"rating": pl.Int32},
)


def result(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("质量很好，物流很快", ("质量", "物流", "很快")),  # jieba: 质量/很/好/，/物流/很快
        ("这个颜色真的很漂亮了，我们都很喜欢的", ("颜色", "很漂亮", "喜欢")),  # stop words and 的 了 都 dropped
        ("包装破损，已申请退货。", ("包装", "破损", "申请", "退货")),  # single 已 dropped
        ("客服不回复，不推荐。", ("客服", "不回复", "不推荐")),  # 不 joins the next word
        ("发货太慢了，下次不会再买了。", ("发货", "太慢", "不会")),
        ("The colour is the same as in the photos and it is lovely", ("colour", "photos", "lovely")),
        ("Packaging could be better, it's fine.", ("packaging", "better", "fine")),
        ("Don\u2019t buy, it\u2019s broken", ("don't buy", "broken")),  # typographic apostrophes
        ("Not the best quality... NOT recommended!", ("not best", "quality", "not recommended")),
        ("ＧＲＥＡＴ value 5 stars", ("great", "value", "stars")),  # full-width letters, no digits
        ("", ()),
    ],
)
def test_words_of_a_review(text, words):
    assert words_of(text) == words


def test_words_per_rating_band_counted_once_per_review():
    # positive: reviews 1, 2, 6; negative: 3, 4; neutral: 5 (7 has no text, 8 no rating).
    expected = result(
        [
            ("negative", "not recommended", 1, 1 / 2),
            ("negative", "poor", 1, 1 / 2),
            ("negative", "quality", 1, 1 / 2),
            ("negative", "不推荐", 1, 1 / 2),
            ("negative", "很差", 1, 1 / 2),
            ("negative", "质量", 1, 1 / 2),
            ("neutral", "average", 1, 1.0),
            ("neutral", "ok", 1, 1.0),
            ("neutral", "price", 1, 1.0),
            ("neutral", "product", 1, 1.0),
            ("positive", "很快", 2, 2 / 3),
            ("positive", "物流", 2, 2 / 3),
            ("positive", "great", 1, 1 / 3),
            ("positive", "price", 1, 1 / 3),
            ("positive", "quality", 1, 1 / 3),
            ("positive", "质量", 1, 1 / 3),
        ]
    )
    assert_frame_equal(review_words(REVIEWS, tz=TZ), expected)


def test_top_words_per_group_ties_cut_by_word():
    expected = result(
        [
            ("negative", "not recommended", 1, 1 / 2),
            ("neutral", "average", 1, 1.0),
            ("positive", "很快", 2, 2 / 3),
        ]
    )
    assert_frame_equal(review_words(REVIEWS, tz=TZ, top=1), expected)


def test_words_per_product_named_from_the_catalogue_in_a_business_day_period():
    # 03-02 local: reviews 3 to 8 (review 3 is at 00:00 local). Product 102 has no name;
    # 102's words (average, ok, price, product) and Shirt's all tie at 1: the cut is by word.
    products = pl.DataFrame({"product_id": [100, 101], "name": ["Mug", "Shirt"]})
    expected = result(
        [
            ("102", "average", 1, 1.0),
            ("102", "ok", 1, 1.0),
            ("102", "price", 1, 1.0),
            ("Mug", "great", 1, 1.0),
            ("Mug", "price", 1, 1.0),
            ("Mug", "quality", 1, 1.0),
            ("Shirt", "no band", 1, 1 / 3),  # review 8: a rating is not needed to group by product
            ("Shirt", "no rating", 1, 1 / 3),
            ("Shirt", "not recommended", 1, 1 / 3),
        ]
    )
    table = review_words(REVIEWS, start=date(2026, 3, 2), end=date(2026, 3, 2), tz=TZ,
                         by="product", products=products, top=3)
    assert_frame_equal(table, expected)


def test_open_ended_period_and_product_ids_without_a_catalogue():
    # Up to 03-01 local: reviews 1 and 2, both of product 100.
    expected = result([("100", "很快", 2, 1.0), ("100", "物流", 2, 1.0), ("100", "质量", 1, 1 / 2)])
    table = review_words(REVIEWS, end=date(2026, 3, 1), tz=TZ, by="product")
    assert_frame_equal(table, expected)


def test_no_reviews_in_the_period_give_an_empty_table():
    table = review_words(REVIEWS, start=date(2026, 4, 1), tz=TZ)
    assert_frame_equal(table, result([]))


def test_reviews_without_text_or_an_unknown_grouping_are_refused():
    with pytest.raises(ValueError, match="review words need reviews.text, which this source does not have"):
        review_words(REVIEWS.drop("text"), tz=TZ)
    with pytest.raises(ValueError, match="grouped by rating_band or product, not 'user'"):
        review_words(REVIEWS, tz=TZ, by="user")

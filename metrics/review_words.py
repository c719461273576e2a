"""High-frequency words in reviews (SPEC section 1), per rating band or per product.

A review's words: the text is NFKC-normalised (full-width letters and punctuation become
ASCII), lowercased, its typographic apostrophes made straight, and split into clauses at
punctuation. Chinese runs are segmented by jieba (accurate mode); in other scripts, English
above all, a word is a run of letters, apostrophes inside it kept ("it's"); digits are not
words. Stop words (the compact lists below) and
single-character words are dropped. A negation (不 没 没有 别 未 / not no never ...) is
joined to the next word of its clause that is not a stop word (不推荐, "not recommended"),
so a complaint is not counted as praise. Each word counts once per review.

Segmentation runs once per distinct text and is cached across calls, since review texts
repeat (templates, "好评！").
"""

import logging
import re
import unicodedata
from datetime import date
from functools import lru_cache

import polars as pl

from metrics.time import as_utc, utc_bounds

RATING_BANDS = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
BAND_ORDER = ("negative", "neutral", "positive")
GROUPINGS = ("rating_band", "product")

CHINESE_STOP_WORDS = frozenset(
    "的 了 是 很 也 都 和 就 在 有 我 你 他 她 它 们 这 那 个 还 又 再 吧 吗 呢 啊 呀 哦 嗯 哈 着 过 "
    "被 把 给 让 对 与 及 或 而 但 我们 你们 他们 自己 这个 那个 一个 这样 那样 这种 什么 怎么 "
    "但是 而且 并且 因为 所以 如果 虽然 还是 然后 已经 就是 非常 特别 比较 有点 一点 一下 真的 "
    "感觉 觉得 东西 可以 还有 下次 一直 时候 之后 以后 目前".split()
)
ENGLISH_STOP_WORDS = frozenset(
    "a an the and or but if then so than too very is are was were be been being am do does "
    "did doing have has had having it its it's this that these those there here i i'm i've me "
    "my we our you your he him his she her they them their what which who whom to of in on "
    "for with at by from as about into over after before up down out off again just also only "
    "own same such will would should can could may might must get got really quite much many "
    "more most some any all both each few other one ones s t ll ve re d m".split()
)
NEGATIONS = frozenset(
    "不 没 没有 别 未 not no never don't didn't doesn't isn't wasn't aren't won't can't cannot".split()
)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_LETTERS = rf"[^\W\d_{_HAN}]+"  # letters of any script but Chinese, which jieba takes
_TOKEN = re.compile(rf"(?P<chinese>[{_HAN}]+)|(?P<latin>{_LETTERS}(?:'{_LETTERS})*)")
# Punctuation closes a clause; the apostrophe belongs to words like "it's".
_CLAUSE_BREAK = re.compile(r"[^\w\s']+")


@lru_cache(maxsize=1)
def _segmenter():
    """jieba, its dictionary loaded once (about 1 s the first time) and its log kept quiet."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _is_chinese(token: str) -> bool:
    return "\u3400" <= token[0] <= "\u9fff"


def _tokens(clause: str) -> list[str]:
    tokens = []
    for match in _TOKEN.finditer(clause):
        if match.lastgroup == "chinese":
            tokens.extend(_segmenter().lcut(match.group()))
        else:
            tokens.append(match.group())
    return tokens


def _join_negation(negation: str, word: str) -> str:
    return negation + word if _is_chinese(word) and _is_chinese(negation) else f"{negation} {word}"


@lru_cache(maxsize=100_000)
def words_of(text: str) -> tuple[str, ...]:
    """The distinct words of one review text, in order of first appearance (module docstring)."""
    words = []
    normalised = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    for clause in _CLAUSE_BREAK.split(normalised):
        negation = None
        for token in _tokens(clause):
            if token in NEGATIONS:
                negation = token
            elif token in CHINESE_STOP_WORDS or token in ENGLISH_STOP_WORDS:
                continue
            elif negation is not None:
                words.append(_join_negation(negation, token))
                negation = None
            elif len(token) > 1:
                words.append(token)
    return tuple(dict.fromkeys(words))


def _grouped(reviews: pl.DataFrame, by: str, products: pl.DataFrame | None) -> pl.DataFrame:
    """`reviews` with a String `group` column and a `group_order` to sort groups by."""
    if by == "rating_band":
        band = pl.col("rating").replace_strict(RATING_BANDS, default=None, return_dtype=pl.String)
        order = pl.col("group").replace_strict({b: i for i, b in enumerate(BAND_ORDER)}, default=None)
        return reviews.with_columns(group=band).filter(pl.col("group").is_not_null()).with_columns(
            group_order=order
        )
    label = pl.col("product_id").cast(pl.String)
    if products is not None:
        reviews = reviews.join(products.select("product_id", "name"), on="product_id", how="left")
        label = pl.coalesce(pl.col("name"), label)
    return reviews.with_columns(group=label).with_columns(group_order=pl.col("group"))


def review_words(
    reviews: pl.DataFrame,
    *,
    start: date | None = None,
    end: date | None = None,
    tz: str,
    by: str = "rating_band",
    top: int = 20,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The `top` most frequent words of each group's reviews (words as the module defines).

    Reviews are those created on business days `start`..`end` in zone `tz` (either bound may
    be None: open). Groups: `by="rating_band"` gives negative (rating 1-2), neutral (3),
    positive (4-5), ratings outside 1..5 left out; `by="product"` gives one group per
    product, named by `products.name` when `products` is given (products sharing a name
    are pooled), else by the product id as text.

    count = reviews in the group whose text has the word (once per review); share = count /
    reviews in the group that have text. Columns: group, word, count, share. Groups in band
    order or by name; within a group by count descending, then word; ties at the cut-off
    are cut by word. Raises ValueError without a `text` column or for an unknown `by`.
    """
    if by not in GROUPINGS:
        raise ValueError(f"review words are grouped by {' or '.join(GROUPINGS)}, not {by!r}")
    if "text" not in reviews.columns:
        raise ValueError(
            "review words need reviews.text, which this source does not have; "
            "map it in the data-source settings"
        )
    reviews = as_utc(reviews, "created_at")
    if start is not None:
        reviews = reviews.filter(pl.col("created_at") >= utc_bounds(start, start, tz)[0])
    if end is not None:
        reviews = reviews.filter(pl.col("created_at") < utc_bounds(end, end, tz)[1])
    texts = _grouped(reviews.filter(pl.col("text").str.strip_chars() != ""), by, products)

    distinct_texts = texts.get_column("text").unique()
    vocabulary = pl.DataFrame(
        {"text": distinct_texts, "word": [list(words_of(text)) for text in distinct_texts]},
        schema={"text": pl.String, "word": pl.List(pl.String)},
    )
    group_sizes = texts.group_by("group").agg(reviews=pl.len())
    return (
        texts.select("group", "group_order", "text")
        .join(vocabulary, on="text", how="left")
        .explode("word")
        .drop_nulls("word")
        .group_by("group", "group_order", "word")
        .agg(count=pl.len().cast(pl.Int64))
        .join(group_sizes, on="group", how="left")
        .with_columns(share=pl.col("count") / pl.col("reviews"))
        .sort(["group_order", "group", "count", "word"], descending=[False, False, True, False])
        .group_by("group", maintain_order=True)
        .head(top)
        .select("group", "word", "count", "share")
    )

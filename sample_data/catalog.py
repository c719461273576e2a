"""The product catalogue and the search vocabulary, with popularity-weighted sampling."""

from dataclasses import dataclass

import numpy as np
import polars as pl

from sample_data.vocabulary import CATEGORIES

N_PRODUCTS = 2_000
# Share of the catalogue in each category (CATEGORIES order).
_CATALOGUE_SHARE = np.array([0.22, 0.14, 0.12, 0.16, 0.12, 0.08, 0.10, 0.06])
# Median list price in CNY and the spread (log-scale sigma) of prices in each category.
_PRICE_MEDIAN = np.array([159.0, 129.0, 399.0, 89.0, 49.0, 119.0, 199.0, 39.0])
_PRICE_SIGMA = np.array([0.6, 0.7, 0.9, 0.7, 0.5, 0.6, 0.6, 0.4])

_BRANDS = {
    "Apparel": ["Lanxi", "Urbanly", "Mofeng", "Northpeak", "Qingshan", "Softwave"],
    "Beauty": ["Yuelan", "Glowy", "Huaxi", "Pure Lotus", "Meiyan"],
    "Electronics": ["Voltek", "Xinghe", "Pulsar", "Lumo", "Aurora Tech"],
    "Home": ["Jiaju", "Cozynest", "Mumu", "Linen & Co", "Anju"],
    "Food": ["Guoxiang", "Daily Harvest", "Chayuan", "Nutty", "Shanye"],
    "Baby": ["Little Sprout", "Anxin", "Beibei", "Tinystep"],
    "Sports": ["Runfast", "Peakline", "Tiyu", "FlexFit", "Jinli"],
    "Books": ["Wenhai", "Page & Co", "Shuxiang", "Readmore"],
}
# Product nouns in Chinese; search terms are these plus English ones.
_NOUNS = {
    "Apparel": ["连衣裙", "卫衣", "羽绒服", "牛仔裤", "T恤", "衬衫", "运动裤", "针织衫"],
    "Beauty": ["口红", "面膜", "精华液", "防晒霜", "洗面奶", "粉底液", "香水"],
    "Electronics": ["蓝牙耳机", "充电宝", "机械键盘", "智能手表", "手机壳", "平板支架", "路由器"],
    "Home": ["四件套", "收纳盒", "保温杯", "香薰蜡烛", "抱枕", "台灯", "拖把"],
    "Food": ["每日坚果", "挂耳咖啡", "纯牛奶", "零食大礼包", "茶叶", "牛肉干"],
    "Baby": ["纸尿裤", "婴儿奶粉", "婴儿湿巾", "儿童绘本", "安抚玩具", "儿童餐具"],
    "Sports": ["跑步鞋", "瑜伽垫", "哑铃", "运动手环", "骑行服", "羽毛球拍"],
    "Books": ["长篇小说", "儿童绘本", "考研真题", "历史读物", "商业管理", "科幻小说"],
}
_ENGLISH_TERMS = {
    "Apparel": ["dress", "hoodie", "down jacket", "jeans"],
    "Beauty": ["lipstick", "serum", "sunscreen", "face mask"],
    "Electronics": ["earbuds", "power bank", "keyboard", "iphone case", "smart watch"],
    "Home": ["bedding", "storage box", "thermos", "desk lamp"],
    "Food": ["coffee", "nuts", "snacks", "green tea"],
    "Baby": ["diapers", "baby formula", "wipes"],
    "Sports": ["running shoes", "yoga mat", "dumbbells"],
    "Books": ["novel", "picture book", "sci-fi"],
}


@dataclass(frozen=True)
class GroupedSampler:
    """Draws items by fixed weights from one group per draw; items are stored group by group."""

    cumulative: np.ndarray
    group_bounds: np.ndarray

    @classmethod
    def from_weights(cls, weights: np.ndarray, groups: np.ndarray, n_groups: int) -> "GroupedSampler":
        """`groups` must be sorted: item i belongs to group groups[i]."""
        bounds = np.searchsorted(groups, np.arange(n_groups + 1))
        return cls(np.concatenate([[0.0], np.cumsum(weights)]), bounds)

    def sample(self, rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
        """One item index per entry of `groups`, drawn by weight from within that group."""
        first, stop = self.group_bounds[groups], self.group_bounds[groups + 1]
        low, high = self.cumulative[first], self.cumulative[stop]
        items = (
            np.searchsorted(self.cumulative, low + rng.random(len(groups)) * (high - low), side="right") - 1
        )
        return np.clip(items, first, stop - 1)


@dataclass(frozen=True)
class Catalog:
    """Products (index i has id product_ids[i]) sorted by category, and the search terms."""

    products: pl.DataFrame
    product_ids: np.ndarray
    price: np.ndarray
    attractiveness: np.ndarray
    product_sampler: GroupedSampler
    search_terms: pl.Series
    term_sampler: GroupedSampler


def _zipf_weights(rng: np.random.Generator, size: int, exponent: float) -> np.ndarray:
    """Zipf popularity with ranks shuffled over the items."""
    return 1.0 / (rng.permutation(size) + 1.0) ** exponent


def build_catalog(rng: np.random.Generator) -> Catalog:
    """About two thousand products with Zipf popularity and lognormal prices per category."""
    counts = np.floor(_CATALOGUE_SHARE * N_PRODUCTS).astype(np.int64)
    counts[0] += N_PRODUCTS - counts.sum()
    category = np.repeat(np.arange(len(CATEGORIES)), counts)
    raw_price = _PRICE_MEDIAN[category] * np.exp(_PRICE_SIGMA[category] * rng.standard_normal(N_PRODUCTS))
    # Chinese shops price at x9.9: 159.9, 49.9.
    price = np.maximum(np.round(raw_price / 10) * 10 - 0.1, 9.9)
    cost = np.round(price * rng.uniform(0.5, 0.8, N_PRODUCTS), 2)
    product_ids = rng.permutation(N_PRODUCTS) + 1

    brand_names, noun_names = [], []
    for code, name in enumerate(CATEGORIES):
        in_category = int(counts[code])
        brands = np.array(_BRANDS[name])
        brand_weights = _zipf_weights(rng, len(brands), 1.0)
        brand_names.append(
            brands[rng.choice(len(brands), in_category, p=brand_weights / brand_weights.sum())]
        )
        noun_names.append(np.array(_NOUNS[name])[rng.integers(0, len(_NOUNS[name]), in_category)])
    models = np.char.add(
        np.array(list("ACEKMSVX"))[rng.integers(0, 8, N_PRODUCTS)],
        rng.integers(1, 100, N_PRODUCTS).astype(str),
    )
    products = (
        pl.DataFrame(
            {
                "product_id": product_ids.astype(np.int64),
                "brand": np.concatenate(brand_names),
                "noun": np.concatenate(noun_names),
                "model": models,
                "category": pl.Series(CATEGORIES).gather(category),
                "price": price,
                "cost": cost,
            }
        )
        .select(
            "product_id",
            pl.concat_str("brand", "noun", "model", separator=" ").alias("name"),
            "category",
            "brand",
            "price",
            "cost",
        )
        .sort("product_id")
    )

    popularity = _zipf_weights(rng, N_PRODUCTS, 1.07)
    terms = [
        (code, term) for code, name in enumerate(CATEGORIES) for term in _NOUNS[name] + _ENGLISH_TERMS[name]
    ]
    term_category = np.array([code for code, _ in terms])
    term_weights = _zipf_weights(rng, len(terms), 0.9)
    return Catalog(
        products=products,
        product_ids=product_ids,
        price=price,
        attractiveness=np.exp(0.35 * rng.standard_normal(N_PRODUCTS)),
        product_sampler=GroupedSampler.from_weights(popularity, category, len(CATEGORIES)),
        search_terms=pl.Series("search_term", [term for _, term in terms]),
        term_sampler=GroupedSampler.from_weights(term_weights, term_category, len(CATEGORIES)),
    )

"""k-means clusters of customers on their RFM values, each described in words.

SPEC: "k-means clusters on scaled log features with a chosen k". The features are
log(1 + recency_days), log(1 + frequency) and log(1 + monetary), each standardised to mean 0
and standard deviation 1. Unless the analyst sets k, it is the k in `K_RANGE` with the
highest silhouette (scikit-learn's silhouette_score, on a fixed sample of customers when
there are many). A cluster is described from its centre: per feature, a centre more than
`TRAIT_THRESHOLD` standard deviations from the mean is a trait ("recent" or "lapsed",
"frequent" or "one-off", "high spend" or "low spend"), else the feature is average.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from models.compute import one_thread

FEATURES = ("recency_days", "frequency", "monetary")
K_RANGE = range(2, 9)
TRAIT_THRESHOLD = 0.25
SILHOUETTE_SAMPLE = 2_000
# (feature, trait below the mean, trait above it); recency below the mean is good.
TRAITS = (
    ("recency_days", "recent", "lapsed"),
    ("frequency", "one_off", "frequent"),
    ("monetary", "low_spend", "high_spend"),
)
TRAIT_WORDS = {
    "recent": "recent", "lapsed": "lapsed", "one_off": "one-off", "frequent": "frequent",
    "low_spend": "low spend", "high_spend": "high spend",
}


def describe(centre: dict[str, float]) -> list[str]:
    """The traits of a standardised centre (feature -> z), in TRAITS order."""
    traits = []
    for feature, below, above in TRAITS:
        if centre[feature] < -TRAIT_THRESHOLD:
            traits.append(below)
        elif centre[feature] > TRAIT_THRESHOLD:
            traits.append(above)
    return traits


def words(traits: list[str]) -> str:
    """Traits as an English phrase ("recent, frequent, high spend"); "average" when none."""
    return ", ".join(TRAIT_WORDS[trait] for trait in traits) or "average"


@dataclass
class RfmClusters:
    """k-means on scaled log RFM features.

    `fit(rfm)` takes one row per customer with recency_days, frequency and monetary (as
    `rfm.rfm_table` gives). Learns `k_`, `silhouettes_` (k -> silhouette, for the k tried),
    `mean_` and `scale_` of the log features and `centres_` (standardised). `n_clusters`
    None chooses k by silhouette.
    """

    n_clusters: int | None = None
    random_state: int = 0

    @staticmethod
    def _logs(rfm: pl.DataFrame) -> np.ndarray:
        missing = [name for name in FEATURES if name not in rfm.columns]
        if missing:
            raise ValueError(f"clustering needs the columns {', '.join(FEATURES)}; missing {', '.join(missing)}")
        return np.log1p(rfm.select(FEATURES).to_numpy().astype(float))

    def fit(self, rfm: pl.DataFrame) -> "RfmClusters":
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        logs = self._logs(rfm)
        distinct = len(np.unique(logs, axis=0))
        if self.n_clusters is not None and not 2 <= self.n_clusters <= distinct:
            raise ValueError(f"k must be between 2 and the {distinct} distinct customers' values, not {self.n_clusters}")
        if distinct < 3 and self.n_clusters is None:
            raise ValueError(f"clustering needs customers with at least 3 distinct RFM values; there are {distinct}")
        self.mean_ = logs.mean(axis=0)
        self.scale_ = np.where(logs.std(axis=0) > 0, logs.std(axis=0), 1.0)
        scaled = (logs - self.mean_) / self.scale_
        candidates = [self.n_clusters] if self.n_clusters else [k for k in K_RANGE if k < distinct]
        sample = min(SILHOUETTE_SAMPLE, len(scaled))
        with one_thread():
            fits = {k: KMeans(n_clusters=k, n_init="auto", random_state=self.random_state).fit(scaled) for k in candidates}
            self.silhouettes_ = {
                k: float(silhouette_score(scaled, fit.labels_, sample_size=sample, random_state=self.random_state))
                for k, fit in fits.items()
            }
        self.k_ = max(self.silhouettes_, key=self.silhouettes_.__getitem__)
        self.model_ = fits[self.k_]
        self.centres_ = self.model_.cluster_centers_
        return self

    def predict(self, rfm: pl.DataFrame) -> np.ndarray:
        with one_thread():
            return self.model_.predict((self._logs(rfm) - self.mean_) / self.scale_)

    def clusters(self, rfm: pl.DataFrame) -> pl.DataFrame:
        """Per cluster (k-means label 0..k-1; rows by mean monetary, highest first): customers, share,
        recency_days_mean, frequency_mean, monetary_mean, the standardised centre
        (recency_z, frequency_z, monetary_z), traits (codes) and description (words)."""
        labelled = rfm.with_columns(cluster=self.predict(rfm))
        centres = pl.DataFrame(
            {"cluster": np.arange(self.k_), **{f"{name}_z": self.centres_[:, i] for i, name in enumerate(FEATURES)}}
        ).with_columns(pl.col("cluster").cast(pl.Int32))
        described = centres.with_columns(
            traits=pl.Series([describe({name: row[f"{name}_z"] for name in FEATURES}) for row in centres.iter_rows(named=True)], dtype=pl.List(pl.String)),
        ).with_columns(description=pl.col("traits").map_elements(words, return_dtype=pl.String))
        table = (
            labelled.group_by("cluster")
            .agg(
                customers=pl.len().cast(pl.Int64),
                recency_days_mean=pl.col("recency_days").mean(),
                frequency_mean=pl.col("frequency").mean(),
                monetary_mean=pl.col("monetary").mean(),
            )
            .with_columns(pl.col("cluster").cast(pl.Int32), share=pl.col("customers") / pl.col("customers").sum())
            .join(described, on="cluster")
            .sort("monetary_mean", descending=True)
        )
        return table.select(
            "cluster", "customers", "share", "recency_days_mean", "frequency_mean", "monetary_mean",
            "recency_days_z", "frequency_z", "monetary_z", "traits", "description",
        )

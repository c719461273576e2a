"""The push-down queries on Spark SQL: a shop on a distributed engine gets its dashboards
from the same SQL, compiled for PostgreSQL by SQLAlchemy and transpiled for Spark by sqlglot.

    spark = spark_session("local[2]")          # or a cluster's master URL
    engine = SparkPushdown(spark, "/srv/shop")  # users.parquet, events.parquet (or events/), ...
    shop = load_shop(FolderSource("/srv/shop"), pushdown=engine)

Spark reads the Parquet files (any path it can read, a folder of parts included) as temporary
views named after the canonical tables and the engine (so that engines share a session); its session runs in UTC, so the instants it reads are
the UTC instants the files hold, and the business day comes from FROM_UTC_TIMESTAMP (what
sqlglot makes of PostgreSQL's AT TIME ZONE). Needs `pyspark` and `sqlglot` and a Java 17
runtime.
"""

import uuid
from pathlib import Path
from typing import cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from connectors.schema import TABLES, UTC_DATETIME, DType
from shop_analytics.pushdown.engines import QueryEngine

_SQL_TYPES: dict[DType | None, sa.types.TypeEngine] = {pl.Int64: sa.BigInteger(), pl.Int32: sa.Integer(), pl.Float64: sa.Double(), pl.Date: sa.Date(), UTC_DATETIME: sa.DateTime(timezone=True)}


def spark_session(master: str = "local[2]"):
    """A Spark session for the queries: no web UI, session time zone UTC, few shuffle
    partitions (the aggregated results are small)."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("shop-analytics push-down")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_sql(query: sa.Select) -> str:
    """`query` as Spark SQL: compiled for PostgreSQL with its values rendered, then
    transpiled by sqlglot."""
    import sqlglot

    text = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return sqlglot.transpile(text, read="postgres", write="spark")[0]


class SparkPushdown(QueryEngine):
    """pushdown.queries run by Spark SQL over the canonical tables as Parquet in `folder`
    (`<name>.parquet` or a folder `<name>/` of parts)."""

    dialect_name = "postgresql"

    def __init__(self, spark, folder: str | Path):
        self.spark = spark
        self.folder = Path(folder)
        self.description = f"Spark SQL ({spark.sparkContext.master}) over {self.folder}"
        self._tables: dict[str, sa.Table] = {}
        self._view_suffix = uuid.uuid4().hex[:12]
        for name in TABLES:
            path = self.folder / f"{name}.parquet"
            if not path.exists() and (self.folder / name).is_dir():
                path = self.folder / name
            if path.exists():
                view = f"{name}_{self._view_suffix}"
                frame = spark.read.parquet(str(path))
                frame.createOrReplaceTempView(view)
                columns = [sa.Column(column, self._sql_type(name, column)) for column in frame.columns]
                self._tables[name] = sa.Table(view, sa.MetaData(), *columns)

    @staticmethod
    def _sql_type(table: str, column: str) -> sa.types.TypeEngine:
        return _SQL_TYPES.get(TABLES[table].columns.get(column), sa.Text())

    def table(self, name: str) -> sa.FromClause:
        return self._tables[name]

    def read(self, query: sa.Select) -> pl.DataFrame:
        # Spark's toArrow gives a pyarrow Table, which Polars reads as a DataFrame; from_arrow's
        # annotation says DataFrame | Series whatever its input
        return cast(pl.DataFrame, pl.from_arrow(self.spark.sql(spark_sql(query)).toArrow()))

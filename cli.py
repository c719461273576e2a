"""`python cli.py ...`: the command line (shop_analytics/cli.py), also installed as the
`shop-analytics` console script."""

import sys

from shop_analytics.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""The sample shop (SPEC section 4): a year of a Chinese online shop, generated from a seed.

`generator.generate_shop` builds the nine canonical tables in memory and
`sqlite_store.write_sqlite` stores them as the embedded database the app opens by default.
"""

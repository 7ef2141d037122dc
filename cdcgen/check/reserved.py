"""Redshift reserved words: identifiers spelled like these must be double-quoted.

Source: AWS "Reserved words" (docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html),
taken as the union with sqlglot 30's ``Redshift.Generator.RESERVED_KEYWORDS`` (which adds
TYPE, and spells ENCRYPT with trailing blanks, hence the strip).
"""

from __future__ import annotations

from typing import Final

from sqlglot.dialects.redshift import Redshift

# The AWS list, verbatim and in its order.
AWS_RESERVED_WORDS: Final = frozenset(
    """
    AES128 AES256 ALL ALLOWOVERWRITE ANALYSE ANALYZE AND ANY ARRAY AS ASC AUTHORIZATION AZ64
    BACKUP BETWEEN BINARY BLANKSASNULL BOTH BYTEDICT BZIP2 CASE CAST CHECK COLLATE COLUMN
    CONSTRAINT CREATE CREDENTIALS CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
    CURRENT_USER CURRENT_USER_ID DEFAULT DEFERRABLE DEFLATE DEFRAG DELTA DELTA32K DESC
    DISABLE DISTINCT DO ELSE EMPTYASNULL ENABLE ENCODE ENCRYPT ENCRYPTION END EXCEPT
    EXPLICIT FALSE FOR FOREIGN FREEZE FROM FULL GLOBALDICT256 GLOBALDICT64K GRANT GROUP GZIP
    HAVING IDENTITY IGNORE ILIKE IN INITIALLY INNER INTERSECT INTERVAL INTO IS ISNULL JOIN
    LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LUN LUNS LZO LZOP MINUS MOSTLY16
    MOSTLY32 MOSTLY8 NATURAL NEW NOT NOTNULL NULL NULLS OFF OFFLINE OFFSET OID OLD ON ONLY
    OPEN OR ORDER OUTER OVERLAPS PARALLEL PARTITION PERCENT PERMISSIONS PIVOT PLACING PRIMARY
    RAW READRATIO RECOVER REFERENCES REJECTLOG RESORT RESPECT RESTORE RIGHT SELECT
    SESSION_USER SIMILAR SNAPSHOT SOME SYSDATE SYSTEM TABLE TAG TDES TEXT255 TEXT32K THEN
    TIMESTAMP TO TOP TRAILING TRUE TRUNCATECOLUMNS UNION UNIQUE UNNEST UNPIVOT USER USING
    VERBOSE WALLET WHEN WHERE WITH WITHOUT
    """.split()  # noqa: SIM905 - the AWS page, pasted verbatim for review
)

SQLGLOT_RESERVED_WORDS: Final = frozenset(
    word.strip().upper() for word in Redshift.Generator.RESERVED_KEYWORDS if word.strip()
)

RESERVED_WORDS: Final = AWS_RESERVED_WORDS | SQLGLOT_RESERVED_WORDS

# Not reserved, but the same AWS page says to quote them (or use AS) when they are table
# aliases, "to avoid failure at runtime".
QUOTE_AS_ALIAS: Final = frozenset({"START", "CONNECT"})


def is_reserved(identifier: str) -> bool:
    """True when ``identifier`` must be written as a delimited ("quoted") identifier."""
    return identifier.upper() in RESERVED_WORDS

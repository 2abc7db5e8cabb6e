# SPDX-License-Identifier: Apache-2.0
# Data cleaning: reads a messy CSV of orders, normalises it (whitespace, names, e-mail case,
# country codes, dates in several formats, amounts like "$1,200.00" or "1.234,56"), drops
# duplicates, sets invalid rows aside with the reason, optionally writes the clean CSV, and
# returns a JSON summary. The task sees no file the person running it did not grant:
#
#   build/release/capsule run --mount examples/python/data_cleaning/data::/data \
#       examples/python/data_cleaning/main.py /data/orders.csv
#
# and, to keep the cleaned file, a writable grant for the output directory:
#
#   mkdir -p /tmp/clean && build/release/capsule run \
#       --mount examples/python/data_cleaning/data::/data --mount /tmp/clean::/out:rw \
#       examples/python/data_cleaning/main.py /data/orders.csv /out/orders_clean.csv
import csv
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from capsule import log, task

COUNTRIES = {"us": "US", "usa": "US", "united states": "US", "uk": "GB", "united kingdom": "GB",
             "japan": "JP", "france": "FR", "germany": "DE", "spain": "ES", "ireland": "IE"}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y",
                "%d %b %Y", "%d %B %Y")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
FIELDS = ["order_id", "customer", "email", "country", "order_date", "amount"]


class Invalid(ValueError):
    pass


def clean_name(s: str) -> str:
    s = " ".join(s.split())
    # Re-case only names typed all in one case; keep "McDonald" or "van der Berg" as written.
    return s.title() if s.islower() or s.isupper() else s


def clean_email(s: str) -> str:
    s = s.strip().lower()
    if not EMAIL.fullmatch(s):
        raise Invalid(f"invalid email {s!r}")
    return s


def clean_country(s: str) -> str:
    s = " ".join(s.split())
    code = COUNTRIES.get(s.lower(), s.upper())
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise Invalid(f"unknown country {s!r}")
    return code


def clean_date(s: str) -> date:
    s = " ".join(s.split())
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            pass
    raise Invalid(f"unparseable date {s!r}")


def clean_amount(s: str) -> Decimal:
    s = re.sub(r"[^\d.,\-]", "", s)  # currency signs, spaces
    if not re.search(r"\d", s):
        raise Invalid("missing amount")
    if "," in s and "." in s:  # the last separator is the decimal one: 1,234.56 / 1.234,56
        thousands = "," if s.rfind(".") > s.rfind(",") else "."
        s = s.replace(thousands, "").replace(",", ".")
    elif "," in s:  # 2,500 (thousands) or 45,5 (decimal comma)
        s = s.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+", s) else s.replace(",", ".")
    try:
        return Decimal(s).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise Invalid(f"unparseable amount {s!r}") from None


def clean_row(row: dict) -> dict:
    return {
        "order_id": row["order_id"].strip(),
        "customer": clean_name(row["customer"]),
        "email": clean_email(row["email"]),
        "country": clean_country(row["country"]),
        "order_date": clean_date(row["order_date"]),
        "amount": clean_amount(row["amount"]),
    }


@task(name="main", compute="MEDIUM", ram="64MB", timeout="30s")
def main(path: str = "/data/orders.csv", out: str = "") -> dict:
    try:
        f = open(path, newline="", encoding="utf-8")
    except (FileNotFoundError, PermissionError) as e:
        raise FileNotFoundError(f"cannot read {path} ({e.strerror}): grant its directory with "
                                f"--mount HOST_DIR::/data") from None
    with f:
        reader = csv.DictReader(f)
        reader.fieldnames = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [h for h in FIELDS if h not in reader.fieldnames]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        rows_in, seen, clean, invalid, duplicates = 0, set(), [], [], 0
        for row in reader:
            rows_in += 1
            try:
                rec = clean_row(row)
            except Invalid as e:
                invalid.append({"line": reader.line_num, "order_id": row["order_id"].strip(),
                                "reason": str(e)})
                continue
            key = tuple(rec.values())
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            clean.append(rec)

    by_country = {}
    for rec in clean:
        c = by_country.setdefault(rec["country"], {"orders": 0, "amount": Decimal("0")})
        c["orders"] += 1
        c["amount"] += rec["amount"]
    if out:
        with open(out, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for rec in clean:
                w.writerow({**rec, "order_date": rec["order_date"].isoformat(),
                            "amount": str(rec["amount"])})
    log(f"cleaned {path}: {len(clean)} of {rows_in} rows kept")
    dates = sorted(rec["order_date"] for rec in clean)
    return {
        "input": path,
        "rows_in": rows_in,
        "rows_out": len(clean),
        "duplicates_removed": duplicates,
        "invalid": invalid,
        # Money as decimal strings: exact, whatever the reader's float formatting.
        "total_amount": str(sum((r["amount"] for r in clean), Decimal("0.00"))),
        "by_country": {k: {"orders": v["orders"], "amount": str(v["amount"])}
                       for k, v in sorted(by_country.items())},
        "date_range": [dates[0].isoformat(), dates[-1].isoformat()] if dates else None,
        "output": out or None,
    }

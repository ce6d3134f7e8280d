#!/usr/bin/env python3
"""cremation_gbk.py - builds the fixture of the worked example cremation_odbc.lua:
a legacy civil-affairs SQLite database whose text columns hold GBK bytes, as
old departmental systems wrote them.

Usage: cremation_gbk.py OUT.db

mz_hhdj (火化登记, cremation register): hhbh 火化编号 (record key), sfzhm
身份证号码, xm 姓名, xb 性别 code (1 male, 2 female), csrq 出生日期 and swrq
死亡日期 as YYYYMMDD text, hhrq 火化日期. The last rows are planted mistakes.
"""
import os
import sqlite3
import sys

ROWS = [
    # hhbh, sfzhm, xm, xb, csrq, swrq, hhrq
    ("HH2024001", "110105194103051232", "张建国", "1", "19410305", "20240312", "20240315"),
    ("HH2024002", "320502193807122040", "李秀兰", "2", "19380712", "20240420", "20240422"),
    ("HH2024003", "650102194001054420", "阿依古丽·买买提", "2", "19400105", "20240105", "20240108"),
    # planted: the name's bytes are not GBK (a truncated character)
    ("HH2024004", "440306194501013315", b"\xb3\xc2\xd6", "1", "19450101", "20240201", "20240203"),
    # planted: 31 February
    ("HH2024005", "610103195208156620", "孙丽华", "2", "19520815", "20240231", "20240302"),
    # planted: sex code 9 is not in the code table
    ("HH2024006", "420106194001055522", "周文斌", "9", "19400105", "20240610", "20240612"),
    # planted: the stated birth date disagrees with the id number
    ("HH2024007", "110105194901011235", "王德福", "1", "19490110", "20240701", "20240703"),
]


def gbk_text(v):
    """SQL literal for v as GBK bytes in a TEXT column (bytes are taken as they are)."""
    raw = v if isinstance(v, bytes) else v.encode("gbk")
    return "CAST(X'%s' AS TEXT)" % raw.hex()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: cremation_gbk.py OUT.db")
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    db.execute("CREATE TABLE mz_hhdj (hhbh TEXT PRIMARY KEY, sfzhm TEXT, xm TEXT, xb TEXT,"
               " csrq TEXT, swrq TEXT, hhrq TEXT)")
    for row in ROWS:
        db.execute("INSERT INTO mz_hhdj VALUES (%s)" % ", ".join(gbk_text(v) for v in row))
    db.commit()
    db.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""gen_scale.py - generates a scaled demo city for the benchmarks, in the demo's
native schemas (the same tables and columns as scripts/demo/gen_city.py, whose
DDL writers are reused), so adapters/*.lua and conf/demo.ini work unchanged.

    gen_scale.py --residents N --out DIR [--seed S]

Shape of the city (fractions of N; all dates in 2024-01 .. 2025-06):
  - N residents in wg_jmxx (grid), in households of 1-4 sharing a cell; a few ids
    typed as the grid holds them (lowercase x, spaces, full-width digits) and a
    few with a mistyped check character (quarantined).
  - ~25% pensioners (yl_ryxx) with 18 monthly payments each in yl_ffmx, so
    N = 1M gives ~4.5M payment rows; payments stop in the month of death.
  - ~1% deaths: about half household deregistrations in psb.json (some also
    cremated), the rest cremations only (mz_hhdj) or grid reports (wg_sjsb).
    One dead pensioner in ten is paid on after death (pension_after_death).
  - ~1% of households (about 2% of residents) are assistance cases (mz_dbaj,
    mz_jtcy members, 18 monthly mz_jzff payments) with planted hidden wages,
    a car, or a deceased member still enrolled.
  - contribution rows (sb_jfjs wages, 18 months) for ~8% of residents, vehicles
    and custody records in psb.json, a few revoked deregistrations.
  - data-quality conflicts that live only in the big streams, in rows of people
    no rule needs (no death, custody or case): ~0.2% of wage earners have their
    contribution rows under another name, ~0.1% of living pensioners one
    payment row under another name; each is one planted identity_conflict.

Writes into DIR:
  hr_schema.sql, grid_schema.sql   the demo DDL (from gen_city.py), empty tables
  hr_index.sql                     the demo's indexes, to create after loading
  <table>.tsv                      COPY text-format data for yl_ryxx, yl_ffmx,
                                   sb_jfjs, wg_jmxx, wg_sjsb (load with
                                   COPY <table> (<columns>) FROM STDIN)
  copy.list                        "<db> <table> <columns>" per data file
  civil.db                         civil affairs SQLite, text columns in GBK
  psb.json, psb.token              public security data for psb_server.py
  scale.json                       row counts and the planted alert count per
                                   rule (the oracle for a sanity check)
Same seed and N, same bytes. Python stdlib only.
"""
import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "demo"))
import gen_city  # noqa: E402  (the demo generator: schemas, helpers)

MONTHS = gen_city.ALL_MONTHS                 # 2024-01 .. 2025-06, 18 months
REGIONS = ["420502", "420502", "420503", "420503", "420504", "420106"]
CELLS_PER_REGION = 400
SURNAMES = gen_city.SURNAMES
GIVEN = gen_city.GIVEN
EMPLOYERS = gen_city.EMPLOYERS
ROADS = gen_city.ROADS
DISTRICTS = gen_city.DISTRICTS

# Columns written per table: the order of the .tsv fields.
HR_COLS = {
    "yl_ryxx": ["grbh", "sfzhm", "xm", "xb", "csrq", "ltxrq", "zt"],
    "yl_ffmx": ["lsh", "grbh", "sfzhm", "xm", "ffny", "ffje", "ffrq"],
    "sb_jfjs": ["lsh", "sfzhm", "xm", "jfny", "jfjs", "dwmc"],
}
GRID_COLS = {
    "wg_jmxx": ["jmbh", "sfzhm", "xm", "xb", "csrq", "qhdm", "wgbm", "hh", "jzdz"],
    "wg_sjsb": ["sjbh", "sjlx", "sfzhm", "xm", "csrq", "fsrq", "wgbm", "ms", "sbr"],
}


def ym6(p):
    return "%04d%02d" % p


def ym(p):
    return "%04d-%02d" % p


def yuan(fen):
    return "%d.%02d" % (fen // 100, fen % 100)


class Scale:
    """The generator's state. Rows of the big tables go straight to files; the
    small sides (civil, PSB) are kept in lists and written at the end."""

    def __init__(self, n, seed, out):
        self.n = n
        self.rng = random.Random(seed)
        self.out = out
        self.slots = {}                      # (region, yyyymmdd) -> ids issued
        self.files = {}
        self.counts = {}
        self.planted = {r: 0 for r in gen_city.RULE_PREFIX}
        self.seq = {}
        self.hhdj, self.dbaj, self.jtcy, self.jzff = [], [], [], []
        self.deaths, self.vehicles, self.custody = [], [], []
        self.grid_deaths = 0

    def next(self, what):
        v = self.seq.get(what, 0) + 1
        self.seq[what] = v
        return v

    # ---- output

    def open_tables(self):
        for t in list(HR_COLS) + list(GRID_COLS):
            self.files[t] = open(os.path.join(self.out, t + ".tsv"), "w", encoding="utf-8", newline="\n")
            self.counts[t] = 0

    def row(self, table, vals):
        """vals in the table's column order; None or '' is written as NULL."""
        self.files[table].write("\t".join("\\N" if v is None or v == "" else v for v in vals) + "\n")
        self.counts[table] += 1

    def close_tables(self):
        for f in self.files.values():
            f.close()

    # ---- persons

    def new_person(self, region, born):
        rng = self.rng
        y = rng.randint(*born)
        birth = dt.date(y, rng.randint(1, 12), rng.randint(1, 28))
        sex = rng.choice("MF")
        b8 = birth.strftime("%Y%m%d")
        key = (region, b8)
        k = self.slots.get(key, 0)
        if k >= 500:
            return None                      # this birth date is full here; caller retries
        self.slots[key] = k + 1
        first17 = "%s%s%03d" % (region, b8, k * 2 + (1 if sex == "M" else 0))
        pid = first17 + gen_city.check_char(first17)
        g = rng.choice(GIVEN)
        if rng.random() < 0.6:
            g += rng.choice(GIVEN)
        return dict(id=pid, name=rng.choice(SURNAMES) + g, sex=sex, birth=birth, b8=b8, region=region)

    def grid_row(self, p, cell, hh, addr, id_form=None):
        p["jmbh"] = "JM%08d" % self.next("jm")
        self.row("wg_jmxx", [p["jmbh"], id_form or p["id"], p["name"], "1" if p["sex"] == "M" else "2",
                             p["b8"], p["region"], cell, hh, addr])

    # ---- HR

    def other_name(self, p):
        """p's name with its last character changed: a typing slip another
        department made (never the same character, never a folding variant)."""
        last = p["name"][-1]
        return p["name"][:-1] + self.rng.choice([c for c in GIVEN if c != last])

    def pensioner(self, p, last=MONTHS[-1], alias_month=None):
        grbh = "YL%08d" % self.next("grbh")
        rng = self.rng
        base = rng.randint(1900, 4800) * 100 + rng.choice([0, 0, 50, 20, 80])
        raised = base + base * 2 // 100
        self.row("yl_ryxx", [grbh, p["id"], p["name"], "1" if p["sex"] == "M" else "2", p["birth"].isoformat(),
                             "%04d-%02d-01" % (p["birth"].year + 60, p["birth"].month), "正常"])
        y0, y1 = yuan(base), yuan(raised)
        for per in MONTHS:
            if per > last:
                break
            self.row("yl_ffmx", [str(self.next("lsh")), grbh, p["id"],
                                 alias_month[1] if alias_month and alias_month[0] == per else p["name"], ym6(per),
                                 y0 if per < (2025, 1) else y1, "%04d-%02d-15" % per])

    def wages(self, p, monthly_fen, employer=None, name=None):
        employer = employer or self.rng.choice(EMPLOYERS)
        for per in MONTHS:
            fen = monthly_fen + (monthly_fen // 20 if per >= (2025, 1) else 0)
            self.row("sb_jfjs", [str(self.next("jf")), p["id"], name or p["name"], ym6(per), yuan(fen), employer])

    # ---- deaths

    def death_date(self, first=(2024, 2), last=(2025, 5)):
        per = self.rng.choice([m for m in MONTHS if first <= m <= last])
        return dt.date(per[0], per[1], self.rng.randint(1, 28))

    def psb_death(self, p, d, revoked=False):
        self.deaths.append(dict(hzbh="HZ%08d" % self.next("hz"), gmsfhm=p["id"], xm=p["name"], csrq=p["b8"],
                                swrq=d.strftime("%Y%m%d"), zxyy="死亡", hfbz="1" if revoked else "0",
                                djjg="宜昌市公安局%s分局" % DISTRICTS[p["region"]]))

    def cremation(self, p, d):
        self.hhdj.append(dict(hhbh="HH%08d" % self.next("hh_"), sfzhm=p["id"], xm=p["name"],
                              swrq=d.strftime("%Y%m%d"), hhrq=(d + dt.timedelta(days=3)).isoformat(),
                              bygmc="宜昌市殡仪馆"))

    def grid_report(self, p, cell, d, sjlx="死亡"):
        self.row("wg_sjsb", ["SJ%08d" % self.next("sj"), sjlx, p["id"], p["name"], p["b8"], d.isoformat(), cell,
                             "网格员入户走访获悉" if sjlx == "死亡" else "日常走访事项",
                             "网格员" + self.rng.choice(SURNAMES)])

    def die(self, p, cell, d, authoritative_only=False):
        """Records p's death: deregistration (half, some also cremated), else a
        cremation, else (unless authoritative_only) only a grid report."""
        r = self.rng.random()
        if r < 0.5:
            self.psb_death(p, d)
            if self.rng.random() < 0.4:
                self.cremation(p, d)
        elif r < 0.8 or authoritative_only:
            self.cremation(p, d)
        else:
            self.grid_report(p, cell, d)
            self.grid_deaths += 1

    # ---- public security

    def vehicle(self, p, hpzl, djrq):
        rng = self.rng
        self.vehicles.append(dict(xh="CL%08d" % self.next("cl"), hpzl=hpzl,
                                  hphm="鄂E%s%04d" % (rng.choice("ABCDEFGHJK"), rng.randrange(10000)),
                                  clsbdh="LSV%s%08d" % (rng.choice("ABCDEFGH"), rng.randrange(10 ** 8)),
                                  syr=p["id"], djrq=djrq, zxrq=""))

    def custody_rec(self, p, lx, ksrq, jsrq=""):
        self.custody.append(dict(jybh="JY%08d" % self.next("jy"), gmsfhm=p["id"], xm=p["name"], lx=lx,
                                 ksrq=ksrq, jsrq=jsrq, jycs="宜昌市监狱" if lx == "服刑" else "宜昌市拘留所"))

    # ---- civil affairs

    def case(self, members, region):
        """members: [(person, cell)]. One case with the household's members and
        its monthly payments; a planted anomaly for some cases."""
        rng = self.rng
        jzlb = "低保" if rng.random() < 0.85 else "特困"
        ajbh = "%s%s%06d" % ("DB" if jzlb == "低保" else "TK", region, self.next("aj" + region))
        start = dt.date(rng.choice([2021, 2022, 2023, 2023]), rng.randint(1, 12), rng.randint(1, 28))
        self.dbaj.append((ajbh, jzlb, region, (start - dt.timedelta(days=20)).isoformat(), "在保"))
        monthly = len(members) * rng.randint(55, 75) * 1000
        pay_last = MONTHS[-1]
        tcrq = {}
        r = rng.random()
        if r < 0.03:        # hidden wages of one member in every month: 3000-6000 yuan
            p = members[0][0]
            self.wages(p, rng.randint(4000, 6000) * 100 * len(members) // 2 + 100000)
            self.planted["assistance_hidden_income"] += 1
        elif r < 0.05:      # a car registered to a member
            self.vehicle(members[-1][0], "02", "%04d%02d%02d" % (rng.randint(2015, 2023), rng.randint(1, 12),
                                                                  rng.randint(1, 28)))
            self.planted["assistance_hidden_assets"] += 1
        elif r < 0.07:      # a member died and stays enrolled; the case is paid on
            p, cell = members[-1]
            self.die(p, cell, self.death_date(last=(2025, 4)), authoritative_only=True)
            self.planted["assistance_deceased_member"] += 1
        elif r < 0.08:      # a member died and left the case on the day: silent
            p, cell = members[-1]
            d = self.death_date(last=(2025, 4))
            self.die(p, cell, d, authoritative_only=True)
            tcrq[p["id"]] = d
            if len(members) == 1:
                pay_last = (d.year, d.month)
        for i, (p, _cell) in enumerate(members):
            self.jtcy.append(("CY%08d" % self.next("cy"), ajbh, p["id"], p["name"],
                              "本人" if i == 0 else rng.choice(["配偶", "子女", "父母"]),
                              "%d/%d/%d" % (start.year, start.month, start.day),
                              ("%d/%d/%d" % (tcrq[p["id"]].year, tcrq[p["id"]].month, tcrq[p["id"]].day))
                              if p["id"] in tcrq else "", region))
        payee = members[0][0]["id"]
        for per in MONTHS:
            if per > pay_last:
                break
            self.jzff.append(("FF%08d" % self.next("ff"), ajbh, payee, ym(per), yuan(monthly)))

    # ---- the city

    def generate(self):
        rng = self.rng
        made = 0
        workers_seen = 0
        while made < self.n:
            region = rng.choice(REGIONS)
            cell = "%s%03d%03d" % (region, 1 + rng.randrange(CELLS_PER_REGION) // 20, rng.randrange(20))
            hh = "%s%05d" % (cell, self.next("hh" + cell))
            k = self.next("addr")
            addr = "湖北省%s市%s%s%d号%d栋%d室" % ("武汉" if region == "420106" else "宜昌", DISTRICTS[region],
                                            ROADS[k % len(ROADS)], 1 + k % 97, 1 + k % 12, 101 + k % 600)
            size = min(rng.choice([1, 2, 2, 3, 3, 4]), self.n - made)
            is_case = rng.random() < 0.025
            members = []
            for _ in range(size):
                pensioner = not is_case and rng.random() < 0.25
                p = None
                while p is None:
                    p = self.new_person(region, (1935, 1963) if pensioner else (1964, 2005))
                made += 1
                if is_case:
                    self.grid_row(p, cell, hh, addr)
                    members.append((p, cell))
                    continue
                if pensioner:
                    self.person_pensioner(p, cell, hh, addr)
                    continue
                # an ordinary working-age or young resident
                r = rng.random()
                id_form = None
                if r < 0.002 and p["id"].endswith("X"):
                    id_form = p["id"][:17] + "x"
                elif r < 0.003:
                    id_form = p["id"][:6] + " " + p["id"][6:14] + " " + p["id"][14:]
                elif r < 0.004:
                    id_form = gen_city.fullwidth_digits(p["id"])
                elif r < 0.0042:
                    id_form = p["id"][:17] + ("1" if p["id"][17] != "1" else "2")  # quarantined
                self.grid_row(p, cell, hh, addr, id_form)
                r = rng.random()
                if r < 0.002:
                    self.die(p, cell, self.death_date())
                    continue
                if r < 0.0022:
                    self.psb_death(p, self.death_date(), revoked=True)   # registration restored
                elif r < 0.0025:
                    self.custody_rec(p, rng.choice(["拘留", "服刑"]), "20240910", "20240920")
                elif r < 0.0035:
                    self.grid_report(p, cell, self.death_date(), sjlx=rng.choice(["矛盾纠纷", "安全隐患", "环境卫生"]))
                if p["birth"].year <= 2001:
                    workers_seen += 1
                    if rng.random() < 0.11:
                        other = None
                        if rng.random() < 0.002:    # data quality: HR has another name
                            other = self.other_name(p)
                            self.planted["identity_conflict"] += 1
                        self.wages(p, rng.randint(35, 150) * 10000, name=other)
                    if rng.random() < 0.006:
                        self.vehicle(p, rng.choice(["02", "02", "02", "01", "07", "08"]),
                                     "%04d%02d%02d" % (rng.randint(2012, 2024), rng.randint(1, 12),
                                                       rng.randint(1, 28)))
            if members:
                self.case(members, region)

    def person_pensioner(self, p, cell, hh, addr):
        rng = self.rng
        self.grid_row(p, cell, hh, addr)
        r = rng.random()
        if r < 0.032:                        # dies; pension stops in the month of death
            d = self.death_date()
            paid_on = rng.random() < 0.1     # ... or goes on being paid
            self.pensioner(p, last=MONTHS[-1] if paid_on else (d.year, d.month))
            self.die(p, cell, d)
            if paid_on:
                self.planted["pension_after_death"] += 1
        elif r < 0.0325:                     # imprisoned from mid-2024, ongoing
            self.pensioner(p)
            self.custody_rec(p, "服刑", "2024%02d10" % rng.randint(2, 10))
            self.planted["pension_in_custody"] += 1
        elif r < 0.0335:                     # data quality: one payment under another name
            self.pensioner(p, alias_month=(rng.choice(MONTHS), self.other_name(p)))
            self.planted["identity_conflict"] += 1
        else:
            self.pensioner(p)

    # ---- writers

    def write_schemas(self):
        empty = gen_city.City(0)
        hr = os.path.join(self.out, "hr_schema.sql")
        gen_city.write_hr(empty, hr)
        with open(hr, encoding="utf-8") as f:
            text = f.read()
        index = [ln for ln in text.splitlines() if ln.startswith("CREATE INDEX")]
        with open(hr, "w", encoding="utf-8") as f:
            f.write("\n".join(ln for ln in text.splitlines() if not ln.startswith("CREATE INDEX")) + "\n")
        with open(os.path.join(self.out, "hr_index.sql"), "w", encoding="utf-8") as f:
            f.write("\n".join(index) + "\n")
        gen_city.write_grid(empty, os.path.join(self.out, "grid_schema.sql"))
        with open(os.path.join(self.out, "copy.list"), "w", encoding="utf-8") as f:
            for t, cols in HR_COLS.items():
                f.write("hr %s %s\n" % (t, ",".join(cols)))
            for t, cols in GRID_COLS.items():
                f.write("grid %s %s\n" % (t, ",".join(cols)))

    def write_civil(self):
        path = os.path.join(self.out, "civil.db")
        gen_city.write_civil(gen_city.City(0), path)      # the demo schema, empty
        db = sqlite3.connect(path)
        g = lambda s: s.encode("gbk")                      # noqa: E731  GBK bytes, as the demo stores them
        with db:
            db.executemany("INSERT INTO mz_dbaj (ajbh, jzlb, qhdm, sqrq, zt) VALUES (?, CAST(? AS TEXT), ?, ?, "
                           "CAST(? AS TEXT))", ((a, g(b), c, d, g(e)) for a, b, c, d, e in self.dbaj))
            db.executemany("INSERT INTO mz_jtcy (cybh, ajbh, sfzhm, xm, yhzgx, nsrq, tcrq, qhdm) VALUES "
                           "(?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?)",
                           ((a, b, c, g(d), g(e), f, h, i) for a, b, c, d, e, f, h, i in self.jtcy))
            db.executemany("INSERT INTO mz_jzff (ffbh, ajbh, sfzhm, ffny, ffje) VALUES (?, ?, ?, ?, ?)", self.jzff)
            db.executemany("INSERT INTO mz_hhdj (hhbh, sfzhm, xm, swrq, hhrq, bygmc) VALUES "
                           "(?, ?, CAST(? AS TEXT), ?, ?, CAST(? AS TEXT))",
                           ((r["hhbh"], r["sfzhm"], g(r["xm"]), r["swrq"], r["hhrq"], g(r["bygmc"]))
                            for r in self.hhdj))
        db.close()

    def write_psb(self):
        city = gen_city.City(self.rng.randrange(2 ** 31))
        city.deaths, city.vehicles, city.custody = self.deaths, self.vehicles, self.custody
        gen_city.write_psb(city, self.out)

    def write_meta(self, seconds):
        counts = dict(self.counts)
        counts.update(mz_dbaj=len(self.dbaj), mz_jtcy=len(self.jtcy), mz_jzff=len(self.jzff),
                      mz_hhdj=len(self.hhdj), psb_deaths=len(self.deaths), psb_vehicles=len(self.vehicles),
                      psb_custody=len(self.custody), grid_death_reports=self.grid_deaths)
        meta = {"generated_by": "scripts/bench/gen_scale.py", "residents": self.n, "counts": counts,
                "planted": self.planted, "generation_seconds": round(seconds, 1)}
        with open(os.path.join(self.out, "scale.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
            f.write("\n")
        return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--residents", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    if args.residents < 100:
        ap.error("--residents must be at least 100")
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    s = Scale(args.residents, args.seed, args.out)
    s.write_schemas()
    s.open_tables()
    try:
        s.generate()
    finally:
        s.close_tables()
    s.write_civil()
    s.write_psb()
    meta = s.write_meta(time.monotonic() - t0)
    c = meta["counts"]
    print("gen_scale: %d residents, %d pension payments, %d contribution rows, %d cases, %d deregistrations, "
          "%d cremations; planted %s; %.1fs -> %s"
          % (c["wg_jmxx"], c["yl_ffmx"], c["sb_jfjs"], c["mz_dbaj"], c["psb_deaths"], c["mz_hhdj"],
             ", ".join("%s %d" % kv for kv in sorted(meta["planted"].items()) if kv[1]),
             meta["generation_seconds"], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

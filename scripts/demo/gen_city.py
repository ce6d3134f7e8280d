#!/usr/bin/env python3
"""gen_city.py - generates the demo city: four department systems in their own
native schemas, plus the oracle of what was planted.

    gen_city.py --out DIR [--seed N]

Writes into DIR:
  hr.sql       HR / social security (PostgreSQL): yl_ryxx pensioner register,
               yl_ffmx monthly pension payments, sb_jfjs contribution bases
               (wages), yl_ycyj alert inbox the gateway pushes into.
  grid.sql     grid database (PostgreSQL): wg_jmxx residents, wg_sjsb grid-worker
               event reports (incl. deaths), wg_hcrw verification tasks.
  civil.db     civil affairs (SQLite, text columns hold GBK bytes): mz_dbaj cases,
               mz_jtcy members, mz_jzff payments (with the payee's id), mz_ajff
               payments to the household case (no id), mz_hhdj cremations,
               mz_yjxx inbox.
  psb.json     public security data served by psb_server.py (deaths, vehicles,
               custody); psb.token the bearer token (mode 0600).
  expected.json the oracle: every planted alert (rule, subject, id, amount in
               fen, confidence, periods), the controls that must stay silent and
               the records that must be quarantined. Written from what was
               planted here, never from gateway output.

All data lies in 2024-01 .. 2025-06 and every date is fixed, so the result does
not depend on today's date. Same seed, same bytes. Python stdlib only.
"""
import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import sys

FIRST_MONTH = (2024, 1)
LAST_MONTH = (2025, 6)

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
RULE_PREFIX = {
    "pension_after_death": "PAD", "assistance_hidden_income": "AHI",
    "assistance_hidden_assets": "AHA", "assistance_deceased_member": "ADM",
    "pension_in_custody": "PIC", "duplicate_assistance": "DUP",
    "identity_conflict": "IDC",
}
DISTRICTS = {"420502": "西陵区", "420503": "伍家岗区", "420504": "点军区", "420106": "武昌区"}
ROADS = ["夷陵大道", "东山大道", "沿江大道", "胜利四路", "解放路", "城东大道", "江南大道", "中南路"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华玉兰桂萍红平刚建国海霞燕飞鹏辉斌宇浩凯婷雪琳晨欣波宁莉琴云春梅红亮")
EMPLOYERS = ["宜昌市第一人民医院", "湖北宜化集团有限责任公司", "宜昌港务集团", "三峡大学", "宜昌市西陵区城市管理局",
             "宜昌兴发物流有限公司", "宜昌东山商贸有限公司", "宜昌市伍家岗区实验小学"]


# ---------------------------------------------------------------- helpers

def check_char(first17):
    """ISO 7064 MOD 11-2 check character of GB 11643."""
    s = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS))
    return "10X98765432"[s % 11]


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def alert_id(rule, subject):
    """Same as alert_make_id() in gateway/src/alerts/alert.c."""
    return "%s-%016x" % (RULE_PREFIX[rule], fnv1a64((rule + "|" + subject).encode("utf-8")))


def months(first, last):
    y, m = first
    out = []
    while (y, m) <= last:
        out.append((y, m))
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


ALL_MONTHS = months(FIRST_MONTH, LAST_MONTH)


def ym(p):
    return "%04d-%02d" % p


def ym6(p):
    return "%04d%02d" % p


def month_of(d):
    return (d.year, d.month)


def yuan(fen):
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return "%s%d.%02d" % (sign, fen // 100, fen % 100)


def slash_date(d):
    return "%d/%d/%d" % (d.year, d.month, d.day)


def D(s):
    return dt.date.fromisoformat(s)


def fullwidth_digits(s):
    return "".join(chr(ord(c) - 0x30 + 0xFF10) if c.isdigit() else c for c in s)


# ---------------------------------------------------------------- the city

class Person:
    def __init__(self, pid, name, sex, birth, region):
        self.id = pid          # 18-char canonical id
        self.name = name       # canonical (simplified) name
        self.sex = sex         # 'M'/'F'
        self.birth = birth     # date
        self.region = region
        self.grid = None       # grid cell when registered in the grid database
        self.jmbh = None
        self.role = "noise"    # planted persons get a role; noise persons stay "noise"


class City:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.persons = []
        self.ids = set()
        self.name_birth = set()
        self.cells = {r: ["%s%03d%03d" % (r, st, c) for st in (1, 2) for c in (1, 2)] for r in DISTRICTS}
        self.households = {}
        self.seq = {}
        # native tables
        self.ryxx, self.ffmx, self.jfjs = [], [], []
        self.jmxx, self.sjsb = [], []
        self.dbaj, self.jtcy, self.jzff, self.hhdj = [], [], [], []
        self.ajff = []      # payments to the household case, without an id (mz_ajff)
        self.deaths, self.vehicles, self.custody = [], [], []
        # oracle
        self.alerts, self.controls, self.quarantine = [], [], []
        self.warnings = []  # log lines a run must write: {"source", "contains"}
        # indexes
        self.pension = {}   # id -> {period: [fen,...]}
        self.case_pay = {}  # ajbh -> {period: fen}

    def next(self, what):
        self.seq[what] = self.seq.get(what, 0) + 1
        return self.seq[what]

    # ---- persons

    def new_id(self, region, birth, sex):
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
            first17 = "%s%s%03d" % (region, birth.strftime("%Y%m%d"), seq)
            pid = first17 + check_char(first17)
            if pid not in self.ids:
                self.ids.add(pid)
                return pid

    def new_name(self, sex):
        g = self.rng.choice(GIVEN)
        if self.rng.random() < 0.6:
            g += self.rng.choice(GIVEN)
        return self.rng.choice(SURNAMES) + g

    def person(self, region=None, born=(1940, 2000), sex=None, name=None, birth=None, role="noise"):
        region = region or self.rng.choice(["420502", "420503", "420504"])
        sex = sex or self.rng.choice("MF")
        while True:
            if birth is None:
                y = self.rng.randint(*born)
                b = dt.date(y, self.rng.randint(1, 12), self.rng.randint(1, 28))
            else:
                b = birth
            n = name or self.new_name(sex)
            if (n, b) not in self.name_birth or role == "homonym":
                break
            if name is not None and birth is not None:
                raise SystemExit("gen_city: planted name+birth clash: %s" % n)
        self.name_birth.add((n, b))
        p = Person(self.new_id(region, b, sex), n, sex, b, region)
        p.role = role
        self.persons.append(p)
        return p

    def household_of(self, p, hh=None):
        """Registers p in the grid database (wg_jmxx) in a household."""
        if hh is None:
            cell = self.rng.choice(self.cells[p.region])
            hh = "%s%04d" % (cell, self.next("hh" + cell))
            self.households[hh] = cell
        p.grid = self.households[hh]
        p.hh = hh
        return hh

    def grid_row(self, p, id_form=None, name=None, csrq=None):
        p.jmbh = "JM%06d" % self.next("jm")
        n = self.next("addr")
        addr = "湖北省宜昌市%s%s%d号%d栋%d室" % (DISTRICTS[p.region], ROADS[n % len(ROADS)], 1 + n % 97,
                                          1 + n % 12, 101 + n % 600)
        if p.region == "420106":
            addr = addr.replace("宜昌市", "武汉市")
        self.jmxx.append(dict(jmbh=p.jmbh, sfzhm=id_form or p.id, xm=name or p.name,
                              xb="1" if p.sex == "M" else "2",
                              csrq=csrq or p.birth.strftime("%Y%m%d"), qhdm=p.region, wgbm=p.grid,
                              hh=p.hh, jzdz=addr))

    # ---- HR

    def pensioner(self, p, first=FIRST_MONTH, last=LAST_MONTH, zt="正常", name=None):
        grbh = "YL%08d" % self.next("grbh")
        base = self.rng.randint(1900, 4800) * 100 + self.rng.choice([0, 0, 50, 20, 80])
        self.ryxx.append(dict(grbh=grbh, sfzhm=p.id, xm=p.name, xb="1" if p.sex == "M" else "2",
                              csrq=p.birth.isoformat(), ltxrq="%04d-%02d-01" % (p.birth.year + 60, p.birth.month),
                              zt=zt))
        pay = self.pension.setdefault(p.id, {})
        for per in months(first, last):
            fen = base if per < (2025, 1) else base + base * 2 // 100  # 2% raise from 2025-01
            pay.setdefault(per, []).append(fen)
            self.ffmx.append(dict(lsh=self.next("lsh"), grbh=grbh, sfzhm=p.id, xm=name or p.name,
                                  ffny=ym6(per), ffje=yuan(fen), ffrq="%04d-%02d-15" % per))

    def pension_sum(self, p, after=None, inside=None):
        """Periods and sum of p's pension payments after month `after` or in `inside`."""
        per, tot = [], 0
        for m, fens in sorted(self.pension[p.id].items()):
            if (after is not None and m > after) or (inside is not None and m in inside):
                per.append(m)
                tot += sum(fens)
        return per, tot

    def wages(self, p, per_fen, employer=None, name=None):
        employer = employer or self.rng.choice(EMPLOYERS)
        for per, fen in sorted(per_fen.items()):
            self.jfjs.append(dict(lsh=self.next("jf"), sfzhm=p.id, xm=name or p.name, jfny=ym6(per),
                                  jfjs=yuan(fen), dwmc=employer))

    # ---- deaths

    def psb_death(self, p, swrq, id_form=None, name=None, csrq=None, revoked=False, zxyy="死亡"):
        ref = "HZ%07d" % self.next("hz")
        self.deaths.append(dict(hzbh=ref, gmsfhm=id_form if id_form is not None else p.id,
                                xm=name or p.name, csrq=csrq or p.birth.strftime("%Y%m%d"),
                                swrq=swrq.replace("-", ""), zxyy=zxyy, hfbz="1" if revoked else "0",
                                djjg="宜昌市公安局%s分局" % DISTRICTS.get(p.region, "")))
        return ref

    def cremation(self, p, swrq, id_form=None):
        ref = "HH%06d" % self.next("hh_")
        d = D(swrq)
        self.hhdj.append(dict(hhbh=ref, sfzhm=id_form if id_form is not None else p.id, xm=p.name,
                              swrq=d.strftime("%Y%m%d"), hhrq=(d + dt.timedelta(days=3)).isoformat(),
                              bygmc="宜昌市殡仪馆"))
        return ref

    def grid_report(self, p, fsrq, id_form=None, sjlx="死亡", ms=None, csrq=None):
        ref = "SJ%06d" % self.next("sj")
        self.sjsb.append(dict(sjbh=ref, sjlx=sjlx, sfzhm=id_form if id_form is not None else p.id,
                              xm=p.name, csrq=csrq or p.birth.strftime("%Y%m%d"), fsrq=fsrq,
                              wgbm=p.grid or "", ms=ms or "网格员入户走访获悉居民%s去世" % p.name[0] + "某",
                              sbr="网格员%s" % self.rng.choice(SURNAMES)))
        return ref

    # ---- civil affairs

    def case(self, jzlb, region, members, monthly_fen, pay_first, pay_last, payee=None, sqrq=None,
             by_case=False):
        """members: [(person, relation, from_date, to_date|None, name_override|None)].
        by_case: paid to the household case (mz_ajff, no id) instead of to a
        member (mz_jzff with the payee's id)."""
        ajbh = "%s%s%04d" % ("DB" if jzlb == "低保" else "TK", region, self.next("aj" + region))
        first_from = min(m[2] for m in members)
        self.dbaj.append(dict(ajbh=ajbh, jzlb=jzlb, qhdm=region,
                              sqrq=(sqrq or first_from - dt.timedelta(days=20)).isoformat(),
                              zt="在保" if any(m[3] is None or m[3] >= dt.date(2025, 6, 30) for m in members) else "停保"))
        for (p, rel, f, t, nm) in members:
            self.jtcy.append(dict(cybh="CY%06d" % self.next("cy"), ajbh=ajbh, sfzhm=p.id, xm=nm or p.name,
                                  yhzgx=rel, nsrq=slash_date(f), tcrq=slash_date(t) if t else "", qhdm=region))
        payee = payee or members[0][0]
        pays = self.case_pay.setdefault(ajbh, {})
        for per in months(pay_first, pay_last):
            pays[per] = monthly_fen
            if by_case:
                self.ajff.append(dict(ffbh="AF%07d" % self.next("af"), ajbh=ajbh, ffny=ym(per),
                                      ffje=yuan(monthly_fen)))
                continue
            self.jzff.append(dict(ffbh="FF%07d" % self.next("ff"), ajbh=ajbh, sfzhm=payee.id,
                                  ffny=ym(per), ffje=yuan(monthly_fen)))
        return ajbh

    def case_sum(self, ajbh, pers):
        pers = sorted(p for p in pers if p in self.case_pay[ajbh])
        return pers, sum(self.case_pay[ajbh][p] for p in pers)

    # ---- public security

    def vehicle(self, owner_id, hpzl, djrq, zxrq=None):
        ref = "CL%06d" % self.next("cl")
        vin = "LSV%s%08d" % (self.rng.choice("ABCDEFGH"), self.rng.randrange(10 ** 8))
        plate = "鄂E%s%04d" % (self.rng.choice("ABCDEFGHJK"), self.rng.randrange(10000))
        self.vehicles.append(dict(xh=ref, hpzl=hpzl, hphm=plate, clsbdh=vin, syr=owner_id,
                                  djrq=djrq.replace("-", ""), zxrq=(zxrq or "").replace("-", "")))
        return ref

    def custody_rec(self, p, lx, ksrq, jsrq=None):
        ref = "JY%06d" % self.next("jy")
        self.custody.append(dict(jybh=ref, gmsfhm=p.id, xm=p.name, lx=lx, ksrq=ksrq,
                                 jsrq=jsrq or "", jycs="宜昌市监狱" if lx == "服刑" else "宜昌市拘留所"))
        return ref

    # ---- oracle

    def expect(self, rule, subject, amount, confidence, periods, grid=None, note=""):
        a = dict(rule=rule, subject=subject, id=alert_id(rule, subject), amount=amount,
                 confidence=confidence, periods=[ym(p) for p in periods], note=note)
        if grid is not None:
            a["grid"] = grid
        self.alerts.append(a)

    def control(self, rule, subject, why):
        self.controls.append(dict(rule=rule, subject=subject, id=alert_id(rule, subject), why=why))


# ---------------------------------------------------------------- planting

def plant_pension_after_death(c):
    R = "pension_after_death"

    def pensioner(**kw):
        p = c.person(born=(1935, 1958), role="pad", **kw)
        c.household_of(p)
        return p

    # P1: deregistered in May, paid on: overpaid from June (a cremation 3 days later).
    p = pensioner(); c.grid_row(p); c.pensioner(p)
    c.psb_death(p, "2024-05-20"); c.cremation(p, "2024-05-20")
    per, tot = c.pension_sum(p, after=(2024, 5))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="deregistered 2024-05-20, paid on")

    # P2: died in the month of the last payment: the month of death is payable.
    p = pensioner(); c.grid_row(p); c.pensioner(p, last=(2024, 8))
    c.psb_death(p, "2024-08-15")
    c.control(R, "person:" + p.id, "death in the month of the last payment")

    # P3: deregistration later revoked (户口恢复): alive, no alert.
    p = pensioner(); c.grid_row(p); c.pensioner(p)
    c.psb_death(p, "2024-04-02", revoked=True, zxyy="死亡(误报)")
    c.control(R, "person:" + p.id, "death registration revoked")

    # P4a/P4b: homonyms (same name, same birth date, different ids). Only P4a died;
    # a grid report without an id fits both, so it must link to neither.
    p4a = pensioner()
    p4b = c.person(region=p4a.region, name=p4a.name, birth=p4a.birth, sex=p4a.sex, role="homonym")
    c.household_of(p4b)
    for q in (p4a, p4b):
        c.grid_row(q); c.pensioner(q)
    c.psb_death(p4a, "2024-07-09")
    c.grid_report(p4b, "2024-07-09", id_form="")
    per, tot = c.pension_sum(p4a, after=(2024, 7))
    c.expect(R, "person:" + p4a.id, tot, "high", per, grid=p4a.grid, note="homonym: only this one died")
    c.control(R, "person:" + p4b.id, "homonym of a deceased pensioner; an id-less report fits both")

    # P5: the grid database still holds the legacy 15-digit number.
    p = c.person(born=(1936, 1950), role="pad")
    c.household_of(p)
    id15 = p.id[:6] + p.id[8:17]
    c.grid_row(p, id_form=id15); c.pensioner(p)
    c.psb_death(p, "2024-11-30")
    per, tot = c.pension_sum(p, after=(2024, 11))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="15-digit id in the grid")

    # P6: cremation record only; not registered in the grid (task goes to 未分配).
    p = c.person(born=(1935, 1958), role="pad")
    c.pensioner(p); c.cremation(p, "2024-09-03")
    per, tot = c.pension_sum(p, after=(2024, 9))
    c.expect(R, "person:" + p.id, tot, "high", per, grid="", note="cremation only, not in grid")

    # P7: only a grid worker's report: low.
    p = pensioner(); c.grid_row(p); c.pensioner(p)
    c.grid_report(p, "2024-10-12")
    per, tot = c.pension_sum(p, after=(2024, 10))
    c.expect(R, "person:" + p.id, tot, "low", per, grid=p.grid, note="grid report only")

    # P8: the deregistration has a mistyped id (bad check char): links by name+birth, low.
    p = pensioner(); c.grid_row(p); c.pensioner(p)
    bad = p.id[:17] + ("0" if p.id[17] != "0" else "1")
    ref = c.psb_death(p, "2024-12-28", id_form=bad)
    per, tot = c.pension_sum(p, after=(2024, 12))
    c.expect(R, "person:" + p.id, tot, "low", per, grid=p.grid, note="death id invalid, name+birth link")
    c.quarantine.append(dict(source="psb", ref=ref, reason_contains="check"))

    # P9: the deregistration writes the name in traditional characters.
    p = pensioner(name="刘建华", sex="M"); c.grid_row(p); c.pensioner(p)
    c.psb_death(p, "2024-06-18", name="劉建華")
    per, tot = c.pension_sum(p, after=(2024, 6))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="traditional name variant")

    # P10: a different name for the same id: medium, plus identity_conflict.
    p = pensioner(name="李桂兰", sex="F"); c.grid_row(p); c.pensioner(p)
    c.psb_death(p, "2024-03-05", name="李贵兰")
    per, tot = c.pension_sum(p, after=(2024, 3))
    c.expect(R, "person:" + p.id, tot, "medium", per, grid=p.grid, note="name conflict")
    c.expect("identity_conflict", "person:" + p.id, 0, "high", [], note="name conflict 李桂兰/李贵兰")

    # P11: minority name, three middle-dot encodings across sources.
    p = pensioner(name="买买提·艾力", sex="M"); c.grid_row(p); c.pensioner(p, name="买买提•艾力")
    c.psb_death(p, "2025-02-14", name="买买提・艾力")
    per, tot = c.pension_sum(p, after=(2025, 2))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="middle-dot variants")

    # P12: the deregistration states a wrong birth date: identity_conflict only,
    # the pension alert stays high.
    p = pensioner(); c.grid_row(p); c.pensioner(p)
    c.psb_death(p, "2024-09-22", csrq=(p.birth + dt.timedelta(days=1)).strftime("%Y%m%d"))
    per, tot = c.pension_sum(p, after=(2024, 9))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="birth-date conflict does not lower")
    c.expect("identity_conflict", "person:" + p.id, 0, "high", [], note="birth date conflict")

    # P13: register status 终止 (payments stopped, moved away): not a death.
    p = pensioner(); c.grid_row(p); c.pensioner(p, last=(2024, 9), zt="终止")
    c.control(R, "person:" + p.id, "register status 终止 is not a death")


def plant_custody(c):
    R = "pension_in_custody"

    def pensioner():
        p = c.person(born=(1950, 1962), role="pic")
        c.household_of(p); c.grid_row(p); c.pensioner(p)
        return p

    # imprisonment mid-March .. mid-November: April..October are whole months inside.
    p = pensioner(); c.custody_rec(p, "服刑", "20240315", "20241120")
    per, tot = c.pension_sum(p, inside=set(months((2024, 4), (2024, 10))))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="edge months excluded")
    # imprisonment from the first of February, ongoing.
    p = pensioner(); c.custody_rec(p, "服刑", "20250201")
    per, tot = c.pension_sum(p, inside=set(months((2025, 2), LAST_MONTH)))
    c.expect(R, "person:" + p.id, tot, "high", per, grid=p.grid, note="ongoing, from the 1st")
    p = pensioner(); c.custody_rec(p, "拘留", "20240601", "20240615")
    c.control(R, "person:" + p.id, "detention, not imprisonment")
    p = pensioner(); c.custody_rec(p, "服刑", "20220501", "20231031")
    c.control(R, "person:" + p.id, "custody ended before the paid months")


def family(c, region, n, born=(1950, 2005)):
    """n persons of one new household in region, registered in the grid."""
    out = []
    hh = None
    for _ in range(n):
        p = c.person(region=region, born=born, role="case")
        hh = c.household_of(p, hh)
        c.grid_row(p)
        out.append(p)
    return out


def plant_assistance(c):
    E = dt.date(2025, 6, 30)
    S = dt.date(2024, 1, 1)
    END = LAST_MONTH

    # ---- assistance_hidden_income (standard 800.00; 4201xx: 950.00 yuan per person-month)
    R = "assistance_hidden_income"
    h, s = family(c, "420502", 2)
    aj = c.case("低保", "420502", [(h, "本人", S, E, None), (s, "配偶", S, E, None)], 126000, FIRST_MONTH, END)
    c.wages(s, {m: 230000 for m in months((2024, 3), (2024, 6))})
    per, tot = c.case_sum(aj, months((2024, 3), (2024, 6)))
    c.expect(R, "case:" + aj, tot, "high", per, note="4 months above 2 x 800")

    h, s = family(c, "420503", 2)
    aj = c.case("低保", "420503", [(h, "本人", S, E, None), (s, "子女", S, E, None)], 118000, FIRST_MONTH, END)
    w = {m: 150000 for m in months((2024, 1), (2024, 12))}
    w[(2024, 5)] = w[(2024, 6)] = 170000
    c.wages(s, w)
    c.control(R, "case:" + aj, "above the standard in only 2 months")

    a, b, lv = family(c, "420504", 3)
    aj = c.case("低保", "420504", [(a, "本人", S, E, None), (b, "配偶", S, E, None),
                                  (lv, "子女", S, dt.date(2024, 4, 30), None)], 171000, FIRST_MONTH, END)
    c.wages(lv, {m: 400000 for m in months((2024, 5), END)})
    c.control(R, "case:" + aj, "income only after the earner left the case")

    (p,) = family(c, "420106", 1)
    aj = c.case("低保", "420106", [(p, "本人", S, E, None)], 95000, FIRST_MONTH, END)
    c.wages(p, {m: 90000 for m in months((2024, 7), (2024, 12))})
    c.control(R, "case:" + aj, "900.00 is above the default but not the 4201 standard")

    (p,) = family(c, "420106", 1)
    aj = c.case("特困", "420106", [(p, "本人", S, E, None)], 102000, FIRST_MONTH, END)
    c.wages(p, {m: 100000 for m in months((2025, 1), (2025, 3))})
    per, tot = c.case_sum(aj, months((2025, 1), (2025, 3)))
    c.expect(R, "case:" + aj, tot, "high", per, note="regional standard 950.00 exceeded 3 months")

    # ---- assistance_hidden_assets
    R = "assistance_hidden_assets"
    h, s = family(c, "420502", 2)
    aj = c.case("低保", "420502", [(h, "本人", S, E, None), (s, "配偶", S, E, None)], 124000, FIRST_MONTH, END)
    c.vehicle(s.id, "02", "2024-05-10")
    per, tot = c.case_sum(aj, months((2024, 5), END))
    c.expect(R, "case:" + aj, tot, "high", per, note="car bought during enrollment")

    h, s = family(c, "420503", 2)
    aj = c.case("低保", "420503", [(h, "本人", S, E, None), (s, "配偶", S, E, None)], 116000, FIRST_MONTH, END)
    c.vehicle(h.id, "02", "2021-03-01", "2024-03-20")
    per, tot = c.case_sum(aj, months((2024, 1), (2024, 3)))
    c.expect(R, "case:" + aj, tot, "high", per, note="car sold during enrollment")

    (p,) = family(c, "420504", 1)
    aj = c.case("特困", "420504", [(p, "本人", S, E, None)], 88000, FIRST_MONTH, END)
    c.vehicle(p.id, "07", "2024-02-01")
    c.control(R, "case:" + aj, "motorcycle is exempt")

    (p,) = family(c, "420502", 1)
    aj = c.case("低保", "420502", [(p, "本人", S, E, None)], 82000, FIRST_MONTH, END)
    c.vehicle(p.id, "CJ", "2023-06-01")
    c.control(R, "case:" + aj, "disabled person's vehicle is exempt")

    h, s = family(c, "420503", 2)
    aj = c.case("低保", "420503", [(h, "本人", S, E, None), (s, "配偶", S, E, None)], 119000, FIRST_MONTH, END)
    c.vehicle(h.id, "02", "2019-08-01", "2023-12-15")
    c.control(R, "case:" + aj, "car sold before enrollment")

    # ---- assistance_deceased_member
    R = "assistance_deceased_member"
    h, s = family(c, "420502", 2, born=(1940, 1960))
    aj = c.case("低保", "420502", [(h, "本人", S, None, None), (s, "配偶", S, None, None)], 121000, FIRST_MONTH, END)
    c.psb_death(s, "2024-09-10")
    per, tot = c.case_sum(aj, months((2024, 10), END))
    c.expect(R, "case:%s/person:%s" % (aj, s.id), tot, "high", per, note="member died, enrollment open")

    h, s = family(c, "420504", 2, born=(1940, 1960))
    aj = c.case("低保", "420504", [(h, "本人", S, E, None), (s, "配偶", S, dt.date(2025, 3, 31), None)],
                115000, FIRST_MONTH, END)
    c.cremation(s, "2024-12-05")
    per, tot = c.case_sum(aj, months((2025, 1), (2025, 3)))
    c.expect(R, "case:%s/person:%s" % (aj, s.id), tot, "high", per, note="cremation; removed 3 months late")

    h, s = family(c, "420503", 2, born=(1940, 1960))
    aj = c.case("低保", "420503", [(h, "本人", S, E, None), (s, "父母", S, dt.date(2024, 5, 31), None)],
                117000, FIRST_MONTH, END)
    c.psb_death(s, "2024-08-01")
    c.control(R, "case:%s/person:%s" % (aj, s.id), "member left the case before dying")

    h, s = family(c, "420502", 2, born=(1940, 1960))
    aj = c.case("低保", "420502", [(h, "本人", S, E, None), (s, "配偶", S, E, None)], 114000, FIRST_MONTH, END)
    c.grid_report(s, "2024-11-11")
    c.control(R, "case:%s/person:%s" % (aj, s.id), "death only reported by a grid worker")

    # ---- duplicate_assistance
    R = "duplicate_assistance"
    h, x = family(c, "420502", 2)
    c.case("低保", "420502", [(h, "本人", S, E, None), (x, "子女", S, E, None)], 123000, FIRST_MONTH, END)
    aj_m = c.case("特困", "420503", [(x, "本人", D("2024-07-01"), D("2025-03-31"), None)], 86000,
                  (2024, 7), (2025, 3), payee=x)
    per, tot = c.case_sum(aj_m, months((2024, 7), (2025, 3)))
    c.expect(R, "person:" + x.id, tot, "high", per, grid=x.grid, note="enrolled in two cases")

    h, y = family(c, "420504", 2)
    c.case("低保", "420504", [(h, "本人", S, E, None), (y, "子女", S, D("2024-05-31"), None)], 125000,
           FIRST_MONTH, END)
    c.case("特困", "420503", [(y, "本人", D("2024-06-01"), E, None)], 84000, (2024, 6), END, payee=y)
    c.control(R, "person:" + y.id, "moved from one case to the next without overlap")

    # ---- identity_conflict on a member of an otherwise clean case
    h, s = family(c, "420503", 2)
    s.name = "陈小明"
    c.jmxx[-1]["xm"] = "陈小明"
    aj = c.case("低保", "420503", [(h, "本人", S, E, None), (s, "子女", S, E, "陈晓明")], 113000, FIRST_MONTH, END)
    c.expect("identity_conflict", "person:" + s.id, 0, "high", [], note="civil 陈晓明 vs grid 陈小明")


def plant_noise(c, n_households):
    """Ordinary residents: pensions, wages, vehicles, clean cases, other events."""
    S, E = dt.date(2024, 1, 1), dt.date(2025, 6, 30)
    rng = c.rng
    noise = []
    for _ in range(n_households):
        region = rng.choice(["420502", "420502", "420503", "420503", "420504"])
        size = rng.choice([1, 2, 2, 3, 3, 4])
        hh = None
        for _ in range(size):
            p = c.person(region=region, born=(1932, 2003))
            hh = c.household_of(p, hh)
            noise.append(p)
    # id forms as the grid holds them: lowercase x, inner spaces, full-width digits.
    forms = {}
    xs = [p for p in noise if p.id.endswith("X")][:3]
    for p in xs:
        forms[p.id] = p.id[:17] + "x"
    others = [p for p in noise if p.id not in forms]
    for p in others[:3]:
        forms[p.id] = p.id[:6] + " " + p.id[6:14] + " " + p.id[14:]
    for p in others[3:6]:
        forms[p.id] = fullwidth_digits(p.id)
    # one resident with a mistyped check character (quarantined), one with a wrong
    # stated birth date (identity_conflict).
    typo = others[6]
    forms[typo.id] = typo.id[:17] + ("1" if typo.id[17] != "1" else "2")
    badbirth = others[7]
    for p in noise:
        csrq = None
        if p is badbirth:
            csrq = (p.birth.replace(day=min(p.birth.day + 2, 28)) if p.birth.day < 27
                    else p.birth.replace(day=1)).strftime("%Y%m%d")
        c.grid_row(p, id_form=forms.get(p.id), csrq=csrq)
    c.quarantine.append(dict(source="grid", ref=typo.jmbh, reason_contains="check"))
    c.expect("identity_conflict", "person:" + badbirth.id, 0, "high", [], note="grid birth date != id")
    # one resident no rule needs (no death, custody or case) whose HR contribution
    # rows carry another name than the grid: found only because data quality
    # covers every row of every stream, including rows of no interest.
    dq = others[8]
    dq_other = dq.name[:-1] + ("斌" if dq.name[-1] != "斌" else "彬")
    c.wages(dq, {m: 310000 for m in months((2024, 9), (2024, 10))}, employer=EMPLOYERS[0], name=dq_other)
    c.expect("identity_conflict", "person:" + dq.id, 0, "high", [],
             note="data quality: HR contribution name differs, resident of no interest")
    special = {typo.id, badbirth.id, dq.id}

    # clean assistance cases from a few households (no wages, no vehicles, alive).
    by_hh = {}
    for p in noise:
        if p.id not in special:
            by_hh.setdefault(p.hh, []).append(p)
    hhs = sorted(by_hh)
    rng.shuffle(hhs)
    case_members = set()
    for hh in hhs[:10]:
        mem = by_hh[hh]
        region = mem[0].region
        f = D(rng.choice(["2023-03-01", "2023-11-15", "2024-01-01", "2024-04-10"]))
        t = rng.choice([E, E, D("2024-12-31")])
        fm = max(month_of(f), FIRST_MONTH)
        c.case(rng.choice(["低保", "低保", "特困"]), region,
               [(q, "本人" if i == 0 else rng.choice(["配偶", "子女", "父母"]), f, t, None)
                for i, q in enumerate(mem)],
               rng.randint(60, 150) * 1000, fm, month_of(t))
        case_members.update(q.id for q in mem)

    free = [p for p in noise if p.id not in case_members and p.id not in special]
    elderly = [p for p in free if p.birth <= dt.date(1963, 12, 31)]
    workers = [p for p in free if dt.date(1965, 1, 1) <= p.birth <= dt.date(2001, 12, 31)]
    # pensioners; some die and their pension stops in the month of death (silent).
    for i, p in enumerate(elderly):
        if i % 9 == 4:
            d = dt.date(2024, 2 + i % 10, 3 + i % 20)
            c.pensioner(p, last=month_of(d))
            c.psb_death(p, d.isoformat())
            if i % 2:
                c.cremation(p, d.isoformat())
            c.control("pension_after_death", "person:" + p.id, "pension stopped in the month of death")
        elif i % 7 != 3:
            c.pensioner(p)
        elif i < 40:
            c.psb_death(p, "2024-%02d-11" % (1 + i % 12))  # no pension: nothing to find
    # wages for most working-age residents.
    for p in workers:
        if rng.random() < 0.7:
            base = rng.randint(35, 150) * 10000
            c.wages(p, {m: base + (base // 20 if m >= (2025, 1) else 0) for m in ALL_MONTHS})
    # vehicles of ordinary residents (not assisted): noise for the assets rule.
    for p in rng.sample(workers, min(40, len(workers))):
        hpzl = rng.choice(["02", "02", "02", "01", "07", "08"])
        y = rng.randint(2012, 2024)
        c.vehicle(p.id, hpzl, "%04d-%02d-%02d" % (y, rng.randint(1, 12), rng.randint(1, 28)))
    # a vehicle whose owner id is malformed (too short): quarantined.
    ref = c.vehicle(workers[0].id[:16], "02", "2020-05-06")
    c.quarantine.append(dict(source="psb", ref=ref, reason_contains="15 or 18"))
    # a cremation with an impossible embedded birth date (Feb 30): quarantined.
    ghost = c.person(region="420503", born=(1930, 1940), role="ghost")
    bad_birth = ghost.id[:10] + "0230" + ghost.id[14:17]
    ref = c.cremation(ghost, "2024-06-06", id_form=bad_birth + check_char(bad_birth))
    c.quarantine.append(dict(source="civil", ref=ref, reason_contains="date"))
    # detention of a working-age resident: no pension, nothing to find.
    c.custody_rec(workers[1], "拘留", "20240910", "20240920")
    # other grid events the adapter must ignore.
    for p in rng.sample(free, 15):
        c.grid_report(p, "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28)),
                      sjlx=rng.choice(["矛盾纠纷", "安全隐患", "环境卫生", "特殊人群走访"]), ms="日常走访事项")


def plant_contract(c):
    """The forms of the adapter contract's second edition (docs/record-model.md):
    assistance paid to the household case (mz_ajff, no id), a contribution row
    under another name than the grid register's, and grid death reports with
    the birth date in each spelling grid workers type. Planted after everything
    else, so the rest of the city, and every other alert id and amount, stays
    exactly as it was."""
    S, E, END = dt.date(2024, 1, 1), dt.date(2025, 6, 30), LAST_MONTH

    # A case paid to the household (no id on the payments): a member dies, the
    # case is still paid. The rule reads the payments by case.
    R = "assistance_deceased_member"
    h, s = family(c, "420503", 2, born=(1940, 1960))
    aj = c.case("低保", "420503", [(h, "本人", S, None, None), (s, "配偶", S, None, None)], 112000,
                FIRST_MONTH, END, by_case=True)
    c.psb_death(s, "2024-10-08")
    per, tot = c.case_sum(aj, months((2024, 11), END))
    c.expect(R, "case:%s/person:%s" % (aj, s.id), tot, "high", per, note="paid to the case (no id), member died")

    # Hidden wages in a case paid to the household; the earner's contribution
    # rows carry another name than the grid register and the case: an
    # identity_conflict, and the case alert drops to medium.
    R = "assistance_hidden_income"
    h, w = family(c, "420502", 2)
    aj = c.case("低保", "420502", [(h, "本人", S, E, None), (w, "配偶", S, E, None)], 127000,
                FIRST_MONTH, END, by_case=True)
    other = w.name[:-1] + ("斌" if w.name[-1] != "斌" else "彬")
    c.wages(w, {m: 240000 for m in months((2024, 9), (2024, 11))}, name=other)
    per, tot = c.case_sum(aj, months((2024, 9), (2024, 11)))
    c.expect(R, "case:" + aj, tot, "medium", per, note="paid to the case; the earner's HR name differs")
    c.expect("identity_conflict", "person:" + w.id, 0, "high", [], note="HR contribution name differs from grid")

    # Grid death reports without an id, the birth date in each spelling: each
    # links by name + birth date (low) to a pensioner paid on after death.
    R = "pension_after_death"
    spellings = [lambda b: b.strftime("%Y-%m-%d"), lambda b: "%d年%d月%d日" % (b.year, b.month, b.day),
                 lambda b: b.strftime("%Y%m%d"), lambda b: "%d.%d.%d" % (b.year, b.month, b.day),
                 lambda b: "%d/%d/%d" % (b.year, b.month, b.day)]
    for i, spell in enumerate(spellings):
        p = c.person(born=(1935, 1958), role="pad")
        c.household_of(p); c.grid_row(p); c.pensioner(p)
        fsrq = "2025-%02d-%02d" % (1 + i, 10 + i)
        csrq = spell(p.birth)
        c.grid_report(p, fsrq, id_form="", csrq=csrq)
        per, tot = c.pension_sum(p, after=(2025, 1 + i))
        c.expect(R, "person:" + p.id, tot, "low", per, grid=p.grid,
                 note="id-less grid report, birth date written %s" % csrq.replace(str(p.birth.year), "yyyy"))
    # Only the year, "约1948年": the lenient date drops the field with a warning,
    # the report is kept but links nobody.
    p = c.person(born=(1935, 1958), role="pad")
    c.household_of(p); c.grid_row(p); c.pensioner(p)
    ref = c.grid_report(p, "2025-03-03", id_form="", csrq="约%d年" % p.birth.year)
    c.control(R, "person:" + p.id, "grid report with only an approximate birth year links nobody")
    c.warnings.append(dict(source="grid", contains="stream death_reports, record %s: field birth_date (column "
                           "csrq): not a date: '约%d年'; field dropped (lenient)" % (ref, p.birth.year)))


def generate(seed):
    c = City(seed)
    plant_pension_after_death(c)
    plant_custody(c)
    plant_assistance(c)
    plant_noise(c, 150)
    plant_contract(c)
    return c


# ---------------------------------------------------------------- writers

def sql_copy(table, cols, rows):
    out = ["COPY %s (%s) FROM stdin;" % (table, ", ".join(cols))]
    for r in rows:
        vals = []
        for col in cols:
            v = r[col]
            if v is None or v == "":
                vals.append("\\N")
            else:
                v = str(v)
                assert "\t" not in v and "\n" not in v and "\\" not in v, (table, col)
                vals.append(v)
        out.append("\t".join(vals))
    out.append("\\.")
    return "\n".join(out) + "\n"


def write_hr(c, path):
    ddl = """-- HR / social security (人社) demo database, generated by gen_city.py.
DROP TABLE IF EXISTS yl_ryxx, yl_ffmx, sb_jfjs, yl_ycyj;
CREATE TABLE yl_ryxx (            -- 养老金领取人员登记
  grbh  varchar(20) PRIMARY KEY,  -- 个人编号
  sfzhm varchar(18) NOT NULL,
  xm    varchar(50) NOT NULL,
  xb    char(1),                  -- 1 男 2 女
  csrq  date,
  ltxrq date,                     -- 退休日期
  zt    varchar(10) NOT NULL      -- 正常 / 暂停 / 终止 (终止 is not a death)
);
CREATE TABLE yl_ffmx (            -- 养老金发放明细
  lsh   bigint PRIMARY KEY,
  grbh  varchar(20) NOT NULL,
  sfzhm varchar(18) NOT NULL,
  xm    varchar(50),
  ffny  char(6) NOT NULL,         -- YYYYMM
  ffje  numeric(10,2) NOT NULL,   -- 元
  ffrq  date
);
CREATE TABLE sb_jfjs (            -- 社保缴费基数 (reveals wages)
  lsh   bigint PRIMARY KEY,
  sfzhm varchar(18) NOT NULL,
  xm    varchar(50),
  jfny  char(6) NOT NULL,
  jfjs  numeric(10,2) NOT NULL,
  dwmc  varchar(100)
);
CREATE TABLE yl_ycyj (            -- 异常预警 inbox, written by gridgate
  yjbh  varchar(40) PRIMARY KEY,  -- alert id
  sfzhm varchar(18),
  xm    varchar(50),
  yjlx  varchar(40) NOT NULL,     -- rule
  yjmc  varchar(40),              -- rule title
  zxd   varchar(4),               -- 高/中/低
  je    numeric(12,2),            -- 元
  qsny  char(6),                  -- first period YYYYMM
  zzny  char(6),                  -- last period YYYYMM
  sm    text,                     -- summary
  bb    integer,                  -- alert version
  zt    varchar(10) NOT NULL DEFAULT '待处理',
  cjsj  timestamptz NOT NULL DEFAULT now(),
  gxsj  timestamptz NOT NULL DEFAULT now()
);
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(ddl)
        f.write(sql_copy("yl_ryxx", ["grbh", "sfzhm", "xm", "xb", "csrq", "ltxrq", "zt"], c.ryxx))
        f.write(sql_copy("yl_ffmx", ["lsh", "grbh", "sfzhm", "xm", "ffny", "ffje", "ffrq"], c.ffmx))
        f.write(sql_copy("sb_jfjs", ["lsh", "sfzhm", "xm", "jfny", "jfjs", "dwmc"], c.jfjs))
        f.write("CREATE INDEX ON yl_ffmx (sfzhm);\nCREATE INDEX ON sb_jfjs (sfzhm);\n")


def write_grid(c, path):
    ddl = """-- Grid management (网格) demo database, generated by gen_city.py.
DROP TABLE IF EXISTS wg_jmxx, wg_sjsb, wg_hcrw, jd_fhjl;
CREATE TABLE wg_jmxx (            -- 居民信息, collected door to door
  jmbh  varchar(20) PRIMARY KEY,
  sfzhm varchar(40),              -- as typed: lowercase x, spaces, full-width, 15-digit
  xm    varchar(50),
  xb    char(1),                  -- 1 男 2 女
  csrq  char(8),                  -- YYYYMMDD
  qhdm  char(6),
  wgbm  varchar(20),
  hh    varchar(30),
  jzdz  varchar(200)
);
CREATE TABLE wg_sjsb (            -- 网格员事件上报
  sjbh  varchar(20) PRIMARY KEY,
  sjlx  varchar(20) NOT NULL,     -- 死亡 / 矛盾纠纷 / 安全隐患 / ...
  sfzhm varchar(40),
  xm    varchar(50),
  csrq  varchar(20),              -- as typed: YYYYMMDD, YYYY-MM-DD, YYYY年M月D日, YYYY.M.D, 约YYYY年
  fsrq  date,
  wgbm  varchar(20),
  ms    text,
  sbr   varchar(50)
);
CREATE TABLE wg_hcrw (            -- 核实任务, written by gridgate, answered by grid workers
  rwbh  varchar(40) PRIMARY KEY,  -- alert id
  wgbm  varchar(20) NOT NULL,     -- grid cell, 未分配 when unknown
  rwlx  varchar(40) NOT NULL,     -- rule title
  yjlx  varchar(40) NOT NULL,     -- rule
  zxd   varchar(4),               -- 高/中/低
  sfzhm varchar(18),
  xm    varchar(50),
  ajbh  varchar(30),
  nr    text NOT NULL,            -- task text (the explanation)
  bb    integer,
  zt    varchar(10) NOT NULL DEFAULT '待核实',
  jzsj  timestamptz,              -- verdict due (the alert's deadline, China time)
  hcjg  varchar(10),              -- NULL / 属实 / 不属实
  hcr   varchar(50),
  hcsj  timestamp,
  cjsj  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE jd_fhjl (            -- 街道复核登记: the street office's reviews (read by gridgate; no push)
  fhbh  varchar(20) PRIMARY KEY,
  yjbh  varchar(40) NOT NULL,     -- alert id
  fhjg  varchar(10) NOT NULL,     -- 属实 / 不属实
  fhr   varchar(50),
  fhsj  timestamp
);
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(ddl)
        f.write(sql_copy("wg_jmxx", ["jmbh", "sfzhm", "xm", "xb", "csrq", "qhdm", "wgbm", "hh", "jzdz"], c.jmxx))
        f.write(sql_copy("wg_sjsb", ["sjbh", "sjlx", "sfzhm", "xm", "csrq", "fsrq", "wgbm", "ms", "sbr"], c.sjsb))


def write_civil(c, path):
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.executescript("""
CREATE TABLE mz_dbaj (ajbh TEXT PRIMARY KEY, jzlb TEXT NOT NULL, qhdm TEXT, sqrq TEXT, zt TEXT);
CREATE TABLE mz_jtcy (cybh TEXT PRIMARY KEY, ajbh TEXT NOT NULL, sfzhm TEXT, xm TEXT, yhzgx TEXT,
                      nsrq TEXT, tcrq TEXT, qhdm TEXT);
CREATE TABLE mz_jzff (ffbh TEXT PRIMARY KEY, ajbh TEXT NOT NULL, sfzhm TEXT, ffny TEXT,
                      ffje DECIMAL(10,2));
CREATE TABLE mz_ajff (ffbh TEXT PRIMARY KEY, ajbh TEXT NOT NULL, ffny TEXT,  -- paid to the case, no id
                      ffje DECIMAL(10,2));
CREATE TABLE mz_hhdj (hhbh TEXT PRIMARY KEY, sfzhm TEXT, xm TEXT, swrq TEXT, hhrq TEXT, bygmc TEXT);
CREATE TABLE mz_yjxx (yjbh TEXT PRIMARY KEY, ajbh TEXT, sfzhm TEXT, yjlx TEXT NOT NULL, zxd TEXT,
                      je DECIMAL(12,2), qsny TEXT, zzny TEXT, sm TEXT, bb INTEGER,
                      zt TEXT NOT NULL DEFAULT '0',           -- 0 待处理 1 已核实 2 已排除
                      cjsj TEXT NOT NULL DEFAULT (datetime('now', 'localtime')));
""")
    chinese = {"jzlb", "xm", "yhzgx", "zt", "bygmc"}

    def put(table, cols, rows):
        ph = ", ".join("CAST(? AS TEXT)" if col in chinese else "?" for col in cols)
        sql = "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(cols), ph)
        for r in rows:
            db.execute(sql, [r[col].encode("gbk") if col in chinese else r[col] for col in cols])

    put("mz_dbaj", ["ajbh", "jzlb", "qhdm", "sqrq", "zt"], c.dbaj)
    put("mz_jtcy", ["cybh", "ajbh", "sfzhm", "xm", "yhzgx", "nsrq", "tcrq", "qhdm"], c.jtcy)
    put("mz_jzff", ["ffbh", "ajbh", "sfzhm", "ffny", "ffje"], c.jzff)
    put("mz_ajff", ["ffbh", "ajbh", "ffny", "ffje"], c.ajff)
    put("mz_hhdj", ["hhbh", "sfzhm", "xm", "swrq", "hhrq", "bygmc"], c.hhdj)
    db.commit()
    db.close()


def write_psb(c, out):
    with open(os.path.join(out, "psb.json"), "w", encoding="utf-8") as f:
        json.dump({"deaths": c.deaths, "vehicles": c.vehicles, "custody": c.custody}, f,
                  ensure_ascii=False, indent=1)
    tok = os.path.join(out, "psb.token")
    if os.path.exists(tok):
        os.unlink(tok)
    fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("demo-%016x\n" % c.rng.getrandbits(64))


def write_expected(c, path):
    exp = {"generated_by": "scripts/demo/gen_city.py",
           "alerts": sorted(c.alerts, key=lambda a: (a["rule"], a["subject"])),
           "controls": sorted(c.controls, key=lambda a: (a["rule"], a["subject"])),
           "quarantine": c.quarantine,
           "warnings": c.warnings,
           "counts": {"residents": len(c.jmxx), "pension_payments": len(c.ffmx),
                      "contribution_rows": len(c.jfjs), "cases": len(c.dbaj), "members": len(c.jtcy),
                      "case_payments": len(c.jzff), "case_payments_to_case": len(c.ajff),
                      "psb_deaths": len(c.deaths),
                      "vehicles": len(c.vehicles), "custody": len(c.custody)}}
    ids = [a["id"] for a in exp["alerts"]] + [a["id"] for a in exp["controls"]]
    if len(ids) != len(set(ids)):
        raise SystemExit("gen_city: an alert subject is both planted and a control (or twice)")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    c = generate(args.seed)
    write_hr(c, os.path.join(args.out, "hr.sql"))
    write_grid(c, os.path.join(args.out, "grid.sql"))
    write_civil(c, os.path.join(args.out, "civil.db"))
    write_psb(c, args.out)
    write_expected(c, os.path.join(args.out, "expected.json"))
    print("gen_city: %d residents, %d pensioners, %d cases, %d planted alerts, %d controls -> %s"
          % (len(c.jmxx), len(c.ryxx), len(c.dbaj), len(c.alerts), len(c.controls), args.out))


if __name__ == "__main__":
    sys.exit(main())

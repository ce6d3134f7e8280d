-- cremation_odbc.lua - worked example (b): a legacy GBK database through ODBC.
-- 民政火化登记 mz_hhdj: hhbh 火化编号, sfzhm 身份证号码, xm 姓名, xb 性别 (1/2),
-- csrq 出生日期 and swrq 死亡日期 as '20240312' text. The source sets
-- encoding = GBK, so every value arrives here as UTF-8.
-- One table, two streams: the deaths, and the persons with their sex.
-- Fixture: cremation_gbk.py. Try it: see adapters/README.md, "Worked examples".
return {
  streams = {
    cremations = {
      kind = "death",
      conn = "db",
      sql  = [[SELECT hhbh, sfzhm, xm, csrq, swrq FROM mz_hhdj ORDER BY hhbh]],
      key  = "hhbh",
      map  = {
        id_no      = "sfzhm",
        name       = "xm",
        birth_date = date "csrq",
        death_date = date "swrq",
        basis      = const "cremation",
      },
    },
    cremated_persons = {
      kind = "person",
      conn = "db",
      sql  = [[SELECT hhbh, sfzhm, xm, xb, csrq FROM mz_hhdj ORDER BY hhbh]],
      key  = "hhbh",
      map  = {
        id_no      = "sfzhm",
        name       = "xm",
        sex        = code("xb", { ["1"] = "M", ["2"] = "F" }),
        birth_date = date "csrq",
      },
    },
  },
}

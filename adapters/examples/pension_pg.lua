-- pension_pg.lua - worked example (a): pension payments from a PostgreSQL table.
-- 人社养老金发放明细 yl_ffmx: lsh 流水号, sfzhm 身份证号码, xm 姓名,
-- ffny 发放年月 '202403', ffje 发放金额 in yuan, ffrq 发放日期.
-- Fixture: pension_pg.sql. Try it: see adapters/README.md, "Worked examples".
return {
  streams = {
    pension_payments = {
      kind = "payment",
      conn = "db",
      sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx ORDER BY lsh]],
      key  = "lsh",
      map  = {
        id_no   = "sfzhm",
        name    = "xm",
        program = const "pension",
        period  = month "ffny",
        amount  = yuan "ffje",
        paid_on = date "ffrq",
        payer   = const "人社养老保险",
      },
    },
  },
}

-- adapters/hr_pension.lua - HR / social security (人社) system, PostgreSQL.
--
-- Reads:  yl_ffmx  pension payments (养老金发放明细): one row per person and month,
--                  ffny 'YYYYMM', ffje numeric yuan   -> payment (program pension)
--         sb_jfjs  contribution bases (社保缴费基数), which reveal wages:
--                  jfny 'YYYYMM', jfjs numeric yuan, xm the name HR holds
--                  (compared with the other sources' names) -> income (kind wage)
-- Not read: yl_ryxx, the pensioner register. Its zt '终止' (terminated) means the
--         payments stopped (moved away, lump sum, ...), not that the person died:
--         only death facts from authoritative sources say that.
-- Writes: yl_ycyj  the alert inbox (异常预警), one row per alert id (yjbh).
-- The two big reads have no ORDER BY: a full refresh does not need an order,
-- and sorting millions of rows is work the department's server is spared.
return {
  streams = {
    pension_payments = {
      kind = "payment",
      conn = "db",
      sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx]],
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
    contribution_bases = {
      kind = "income",
      conn = "db",
      sql  = [[SELECT lsh, sfzhm, xm, jfny, jfjs, dwmc FROM sb_jfjs]],
      key  = "lsh",
      map  = {
        id_no  = "sfzhm",
        name   = "xm",
        period = month "jfny",
        amount = yuan "jfjs",
        kind   = const "wage",
        payer  = "dwmc",
      },
    },
  },

  -- One row per alert id; a re-delivery of the same content changes nothing
  -- (the WHERE keeps gxsj), a new version of the alert updates the row.
  push = function(alert, conns)
    local conf = ({ high = "高", medium = "中", low = "低" })[alert.confidence] or alert.confidence
    local zt = ({ withdrawn = "已撤销", overdue = "逾期" })[alert.status] or "待处理"
    conns.db:send([[
      INSERT INTO yl_ycyj (yjbh, sfzhm, xm, yjlx, yjmc, zxd, je, qsny, zzny, sm, bb, zt)
      VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), $4, $5, $6, $7::numeric,
              NULLIF(replace($8, '-', ''), ''), NULLIF(replace($9, '-', ''), ''), $10, $11::integer, $12)
      ON CONFLICT (yjbh) DO UPDATE SET
        sfzhm = EXCLUDED.sfzhm, xm = EXCLUDED.xm, yjmc = EXCLUDED.yjmc, zxd = EXCLUDED.zxd,
        je = EXCLUDED.je, qsny = EXCLUDED.qsny, zzny = EXCLUDED.zzny, sm = EXCLUDED.sm,
        bb = EXCLUDED.bb, zt = EXCLUDED.zt, gxsj = now()
      WHERE yl_ycyj.bb IS DISTINCT FROM EXCLUDED.bb OR yl_ycyj.je IS DISTINCT FROM EXCLUDED.je
         OR yl_ycyj.sm IS DISTINCT FROM EXCLUDED.sm]],
      { alert.id, alert.id_no or "", alert.name or "", alert.rule, alert.rule_title, conf,
        alert.amount_yuan, alert.first_period or "", alert.last_period or "", alert.summary,
        tostring(alert.version), zt })
  end,
}

-- adapters/civil_affairs.lua - civil affairs (民政) assistance system: a legacy
-- SQLite database read through unixODBC (SQLite3 driver). Text columns hold GBK
-- bytes: the source sets `encoding = GBK` and the runtime converts to UTF-8, so
-- the code tables below are UTF-8. SQL text and parameters written back (push)
-- are converted to GBK the same way.
--
-- Reads:  mz_jtcy + mz_dbaj  case members (家庭成员) with the case's scheme
--                  jzlb 低保/特困, nsrq/tcrq 'YYYY/M/D' (tcrq empty = still
--                  enrolled), qhdm region                      -> assistance_member
--         mz_jzff + mz_dbaj  payments per case and month with the payee's id,
--                  ffny 'YYYY-MM', ffje yuan                   -> payment (dibao/tekun)
--         mz_ajff + mz_dbaj  payments made to the household case, no id
--                  (newer cases): payment with case, no id_no  -> payment (dibao/tekun)
--         mz_hhdj  cremation records (火化登记), swrq 'YYYYMMDD' -> death (cremation)
-- Writes: mz_yjxx  the alert inbox (预警信息), yjbh = alert id.
local scheme = { ["低保"] = "dibao", ["特困"] = "tekun" }

return {
  streams = {
    members = {
      kind = "assistance_member",
      conn = "db",
      sql  = [[SELECT m.cybh, m.ajbh, a.jzlb, m.sfzhm, m.xm, m.yhzgx, m.nsrq, m.tcrq, m.qhdm
               FROM mz_jtcy m JOIN mz_dbaj a ON a.ajbh = m.ajbh ORDER BY m.cybh]],
      key  = "cybh",
      map  = {
        case     = "ajbh",
        program  = code("jzlb", scheme),
        id_no    = "sfzhm",
        name     = "xm",
        relation = "yhzgx",
        from     = date "nsrq",
        to       = date "tcrq",
        region   = "qhdm",
      },
    },
    payments = {
      kind = "payment",
      conn = "db",
      sql  = [[SELECT f.ffbh, f.ajbh, a.jzlb, f.sfzhm, f.ffny, f.ffje
               FROM mz_jzff f JOIN mz_dbaj a ON a.ajbh = f.ajbh]],
      key  = "ffbh",
      map  = {
        case    = "ajbh",
        program = code("jzlb", scheme),
        id_no   = "sfzhm",
        period  = month "ffny",
        amount  = yuan "ffje",
        payer   = const "民政最低生活保障",
      },
    },
    -- Assistance is paid to the household: these rows name the case and no
    -- person, and the case rules read payments by case.
    case_payments = {
      kind = "payment",
      conn = "db",
      sql  = [[SELECT f.ffbh, f.ajbh, a.jzlb, f.ffny, f.ffje
               FROM mz_ajff f JOIN mz_dbaj a ON a.ajbh = f.ajbh ORDER BY f.ffbh]],
      key  = "ffbh",
      map  = {
        case    = "ajbh",
        program = code("jzlb", scheme),
        period  = month "ffny",
        amount  = yuan "ffje",
        payer   = const "民政最低生活保障",
      },
    },
    cremations = {
      kind = "death",
      conn = "db",
      sql  = [[SELECT hhbh, sfzhm, xm, swrq FROM mz_hhdj ORDER BY hhbh]],
      key  = "hhbh",
      map  = {
        id_no      = "sfzhm",
        name       = "xm",
        death_date = date "swrq",
        basis      = const "cremation",
      },
    },
  },

  -- Upsert on yjbh; the same version again leaves the row as it is.
  push = function(alert, conns)
    local conf = ({ high = "高", medium = "中", low = "低" })[alert.confidence] or alert.confidence
    -- zt: 0 待处理, 3 逾期未核实, 9 已撤销 (the evidence is gone)
    local zt = ({ withdrawn = "9", overdue = "3" })[alert.status] or "0"
    conns.db:send([[
      INSERT INTO mz_yjxx (yjbh, ajbh, sfzhm, yjlx, zxd, je, qsny, zzny, sm, bb, zt)
      VALUES (?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, CAST(? AS DECIMAL(12,2)), NULLIF(?, ''), NULLIF(?, ''), ?,
              CAST(? AS INTEGER), ?)
      ON CONFLICT (yjbh) DO UPDATE SET
        ajbh = excluded.ajbh, sfzhm = excluded.sfzhm, zxd = excluded.zxd, je = excluded.je,
        qsny = excluded.qsny, zzny = excluded.zzny, sm = excluded.sm, bb = excluded.bb, zt = excluded.zt
      WHERE mz_yjxx.bb IS NOT excluded.bb OR mz_yjxx.sm IS NOT excluded.sm]],
      { alert.id, alert.case or "", alert.id_no or "", alert.rule, conf, alert.amount_yuan,
        alert.first_period or "", alert.last_period or "", alert.summary, tostring(alert.version), zt })
  end,
}

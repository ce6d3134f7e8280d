-- adapters/grid.lua - grid management database (网格化管理平台), PostgreSQL.
--
-- Reads:  wg_jmxx  residents collected door to door (居民信息): ids as typed
--                  (lowercase x, spaces, full-width digits, 15-digit legacy
--                  numbers: the core normalizes them), xb '1'/'2',
--                  csrq 'YYYYMMDD', qhdm region, wgbm grid cell, hh household -> person
--         wg_sjsb  grid-worker event reports (事件上报); only sjlx '死亡' is
--                  read: a lead, not an authoritative death -> death (grid_report).
--                  csrq is typed by hand (19480305, 1948-03-05, 1948年3月5日,
--                  1948.3.5, sometimes only 约1948年): a birth date that does not
--                  parse is dropped with a warning, the report is kept
--         wg_hcrw  verification tasks answered on site: hcjg 属实/不属实
--                  -> verdict on the alert (rwbh is the alert id)
-- Writes: wg_hcrw  a verification task per alert in the person's grid cell
--                  (alert.grid; '未分配' when the gateway knows no cell),
--                  text = explanation, jzsj = alert.deadline (the verdict is
--                  due then; past it the gateway re-sends the task as 逾期).
return {
  streams = {
    residents = {
      kind = "person",
      conn = "db",
      sql  = [[SELECT jmbh, sfzhm, xm, xb, csrq, qhdm, wgbm, hh, jzdz FROM wg_jmxx]],
      key  = "jmbh",
      map  = {
        id_no      = "sfzhm",
        name       = "xm",
        sex        = code("xb", { ["1"] = "M", ["2"] = "F" }),
        birth_date = date "csrq",
        region     = "qhdm",
        grid       = "wgbm",
        household  = "hh",
        address    = "jzdz",
      },
    },
    death_reports = {
      kind = "death",
      conn = "db",
      sql  = [[SELECT sjbh, sfzhm, xm, csrq, fsrq FROM wg_sjsb WHERE sjlx = '死亡' ORDER BY sjbh]],
      key  = "sjbh",
      map  = {
        id_no      = "sfzhm",
        name       = "xm",
        birth_date = date { "csrq", lenient = true },
        death_date = date "fsrq",
        basis      = const "grid_report",
      },
    },
    verdicts = {
      kind = "verdict",
      conn = "db",
      sql  = [[SELECT rwbh, hcjg, hcr, to_char(hcsj, 'YYYY-MM-DD HH24:MI:SS') AS hcsj
               FROM wg_hcrw WHERE hcjg IS NOT NULL ORDER BY rwbh]],
      key  = "rwbh",
      map  = {
        alert   = "rwbh",
        verdict = code("hcjg", { ["属实"] = "confirmed", ["不属实"] = "dismissed" }),
        by      = "hcr",
        at      = "hcsj",
      },
    },
  },

  -- One task per alert id. Re-delivering the same version changes nothing; a new
  -- version (changed evidence) reopens the task for a fresh check on site.
  push = function(alert, conns)
    local cell = alert.grid
    if cell == nil or cell == "" then cell = "未分配" end
    local conf = ({ high = "高", medium = "中", low = "低" })[alert.confidence] or alert.confidence
    -- a withdrawn alert (its evidence is gone) closes the task; an overdue one is flagged
    local zt = ({ withdrawn = "已撤销", overdue = "逾期" })[alert.status] or "待核实"
    conns.db:send([[
      INSERT INTO wg_hcrw (rwbh, wgbm, rwlx, yjlx, zxd, sfzhm, xm, ajbh, nr, bb, zt, jzsj)
      VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), $9, $10::integer, $11,
              NULLIF($12, '')::timestamptz)
      ON CONFLICT (rwbh) DO UPDATE SET
        wgbm = EXCLUDED.wgbm, rwlx = EXCLUDED.rwlx, zxd = EXCLUDED.zxd, sfzhm = EXCLUDED.sfzhm,
        xm = EXCLUDED.xm, ajbh = EXCLUDED.ajbh, nr = EXCLUDED.nr, bb = EXCLUDED.bb,
        zt = EXCLUDED.zt, jzsj = EXCLUDED.jzsj, hcjg = NULL, hcr = NULL, hcsj = NULL
      WHERE wg_hcrw.bb IS DISTINCT FROM EXCLUDED.bb OR wg_hcrw.nr IS DISTINCT FROM EXCLUDED.nr]],
      { alert.id, cell, alert.rule_title, alert.rule, conf, alert.id_no or "", alert.name or "",
        alert.case or "", alert.explanation, tostring(alert.version), zt, alert.deadline or "" })
  end,
}

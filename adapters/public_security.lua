-- adapters/public_security.lua - public security (公安) data service, HTTP JSON
-- (scripts/demo/psb_server.py in the demo). Paged with ?page=N&size=M, items
-- under data.items, bearer token from the source's token_file.
--
-- Reads:  /api/v1/deaths    household deregistrations (户籍注销): swrq 'YYYYMMDD',
--                           hfbz '1' = registration restored   -> death (household_deregistration)
--         /api/v1/vehicles  motor vehicles (机动车): hpzl plate type (GA 24.7: 01 large,
--                           02 small car, 07/08 motorcycles; local code CJ = 残疾人专用车),
--                           syr owner id, djrq/zxrq registered/deregistered -> asset (vehicle)
--         /api/v1/custody   custody (羁押): lx 服刑/拘留, ksrq/jsrq   -> custody
-- Writes: POST /api/v1/notices  a notice per alert (idempotent on id).
local paged = { param = "page", start = 1, size_param = "size", size = 100 }

return {
  streams = {
    deaths = {
      kind  = "death",
      conn  = "api",
      get   = "/api/v1/deaths",
      items = "data.items",
      page  = paged,
      key   = "hzbh",
      map   = {
        id_no      = "gmsfhm",
        name       = "xm",
        birth_date = date "csrq",
        death_date = date "swrq",
        basis      = const "household_deregistration",
        revoked    = bool("hfbz", { "1" }),
      },
    },
    vehicles = {
      kind  = "asset",
      conn  = "api",
      get   = "/api/v1/vehicles",
      items = "data.items",
      page  = paged,
      key   = "xh",
      map   = {
        id_no       = "syr",
        kind        = const "vehicle",
        subkind     = code("hpzl", { ["01"] = "truck", ["02"] = "car", ["07"] = "motorcycle",
                                     ["08"] = "motorcycle", ["CJ"] = "disability_vehicle",
                                     default = "other" }),
        from        = date "djrq",
        to          = date "zxrq",
        description = "hphm",
      },
    },
    custody = {
      kind  = "custody",
      conn  = "api",
      get   = "/api/v1/custody",
      items = "data.items",
      page  = paged,
      key   = "jybh",
      map   = {
        id_no = "gmsfhm",
        name  = "xm",
        kind  = code("lx", { ["服刑"] = "imprisonment", ["拘留"] = "detention" }),
        from  = date "ksrq",
        to    = date "jsrq",
      },
    },
  },

  -- The service keeps one notice per id and ignores an identical repeat.
  push = function(alert, conns)
    local status, body = conns.api:post("/api/v1/notices", {
      id = alert.id, rule = alert.rule, title = alert.rule_title, confidence = alert.confidence,
      subject_id = alert.id_no, case = alert.case, version = alert.version,
      amount_yuan = alert.amount_yuan, summary = alert.summary,
      periods = (alert.periods and #alert.periods > 0) and alert.periods or nil, -- {} would encode as an object
      text = alert.explanation,
    })
    if status ~= 200 then
      error(string.format("notice %s refused: HTTP %s %s", alert.id, tostring(status),
                          type(body) == "table" and tostring(body.msg) or ""))
    end
  end,
}

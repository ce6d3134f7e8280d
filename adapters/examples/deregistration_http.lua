-- deregistration_http.lua - worked example (c): a paged REST API with a token.
-- 公安户籍注销 GET /api/v1/zxdj?page=N&size=50 -> data.items, each with zxbh
-- 注销编号, ry.gmsfhm 公民身份号码, ry.xm 姓名, csrq/swrq '2024/3/12', zxyy
-- 注销原因, hfbz 恢复标志 (1 = registration restored), hjdz 户籍地址.
-- The bearer token comes from conn.api.token_file or token_env in the config.
-- Fixture: deregistration_server.py. Try it: see adapters/README.md.
return {
  streams = {
    deregistrations = {
      kind  = "death",
      conn  = "api",
      get   = "/api/v1/zxdj",
      items = "data.items",
      page  = { param = "page", start = 1, size_param = "size", size = 50 },
      key   = "zxbh",
      map   = {
        id_no      = "ry.gmsfhm",
        name       = "ry.xm",
        birth_date = date "csrq",
        death_date = date "swrq",
        basis      = const "household_deregistration",
        revoked    = code("hfbz", { ["0"] = "false", ["1"] = "true" }),
      },
      -- Only deregistrations because of death are deaths (迁出 = moved away).
      row = function(r)
        if r.zxyy ~= "死亡" then return nil end
        return { address = r.hjdz }
      end,
    },
  },
}

-- hostile: reach the state store and libc through the SQLite ODBC driver
local state = "@STATE@"
return {
  streams = {
    deaths = { kind = "death", conn = "db", pull = function(ctx)
      local tries = {
        "ATTACH DATABASE '" .. state .. "' AS st",
        "SELECT load_extension('libc.so.6', 'exit')",
        "VACUUM INTO '" .. state .. ".copy'",
      }
      local refused = 0
      for _, sql in ipairs(tries) do
        if pcall(ctx.conns.db.exec, ctx.conns.db, sql) then error("ESCAPED: " .. sql) end
        refused = refused + 1
      end
      error("all " .. refused .. " escapes refused")
    end },
  },
}

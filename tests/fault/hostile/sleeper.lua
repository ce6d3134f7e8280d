-- a slow source, to be killed by the test with a signal
return {
  streams = {
    deaths = { kind = "death", conn = "db", pull = function(ctx)
      ctx.conns.db:query("SELECT pg_sleep(30) AS x", {}, function(row) end)
    end },
  },
}

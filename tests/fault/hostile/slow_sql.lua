-- hostile: a query that sleeps far beyond the source's deadline
return {
  streams = {
    deaths = { kind = "death", conn = "db", pull = function(ctx)
      ctx.conns.db:query("SELECT pg_sleep(3600) AS x", {}, function(row) end)
    end },
  },
}

-- hostile: an HTTP endpoint that accepts and never answers
return {
  streams = {
    deaths = { kind = "death", conn = "api", pull = function(ctx)
      ctx.conns.api:get("/never")
    end },
  },
}

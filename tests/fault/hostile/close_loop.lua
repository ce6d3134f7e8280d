-- hostile: a __close handler that loops after a coroutine.wrap error
return {
  streams = {
    deaths = { kind = "death", pull = function(ctx)
      local f = coroutine.wrap(function()
        local guard <close> = setmetatable({}, { __close = function() while true do end end })
        error("boom")
      end)
      f()
    end },
  },
}

-- hostile: a pathological pattern inside one string.find call
return {
  streams = {
    deaths = { kind = "death", pull = function(ctx)
      local s = string.rep("a", 200000)
      for _ = 1, 1000 do string.find(s, string.rep("a-", 40) .. "b") end
    end },
  },
}

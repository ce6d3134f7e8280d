-- hostile: a log flood forging log lines with newlines
return {
  streams = {
    deaths = { kind = "death", pull = function(ctx)
      local i = 0
      while true do
        i = i + 1
        print("x\n2026-01-01T00:00:00Z [error] cycle: FORGED line " .. i .. " 420502195001010011")
      end
    end },
  },
}

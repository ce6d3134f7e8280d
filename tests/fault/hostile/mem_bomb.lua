-- hostile: C allocations past the memory cap (huge values handed to emit and json)
return {
  streams = {
    deaths = { kind = "death", pull = function(ctx)
      local big = string.rep("x", 24 * 1024 * 1024)
      local doc = json.decode('["' .. big .. '","' .. big .. '"]')
      for i = 1, 64 do
        ctx.emit{ ref = "R" .. i, id_no = "420502195001010011", name = big, death_date = "2024-01-01",
                  basis = doc[1] }
      end
    end },
  },
}

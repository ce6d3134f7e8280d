-- adapters/street_review.lua - the street office's review register (街道复核登记),
-- a table in the grid database (PostgreSQL).
--
-- Reads:  jd_fhjl  reviews the street office records on alerts it was told
--                  about: fhjg 属实/不属实 -> verdict on the alert (yjbh).
-- Writes: nothing. The street office has no system to take tasks, so this
--         adapter has no push function: a [route] naming this source is
--         reported by `gridgate check` as a warning and skipped at delivery
--         (logged once per cycle), never queued as a delivery that cannot
--         succeed.
return {
  streams = {
    reviews = {
      kind = "verdict",
      conn = "db",
      sql  = [[SELECT fhbh, yjbh, fhjg, fhr, to_char(fhsj, 'YYYY-MM-DD HH24:MI:SS') AS fhsj
               FROM jd_fhjl ORDER BY fhbh]],
      key  = "fhbh",
      map  = {
        alert   = "yjbh",
        verdict = code("fhjg", { ["属实"] = "confirmed", ["不属实"] = "dismissed" }),
        by      = "fhr",
        at      = "fhsj",
      },
    },
  },
}

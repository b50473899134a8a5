-- wrk script: POST /api/v1/deploys with a bearer token, a new deploy each time.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/api/v1/deploys", nil,
    '{"app":"app0","env":"prod","version":"1.0.' .. n .. '","author":"bench"}')
end

-- wrk script: POST a fresh consent decision (new event_id every request).
-- Reads SITE_PATH, POLICY and BANNER from the environment.
local counter = 0
local site_path = os.getenv("SITE_PATH")
local policy = os.getenv("POLICY")
local banner = os.getenv("BANNER")
local template = '{"event_id":"%s","action":"custom","choices":{"analytics":true},'
  .. '"policy_version":"%s","banner_version":"%s","language":"en","source":"banner",'
  .. '"gpc":false,"url":"https://www.example.com/products"}'

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- thread_id is the global that setup() gave this thread's state (a `local` of the same name
-- here would hide it: every thread then made the same ids, and a third of the posts were
-- replays of another thread's decisions).
function init(args)
  thread_id = thread_id or 0
  math.randomseed(os.time() * 1000 + thread_id)
end

local function uuid()
  counter = counter + 1
  return string.format("%08x-%04x-4%03x-a%03x-%012x",
    math.random(0, 0x7fffffff), thread_id, math.random(0, 0xfff), math.random(0, 0xfff), counter)
end

request = function()
  local body = string.format(template, uuid(), policy, banner)
  return wrk.format("POST", site_path, {["Content-Type"] = "application/json"}, body)
end
